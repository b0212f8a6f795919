"""The dataset error every data module raises for bad input (the message names each file and its fix).

Kept in its own module so that low-level modules (id conversions, frame checks) can raise it without importing the
checker that collects problems (:mod:`data.check`, which re-exports it).
"""


class DatasetError(ValueError):
    """The dataset has problems; the message lists every one with its path and fix."""
