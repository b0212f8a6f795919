"""Rows ``versions`` (torch, CUDA, cuDNN, Python) and ``devices`` (every GPU, its memory, a matmul on it)."""

from __future__ import annotations

import platform

import torch

from doctor.table import CheckFailed, Context, row


def environment() -> dict:
    """Versions and devices as a dict (the JSON table's ``environment``)."""
    cuda = torch.cuda.is_available()
    devices = [device_summary(i) for i in range(torch.cuda.device_count())] if cuda else []
    return {"python": platform.python_version(), "torch": torch.__version__, "cuda_build": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None, "devices": devices}


def device_summary(index: int) -> str:
    """``cuda:0 NVIDIA H200, 139.8 GiB, sm_90``."""
    props = torch.cuda.get_device_properties(index)
    return f"cuda:{index} {props.name}, {props.total_memory / 2**30:.1f} GiB, sm_{props.major}{props.minor}"


@row("versions", gpu=False)
def check_versions(ctx: Context) -> str:
    """torch, the CUDA it was built with, cuDNN, Python; the devices the run uses."""
    env = environment()
    cuda = f"CUDA {env['cuda_build']}" if env["cuda_build"] else "CPU-only build"
    cudnn = f", cuDNN {env['cudnn']}" if env["cudnn"] else ""
    gpus = f"{len(env['devices'])} GPU(s)" if env["devices"] else "no GPU visible"
    return f"torch {env['torch']} ({cuda}{cudnn}), Python {env['python']}, {gpus}"


@row("devices", gpu=True)
def check_devices(ctx: Context) -> str:
    """Every visible GPU: name, memory, compute capability; a float32 matmul on it agrees with the CPU."""
    ctx.require_gpus()
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 256, generator=generator), torch.randn(256, 256, generator=generator)
    expected = a.double() @ b.double()
    for index in range(ctx.gpu_count):
        device = torch.device("cuda", index)
        product = (a.to(device) @ b.to(device)).cpu().double()
        error = float((product - expected).abs().max())
        if error > 0.05:  # TF32 at most (~1e-3 relative of entries of size ~16)
            raise CheckFailed(f"cuda:{index} matmul differs from the CPU by {error:.3g}")
    free, total = torch.cuda.mem_get_info(0)
    return "; ".join(device_summary(i) for i in range(ctx.gpu_count)) + \
        f"; cuda:0 free {free / 2**30:.1f} of {total / 2**30:.1f} GiB"
