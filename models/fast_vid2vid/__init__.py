"""Fast-Vid2Vid's helpers behind ``models/skd_model.py`` and ``models/tkd_model.py``: spatial and temporal
distillation, key-frame selection, key-frame inference and interpolation."""
