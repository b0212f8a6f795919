"""Compiled FlowNet2 operators checked against the pure-PyTorch ones: forward values and input gradients.

The reference of every comparison is the pure-PyTorch operator in float64 on the same inputs, so the check
measures the compiled kernel's error alone (no TF32, no half-precision arithmetic on the reference side).
:func:`verify_once` is what a process runs the first time it would use a compiled operator: a small random
input, forward and backward; beyond :data:`TOLERANCES` it warns once, naming the operator and the difference,
and the operator falls back to PyTorch for the rest of the run (:func:`models.networks.flow.ops._resolve`).
The doctor (``python -m doctor``) runs :func:`compare` at several sizes in float32 and float16.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from models.networks.flow import ops

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tolerance:
    """``|compiled - reference| <= atol + rtol * max|reference|`` elementwise, the maximum taken per tensor
    (gradients are sums over channels whose small elements carry the rounding of the large ones)."""

    atol: float
    rtol: float

    def __str__(self) -> str:
        return f"atol {self.atol:g} + rtol {self.rtol:g} x max|reference|"


# float32: the kernels accumulate in float32 (reference float64); float16 inputs run in float32 inside the
# kernels and only the result is rounded to half (relative step 2^-11 ~ 4.9e-4).
TOLERANCES = {torch.float32: Tolerance(atol=1e-4, rtol=1e-4), torch.float16: Tolerance(atol=2e-3, rtol=4e-3)}


@dataclass(frozen=True)
class Case:
    """One input configuration of an operator: the (B, C, H, W) shape and the operator's keyword arguments."""

    shape: tuple[int, int, int, int]
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.params.items())
        return "x".join(map(str, self.shape)) + extra


def _corr(pad: int, kernel: int, disp: int, s1: int, s2: int) -> dict:
    return dict(pad_size=pad, kernel_size=kernel, max_displacement=disp, stride1=s1, stride2=s2)


# The first case of each operator is the first-use check's small input; the last is the size FlowNet2 runs at.
CASES: dict[str, list[Case]] = {
    "Correlation": [Case((1, 4, 9, 11), _corr(3, 1, 3, 1, 1)), Case((2, 8, 13, 17), _corr(3, 1, 4, 2, 2)),
                    Case((2, 3, 10, 12), _corr(2, 3, 2, 1, 1)), Case((1, 256, 32, 64), _corr(20, 1, 20, 1, 2))],
    "Resample2d": [Case((1, 3, 8, 10)), Case((2, 3, 33, 47)), Case((1, 64, 96, 128))],
    "ChannelNorm": [Case((1, 2, 4, 5)), Case((2, 5, 6, 7)), Case((1, 64, 96, 128))],
}

PYTORCH: dict[str, Callable[..., Tensor]] = {
    "Correlation": ops.correlation_pytorch, "Resample2d": ops.resample2d_pytorch,
    "ChannelNorm": ops.channel_norm_pytorch,
}


def sample_inputs(op: str, case: Case, seed: int = 0) -> list[Tensor]:
    """Random float64 CPU inputs of ``op`` for ``case``, from a private generator (the global RNG is untouched).

    Resample2d's flow is off-integer (bilinear weights have kinks at whole pixels) and partly points outside.
    """
    generator = torch.Generator().manual_seed(seed)
    batch, channels, height, width = case.shape
    first = torch.randn(case.shape, generator=generator, dtype=torch.float64)
    if op == "Correlation":
        return [first, torch.randn(case.shape, generator=generator, dtype=torch.float64)]
    if op == "Resample2d":
        flow = torch.randn(batch, 2, height, width, generator=generator, dtype=torch.float64) * 4 + 0.31
        return [first, flow]
    return [first + 0.5]


@dataclass(frozen=True)
class Difference:
    """How far the compiled operator is from the reference: the largest absolute difference and the largest
    ratio of difference to allowed difference, over the output and every input gradient."""

    max_abs: float
    worst_ratio: float

    @property
    def ok(self) -> bool:
        return self.worst_ratio <= 1.0


def _values_and_grads(fn: Callable[..., Tensor], inputs: list[Tensor], params: dict, grad_seed: int,
                      grad_dtype: torch.dtype) -> list[Tensor]:
    """[output, grad of every input] of ``fn`` for a random output gradient, rounded to ``grad_dtype`` (so
    the reference and the tested operator see the same values)."""
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*leaves, **params)
    generator = torch.Generator().manual_seed(grad_seed)
    grad_out = torch.randn(out.shape, generator=generator, dtype=torch.float64).to(grad_dtype).to(out)
    return [out.detach(), *torch.autograd.grad(out, leaves, grad_out)]


def compare(op: str, compiled: Callable[..., Tensor], case: Case, *, device: torch.device,
            dtype: torch.dtype, seed: int = 0) -> Difference:
    """Run ``compiled`` (inputs in ``dtype`` on ``device``) and the float64 pure-PyTorch ``op`` on the same values.

    Args:
        op: "Correlation", "Resample2d" or "ChannelNorm".
        compiled: The implementation under test, called as the pure-PyTorch one (tensors, then keywords).
        case: Input shape and parameters.
        device: Where both run.
        dtype: Input dtype of ``compiled`` (float32 or float16); the reference sees the same rounded values.
        seed: Seed of the inputs and output gradient.

    Returns:
        The worst difference, judged with ``TOLERANCES[dtype]``.
    """
    inputs = [x.to(device=device, dtype=dtype) for x in sample_inputs(op, case, seed)]
    tolerance = TOLERANCES[dtype]
    with torch.enable_grad(), torch.autocast(device.type, enabled=False):
        tested = _values_and_grads(compiled, inputs, case.params, seed + 1, dtype)
        reference = _values_and_grads(PYTORCH[op], [x.double() for x in inputs], case.params, seed + 1, dtype)
    max_abs, worst = 0.0, 0.0
    for value, expected in zip(tested, reference):
        if value.shape != expected.shape:
            return Difference(max_abs=float("inf"), worst_ratio=float("inf"))
        diff = (value.double() - expected).abs()
        diff = torch.where(diff.isnan(), torch.full_like(diff, float("inf")), diff)
        allowed = tolerance.atol + tolerance.rtol * float(expected.abs().max())
        max_abs, worst = max(max_abs, float(diff.max())), max(worst, float((diff / allowed).max()))
    return Difference(max_abs=max_abs, worst_ratio=worst)


_verdicts: dict[tuple[str, str], bool] = {}


def verify_once(op: str, device: torch.device) -> bool:
    """Whether the compiled ``op`` may be used on ``device``; checked on its first call in this process.

    A difference beyond tolerance on a small random float32 input (forward and backward), or an error while
    running the kernel, logs one warning naming the operator and the difference; the verdict is kept, so the
    operator runs in pure PyTorch for the rest of the run.
    """
    key = (op, str(device))
    if key not in _verdicts:
        case = CASES[op][0]
        try:
            diff = compare(op, ops.COMPILED[op], case, device=device, dtype=torch.float32)
            problem = None if diff.ok else (f"differs from the pure-PyTorch operator by up to {diff.max_abs:.3g} "
                                            f"(tolerance {TOLERANCES[torch.float32]}) on a {case} input")
        except Exception as err:  # noqa: BLE001 - a kernel that fails on this GPU means "use the fallback"
            problem = f"failed on a {case} input ({type(err).__name__}: {str(err).splitlines()[0]})"
        if problem:
            logger.warning("compiled FlowNet2 %s on %s %s; using the pure-PyTorch %s for the rest of this run",
                           op, device, problem, op)
        _verdicts[key] = problem is None
    return _verdicts[key]


ops.first_use_check = verify_once
