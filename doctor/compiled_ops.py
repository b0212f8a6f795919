"""Rows ``ops.*`` (the compiled FlowNet2 operators against the pure-PyTorch ones) and ``flownet2``."""

from __future__ import annotations

import time

import torch

from doctor.table import CheckFailed, Context, Skip, row
from models.networks.flow import cuda_ops, ops, ops_check

DTYPES = (torch.float32, torch.float16)


def require_compiled(ctx: Context) -> None:
    """Skip unless the compiled operators can run on the context's device (a GPU and a built extension)."""
    if ops.compiled_available(ctx.device):
        return
    ctx.require_gpus()
    raise Skip(f"compiled operators unavailable: {cuda_ops.load_error()}")


@row("ops.build", gpu=True)
def check_build(ctx: Context) -> str:
    """Build (or load the cached build of) the extension; the time it took."""
    ctx.require_gpus()
    home = cuda_ops.find_cuda_home()
    if home is None:
        raise Skip("no CUDA toolkit found (set CUDA_HOME to the folder holding bin/nvcc); FlowNet2 runs in "
                   "pure PyTorch")
    cached = (cuda_ops.build_directory() / f"{cuda_ops.EXTENSION_NAME}.so").exists()
    started = time.perf_counter()
    if cuda_ops.load_extension() is None:
        raise CheckFailed(f"build failed: {str(cuda_ops.load_error()).splitlines()[0]}")
    how = "loaded the cached build" if cached else "built"
    return f"{how} in {time.perf_counter() - started:.1f} s (CUDA_HOME {home}, {cuda_ops.build_directory()})"


def _tolerances() -> str:
    return "; ".join(f"{str(d).replace('torch.', '')}: {t}" for d, t in ops_check.TOLERANCES.items())


def check_operator(op: str, ctx: Context) -> str:
    """Forward and input gradients of the compiled ``op`` against float64 PyTorch, every size, float32 and float16.

    Raises:
        CheckFailed: listing every (dtype, size) beyond tolerance, with its largest difference.
    """
    require_compiled(ctx)
    cases = ops_check.CASES[op]
    cases = [cases[0], cases[-1]] if ctx.quick else cases
    failures, worst = [], 0.0
    for dtype in DTYPES:
        for case in cases:
            diff = ops_check.compare(op, ops.COMPILED[op], case, device=ctx.device, dtype=dtype)
            worst = max(worst, diff.worst_ratio)
            if not diff.ok:
                failures.append(f"{str(dtype).replace('torch.', '')} {case}: max |diff| {diff.max_abs:.3g}")
    if failures:
        raise CheckFailed(f"{op} beyond tolerance ({_tolerances()}): " + "; ".join(failures))
    return (f"{len(cases)} sizes x float32/float16, forward + backward, worst {100 * worst:.0f}% of the "
            f"tolerance ({_tolerances()})")


@row("ops.Correlation", gpu=True)
def check_correlation(ctx: Context) -> str:
    """The compiled Correlation against PyTorch."""
    return check_operator("Correlation", ctx)


@row("ops.Resample2d", gpu=True)
def check_resample2d(ctx: Context) -> str:
    """The compiled Resample2d against PyTorch."""
    return check_operator("Resample2d", ctx)


@row("ops.ChannelNorm", gpu=True)
def check_channel_norm(ctx: Context) -> str:
    """The compiled ChannelNorm against PyTorch."""
    return check_operator("ChannelNorm", ctx)


@row("ops.first_use", gpu=True)
def check_first_use(ctx: Context) -> str:
    """``impl="auto"`` takes every compiled operator after its first-use check (none fell back)."""
    require_compiled(ctx)
    probe = torch.zeros(1, 1, 1, 1, device=ctx.device)
    fallen = [op for op in ops_check.CASES if ops._resolve(op, "auto", probe) != "cuda"]
    if fallen:
        raise CheckFailed(f"the first-use check sent {', '.join(fallen)} to the pure-PyTorch fallback (see the "
                          "warning above)")
    return f"the first-use check passed {', '.join(ops_check.CASES)}; impl='auto' runs them compiled"


def _timed_flow(net: torch.nn.Module, images: tuple[torch.Tensor, torch.Tensor], repeats: int
                ) -> tuple[torch.Tensor, float]:
    """FlowNet2's flow for one pair and its milliseconds per pair (after one warm-up)."""
    with torch.no_grad():
        flow = net(*images)
        if images[0].is_cuda:
            torch.cuda.synchronize(images[0].device)
        started = time.perf_counter()
        for _ in range(repeats):
            net(*images)
        if images[0].is_cuda:
            torch.cuda.synchronize(images[0].device)
    return flow, 1000 * (time.perf_counter() - started) / repeats


@row("flownet2", gpu=True)
def check_flownet2(ctx: Context) -> str:
    """FlowNet2 (random weights) on one frame pair with the compiled operators and with PyTorch's."""
    from models.networks.flow.flownet2 import FlowNet2

    require_compiled(ctx)
    height, width = (128, 256) if ctx.quick else (256, 512)
    torch.manual_seed(0)
    net = FlowNet2(ops_impl="pytorch").to(ctx.device).eval()
    generator = torch.Generator().manual_seed(0)
    images = tuple(torch.rand(1, 3, height, width, generator=generator).mul(2).sub(1).to(ctx.device)
                   for _ in range(2))
    reference, torch_ms = _timed_flow(net, images, 3)
    net.set_ops_impl("cuda")
    compiled, compiled_ms = _timed_flow(net, images, 3)
    diff, scale = float((compiled - reference).abs().max()), float(reference.abs().max())
    if not diff <= 1e-3 + 1e-3 * scale:
        raise CheckFailed(f"flow differs by up to {diff:.3g} px (largest flow {scale:.3g} px; allowed "
                          f"1e-3 + 1e-3 x largest)")
    return (f"{width}x{height}: max |diff| {diff:.2g} px (largest flow {scale:.2g} px); {compiled_ms:.1f} ms per "
            f"pair compiled, {torch_ms:.1f} ms pure PyTorch")
