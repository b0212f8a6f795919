"""What a computation costs: multiply-accumulates (MACs) counted by torch's flop counter, and wall time.

- :func:`count_macs` runs a function under ``torch.utils.flop_counter.FlopCounterMode``. Convolutions,
  transposed convolutions and matrix products are counted by torch (MACs = FLOPs / 2). The counter does not
  count the other ops; the ones that do arithmetic per output value are added from fixed formulas
  (:data:`ANALYTIC_MACS_PER_VALUE`): bilinear sampling (``grid_sample`` warps, bilinear resizes) 4 MACs
  per output value, elementwise arithmetic (the blends, residual sums, flow scaling) 1 MAC per output value.
  (Under the counter, torch decomposes a bilinear ``F.interpolate`` into elementwise ops, which are then
  counted as such: about 4.5 MACs per output value.)
  Normalisation, activations, padding and copies are not counted (as in the usual MAC counts of GAN
  compression papers). Inputs on the ``meta`` device count without computing anything.
- :func:`time_calls` times functions in turn (a, b, a, b, ...) after warm-up calls and gives the median,
  so load from other processes on a shared machine affects them alike.

Nothing here imports ``models`` or ``data``: benchmarks and scripts pass in what they want measured.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten

#: MACs per output value of the ops the flop counter leaves out, counted here (op -> MACs per value).
ANALYTIC_MACS_PER_VALUE: dict[Any, int] = {
    aten.grid_sampler_2d: 4,
    aten.upsample_bilinear2d: 4,
    **{op: 1 for op in (aten.mul, aten.mul_, aten.add, aten.add_, aten.sub, aten.sub_, aten.rsub, aten.div,
                        aten.div_)},
}


def _per_value(macs: int) -> Callable[..., int]:
    """A flop formula: ``2 * macs`` FLOPs per value of the op's output (the counter's unit is FLOPs)."""

    def formula(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return 2 * macs * math.prod(out_shape) if isinstance(out_shape, torch.Size) else 0

    return formula


def count_macs(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, dict[str, float]]:
    """MACs of one call ``fn(*args, **kwargs)`` (in ``torch.inference_mode``).

    Returns:
        ``(total, by_op)``: the total MACs and the MACs per aten op name (e.g. ``"aten.convolution"``,
        ``"aten.grid_sampler_2d"``); the ops of :data:`ANALYTIC_MACS_PER_VALUE` are the analytic part.
    """
    mapping = {op: _per_value(macs) for op, macs in ANALYTIC_MACS_PER_VALUE.items()}
    with torch.inference_mode(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn(*args, **kwargs)
    by_op = {str(op): flops / 2 for op, flops in counter.get_flop_counts().get("Global", {}).items()}
    return sum(by_op.values()), by_op


def analytic_part(by_op: dict[str, float]) -> float:
    """The MACs of ``by_op`` that come from :data:`ANALYTIC_MACS_PER_VALUE` rather than torch's own count."""
    names = {str(op) for op in ANALYTIC_MACS_PER_VALUE}
    return sum(macs for name, macs in by_op.items() if name in names)


@dataclass(frozen=True)
class Timing:
    """Wall times of repeated calls.

    Attributes:
        runs_ms: Each timed call in milliseconds (warm-up calls excluded).
    """

    runs_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """Median milliseconds per call."""
        return statistics.median(self.runs_ms)

    @property
    def fps(self) -> float:
        """Calls per second at the median time."""
        return 1e3 / self.median_ms


def time_calls(fns: Sequence[Callable[[], Any]], runs: int = 3, warmup: int = 1) -> list[Timing]:
    """Time each function ``runs`` times, in turn, after ``warmup`` untimed calls each (``torch.inference_mode``).

    Returns:
        One :class:`Timing` per function, in order.
    """
    times: list[list[float]] = [[] for _ in fns]
    with torch.inference_mode():
        for fn in fns:
            for _ in range(warmup):
                fn()
        for _ in range(runs):
            for fn, bucket in zip(fns, times):
                start = time.perf_counter()
                fn()
                bucket.append((time.perf_counter() - start) * 1e3)
    return [Timing(tuple(bucket)) for bucket in times]
