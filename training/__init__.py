"""The training session: ``Trainer`` (the epoch loop ``train.py`` runs for any model) and the padded,
seeded epoch sampler. Sits above ``models/`` and ``data/``; neither imports it."""
