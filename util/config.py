"""Derived configurations: a copy of the parsed options with some values changed, the original untouched.

Options are read-only once parsed (STYLE.md section 4); where a piece needs the same options with one value
changed (a teacher built without ``--student``, the single-frame generator at its own size, a dataset without
flips) it asks for a derived copy::

    teacher_opt = derive(opt, student=False)
"""

from __future__ import annotations

import argparse


def derive(opt: argparse.Namespace, **changes: object) -> argparse.Namespace:
    """A copy of ``opt`` with ``changes`` applied.

    Args:
        opt: Parsed options (not modified).
        **changes: Option name -> new value; every name must already be an option.

    Raises:
        AttributeError: a name is not an option of ``opt`` (a typo would otherwise pass silently).
    """
    unknown = sorted(name for name in changes if not hasattr(opt, name))
    if unknown:
        raise AttributeError(f"derive: no option named {', '.join(unknown)}")
    return argparse.Namespace(**{**vars(opt), **changes})
