"""Rows ``autocast.*`` (reduced-precision inference against float32), ``test.py*`` and ``onnx.*``."""

from __future__ import annotations

import argparse
import math
from importlib.util import find_spec
from pathlib import Path

import torch

from doctor.table import CheckFailed, Context, Skip, row
from doctor.training import gpu_ids

# The tiny street generator at 64x32; --no_first_img needs no single-frame generator or real test frames.
TINY_TEST = ["--label_nc", "35", "--use_instance", "--fg", "--ngf", "8", "--n_downsample_G", "2", "--n_blocks",
             "1", "--loadSize", "64", "--no_first_img", "--nThreads", "0", "--name", "doctor_test"]
# Mean PSNR over the sequence against float32 that each autocast dtype must reach (random weights; each frame
# is fed back, so the rounding accumulates).
MIN_PSNR_DB = {"bf16": 25.0, "fp16": 35.0}


def test_flags(ctx: Context, frames: int, *extra: str) -> list[str]:
    """test.py's flags for the tiny model on the context's data and device."""
    return ["--dataroot", str(ctx.dataroot), "--checkpoints_dir", str(ctx.workdir / "ckpt"), "--results_dir",
            str(ctx.workdir / "results"), "--how_many", str(frames), "--gpu_ids", gpu_ids(ctx), *TINY_TEST, *extra]


def test_options(flags: list[str]) -> argparse.Namespace:
    """Parsed test options; random generator weights in the official layout are written on first use."""
    from options import TestOptions
    from util.checkpoint import atomic_save, cpu_state_dict

    opt = TestOptions().parse(flags, save=False)
    folder = Path(opt.checkpoints_dir) / opt.name
    if not (folder / "latest_net_G0.pth").exists():
        from models.networks import define_G

        torch.manual_seed(0)
        for s, net in enumerate(define_G(opt).scales):
            atomic_save(cpu_state_dict(net), str(folder / f"latest_net_G{s}.pth"))
    return opt


def generate(ctx: Context, frames: int, autocast: str) -> list[torch.Tensor]:
    """The first ``frames`` generated frames (each (3, H, W) float32 in [-1, 1]) with ``--autocast``."""
    from data import create_test_loader
    from models import create_model

    opt = test_options(test_flags(ctx, frames, "--autocast", autocast))
    torch.manual_seed(0)
    generator = create_model(opt).make_inference()
    images = []
    for item in create_test_loader(opt):
        images += [frame.image.float().reshape(-1, *frame.image.shape[-3:])[0].cpu() for frame in generator.step(item)]
        if len(images) >= frames:
            break
    return images[:frames]


def psnr_db(image: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (inf when equal)."""
    mse = float(((image - reference) / 2).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def check_autocast(ctx: Context, dtype: str) -> str:
    """``--autocast dtype`` against float32 over a sequence: mean and first-frame PSNR."""
    frames = 6 if ctx.quick else 12
    reference, reduced = generate(ctx, frames, "none"), generate(ctx, frames, dtype)
    if len(reduced) != frames or len(reference) != frames:
        raise CheckFailed(f"generated {len(reduced)} / {len(reference)} frames, expected {frames}")
    scores = [psnr_db(a, b) for a, b in zip(reduced, reference)]
    mean = sum(min(s, 100.0) for s in scores) / len(scores)
    if not all(torch.isfinite(x).all() for x in reduced) or mean < MIN_PSNR_DB[dtype]:
        raise CheckFailed(f"mean PSNR {mean:.1f} dB against float32 over {frames} frames "
                          f"(needs >= {MIN_PSNR_DB[dtype]:g} dB)")
    return (f"{ctx.device}, {frames} frames: PSNR against float32 {scores[0]:.1f} dB first frame, "
            f"{mean:.1f} dB mean (needs >= {MIN_PSNR_DB[dtype]:g})")


@row("autocast.bf16", gpu=False)
def check_autocast_bf16(ctx: Context) -> str:
    """--autocast bf16 inference (CPU or GPU) against float32."""
    return check_autocast(ctx, "bf16")


@row("autocast.fp16", gpu=True)
def check_autocast_fp16(ctx: Context) -> str:
    """--autocast fp16 inference on CUDA against float32."""
    ctx.require_gpus()
    return check_autocast(ctx, "fp16")


def run_test_script(ctx: Context, *extra: str) -> str:
    """test.py on the tiny model; checks the frame count and the results page."""
    import test as test_script

    frames = 6 if ctx.quick else 12
    flags = test_flags(ctx, frames, *extra)
    test_options(flags)
    summary = test_script.main(flags + ["--no_video"])
    if summary["frames"] != frames or not Path(summary["page"]).is_file():
        raise CheckFailed(f"wrote {summary['frames']} frames (expected {frames}), page {summary['page']}")
    written = sorted(Path(summary["folder"]).rglob("fake_B_*.jpg"))
    if len(written) < frames:
        raise CheckFailed(f"{len(written)} frame files under {summary['folder']}, expected {frames}")
    return f"{ctx.device}: {frames} frames at {summary['fps']:.1f} frames/s, results page written"


@row("test.py", gpu=False)
def check_test_script(ctx: Context) -> str:
    """test.py generating every frame."""
    return run_test_script(ctx)


@row("test.py.keyframes", gpu=False)
def check_test_script_keyframes(ctx: Context) -> str:
    """test.py --keyframes published (Fast-Vid2Vid key frames, the others interpolated)."""
    return run_test_script(ctx, "--keyframes", "published", "--max_key_gap", "3")


def exported_step(ctx: Context):
    """(export module, generator step, ONNX path, CPU test options): the tiny generator, exported once per run."""
    missing = [name for name in ("onnx", "onnxruntime") if find_spec(name) is None]
    if missing:
        raise Skip(f"{' and '.join(missing)} not installed (pip install -e '.[export]')")
    from models.networks import generator_config
    from models.networks.export import GeneratorStep
    from models.networks.step_cost import step_inputs
    from scripts import export_onnx

    opt = test_options(test_flags(ctx, 1, "--gpu_ids", "-1"))
    step = GeneratorStep(export_onnx.load_generator(opt))
    path = ctx.workdir / "onnx" / "tiny.onnx"
    if not path.exists():
        example = step_inputs(generator_config(opt), opt.label_nc, 32, 64, "cpu")
        export_onnx.export(step, example, str(path), export_onnx.OPSET)
    return export_onnx, step, path, opt


def check_onnx(ctx: Context, provider: str, tolerance: float) -> str:
    """The exported tiny generator run by onnxruntime's ``provider`` against PyTorch (CPU) on fresh inputs."""
    from models.networks import generator_config
    from models.networks.step_cost import step_inputs

    export_onnx, step, path, opt = exported_step(ctx)
    import onnxruntime

    if provider not in onnxruntime.get_available_providers():
        raise Skip(f"onnxruntime {onnxruntime.__version__} has no {provider} (for CUDA: pip install onnxruntime-gpu)")
    labels, prev = step_inputs(generator_config(opt), opt.label_nc, 32, 64, "cpu")
    generator = torch.Generator().manual_seed(2)
    inputs = (labels.roll(1, dims=-1), torch.rand(prev.shape, generator=generator) * 2 - 1)
    diff = export_onnx.max_difference(str(path), step, inputs, provider=provider)
    if not diff <= tolerance:
        raise CheckFailed(f"onnxruntime ({provider}) differs from PyTorch by {diff:.3g} (allowed {tolerance:g})")
    return f"{provider}: max |diff| {diff:.2g} against PyTorch (allowed {tolerance:g})"


@row("onnx.cpu", gpu=False)
def check_onnx_cpu(ctx: Context) -> str:
    """ONNX export checked with onnxruntime's CPU provider."""
    return check_onnx(ctx, "CPUExecutionProvider", 1e-4)


@row("onnx.cuda", gpu=True)
def check_onnx_cuda(ctx: Context) -> str:
    """ONNX export checked with onnxruntime's CUDA provider (TF32 convolutions allowed: tolerance 1e-2)."""
    ctx.require_gpus()
    return check_onnx(ctx, "CUDAExecutionProvider", 1e-2)
