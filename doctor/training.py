"""Rows ``train.fp32`` / ``train.fp16`` (a training step of a tiny composite model) and ``split.GD``."""

from __future__ import annotations

import argparse
import math

import torch

from doctor.table import CheckFailed, Context, row

# The tiny street model: composite generator, ngf/ndf 8, one D, no VGG, OpenCV flow (no FlowNet2 weights).
TINY_TRAIN = ["--label_nc", "35", "--use_instance", "--fg", "--loadSize", "64", "--ngf", "8", "--ndf", "8",
              "--n_downsample_G", "2", "--n_blocks", "2", "--num_D", "1", "--n_frames_D", "2", "--no_vgg",
              "--flow_backend", "dis", "--n_frames_total", "4", "--max_frames_per_gpu", "2", "--nThreads", "0",
              "--no_flip", "--serial_batches", "--max_dataset_size", "1"]


def gpu_ids(ctx: Context, count: int = 1) -> str:
    """``--gpu_ids`` for the first ``count`` GPUs, or ``-1`` (CPU)."""
    return ",".join(str(i) for i in range(count)) if ctx.device.type == "cuda" else "-1"


def train_options(ctx: Context, *extra: str) -> argparse.Namespace:
    """Training options of the tiny model on the context's data and device."""
    from options import TrainOptions

    return TrainOptions().parse(["--dataroot", str(ctx.dataroot), "--checkpoints_dir", str(ctx.workdir / "ckpt"),
                                 "--name", "doctor_train", "--gpu_ids", gpu_ids(ctx), *TINY_TRAIN, *extra],
                                save=False)


def first_batch(opt: argparse.Namespace) -> dict:
    """The dataset's first sequence as a batch of one."""
    from data import create_dataset

    item = create_dataset(opt)[0]
    return {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in item.items()}


def snapshot(model) -> dict[str, torch.Tensor]:
    """Every network's parameters, copied."""
    return {f"{label}.{name}": p.detach().clone() for label, net in model.networks.items()
            for name, p in net.named_parameters()}


def changed_networks(before: dict[str, torch.Tensor], model) -> list[str]:
    """Labels of the networks whose parameters differ from ``before``."""
    after = snapshot(model)
    return sorted({key.split(".")[0] for key in before if not torch.equal(before[key], after[key])})


def train_steps(ctx: Context, steps: int, *extra: str) -> tuple[object, list[dict], list[str]]:
    """Build the tiny model, train ``steps`` sequence steps; the model, each step's losses, the changed networks.

    Raises:
        CheckFailed: a non-finite loss.
    """
    from models import create_model

    opt = train_options(ctx, *extra)
    torch.manual_seed(0)
    model = create_model(opt)
    batch, before, losses = first_batch(opt), snapshot(model), []
    for _ in range(steps):
        losses.append(dict(model.train_sequence(batch).losses))
        bad = {k: v for k, v in losses[-1].items() if not math.isfinite(float(v))}
        if bad:
            raise CheckFailed(f"non-finite losses {bad}")
    return model, losses, changed_networks(before, model)


def _loss_line(losses: dict) -> str:
    """The generator's losses first: ``G_GAN 0.912, G_Warp 0.031, ...`` (at most five)."""
    ordered = sorted(losses.items(), key=lambda kv: (not kv[0].startswith("G"), kv[0]))
    return ", ".join(f"{k} {float(v):.3f}" for k, v in ordered[:5])


@row("train.fp32", gpu=False)
def check_train_fp32(ctx: Context) -> str:
    """One float32 training step: finite losses, the generator and the discriminator changed."""
    model, losses, changed = train_steps(ctx, 1)
    if "G0" not in changed or "D" not in changed:
        raise CheckFailed(f"weights unchanged after a step (changed: {changed or 'none'})")
    return f"{model.device}, {ctx.dataroot.name}: {_loss_line(losses[-1])}; changed {', '.join(changed)}"


@row("train.fp16", gpu=True)
def check_train_fp16(ctx: Context) -> str:
    """Training steps with --fp16: finite losses, the GradScaler active, weights changed (a first step or two
    may be skipped by the scaler while it finds its scale)."""
    ctx.require_gpus()
    model, losses, changed = train_steps(ctx, 3, "--fp16")
    if not (model.use_fp16 and model.scaler.is_enabled()):
        raise CheckFailed("--fp16 on CUDA did not enable autocast and the GradScaler")
    if "G0" not in changed:
        raise CheckFailed(f"generator unchanged after 3 steps (scale {model.scaler.get_scale():g})")
    return f"scale {model.scaler.get_scale():g}; {_loss_line(losses[-1])}; changed {', '.join(changed)}"


@row("split.GD", gpu=True)
def check_split(ctx: Context) -> str:
    """Generator on cuda:0 and discriminators on cuda:1 (--n_gpus_gen 1) give the losses of one device."""
    from models import create_model

    ctx.require_gpus(2)
    opt = train_options(ctx, "--n_gpus_gen", "1")
    batch = first_batch(opt)
    results = []
    for devices in ([torch.device("cuda", 0)], [torch.device("cuda", 0), torch.device("cuda", 1)]):
        torch.manual_seed(0)
        model = create_model(opt, devices=devices)
        results.append(dict(model.train_sequence(batch).losses))
    worst = max(abs(float(results[0][k]) - float(results[1][k])) / max(1e-6, abs(float(results[0][k])))
                for k in results[0])
    if results[0].keys() != results[1].keys() or worst > 1e-3:
        raise CheckFailed(f"losses differ between one device and the split (largest relative {worst:.3g})")
    return f"G on cuda:0, D on cuda:1: same losses as one device (largest relative difference {worst:.2g})"
