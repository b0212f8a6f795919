"""A lower bound of the memory one frame needs, checked against the machine's RAM before any work starts.

The bound counts only what a single generator step cannot avoid holding in float32: the ``--n_frames_G``
input frames (one-hot labels, instance edges or images), the ``--n_frames_G - 1`` previous RGB frames fed back,
and one feature map of the finest generator scale. Real use needs several times more, so a refusal is certain
to be right: legitimate settings (2048x1024 Cityscapes) need about 1-2 GiB by this bound.
"""

from __future__ import annotations

import argparse
import os
from typing import Optional

GIB = 1 << 30


def total_memory_bytes() -> Optional[int]:
    """Physical memory of this machine in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def input_channels_per_frame(opt: argparse.Namespace) -> int:
    """Channels of one input frame: one-hot labels (+1 instance edge map) or ``--input_nc`` image channels."""
    if opt.label_nc > 0:
        return opt.label_nc + (1 if opt.use_instance else 0)
    return max(1, opt.input_nc)


def frame_bytes(width: int, height: int, opt: argparse.Namespace) -> int:
    """Lower bound of the bytes one ``width`` x ``height`` generator step holds (see the module docstring)."""
    n_frames = max(1, opt.n_frames_G)
    finest_ngf = max(1, opt.ngf // 2 ** max(0, opt.n_scales_spatial - 1))
    channels = n_frames * input_channels_per_frame(opt) + (n_frames - 1) * 3 + finest_ngf
    return 4 * channels * max(0, width) * max(0, height)


def frame_memory_problem(width: int, height: int, opt: argparse.Namespace) -> Optional[str]:
    """Why a ``width`` x ``height`` frame cannot fit this machine's memory, or None when it may."""
    total = total_memory_bytes()
    need = frame_bytes(width, height, opt)
    if total is None or need <= total:
        return None
    return (f"one {width}x{height} frame needs at least {need / GIB:.1f} GiB (float32 inputs of --n_frames_G "
            f"{opt.n_frames_G} frames and one generator feature map), more than this machine's "
            f"{total / GIB:.1f} GiB of memory")
