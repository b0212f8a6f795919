"""Every row of the table, in the order they run: importing the topic modules registers their rows."""

from importlib import import_module

# The order of the table: what is installed, then the compiled operators, training, inference, distributed.
TOPICS = ("environment", "compiled_ops", "training", "inference", "distributed")

for _topic in TOPICS:
    import_module(f"doctor.{_topic}")
