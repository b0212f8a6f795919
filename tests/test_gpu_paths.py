"""Every CUDA path on a real GPU (``pytest -m gpu``; skipped without one): the doctor's GPU rows, the compiled
operators' first-use check, fp16 training through train.py, --autocast fp16 through test.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from doctor import rows  # noqa: F401 - registers every row
from doctor.table import OK, ROWS, SKIP, make_context, run_row

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
GPU_ROWS = [name for name, entry in ROWS.items() if entry.gpu]
TWO_GPU_ROWS = {"split.GD"}


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    return make_context(quick=True, workdir=tmp_path_factory.mktemp("doctor"))


@pytest.mark.parametrize("name", GPU_ROWS + ["train.fp32", "autocast.bf16", "test.py", "test.py.keyframes",
                                             "dist.gloo"])
def test_doctor_row_passes_on_the_gpu(context, name):
    if name in TWO_GPU_ROWS and context.gpu_count < 2:
        pytest.skip(f"{name} needs two GPUs, found {context.gpu_count}")
    outcome = run_row(ROWS[name], context)
    if outcome.status == SKIP and ("onnxruntime" in outcome.detail or "toolkit" in outcome.detail):
        pytest.skip(outcome.detail)  # optional: onnxruntime-gpu, the CUDA toolkit
    assert outcome.status == OK, f"{outcome}\n{outcome.output_tail}"


def test_first_use_check_trusts_the_compiled_operators(caplog):
    from models.networks.flow import cuda_ops, ops, ops_check

    if cuda_ops.load_extension() is None:
        pytest.skip(f"compiled operators unavailable: {cuda_ops.load_error()}")
    device = torch.device("cuda", 0)
    with caplog.at_level(logging.WARNING, logger="models.networks.flow.ops_check"):
        for op in ops_check.CASES:
            assert ops_check.verify_once(op, device), op
            assert ops._resolve(op, "auto", torch.zeros(1, device=device)) == "cuda"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_fp16_training_through_train_py(tmp_path):
    import train
    from scripts.make_toy_dataset import make_toy_dataset
    from tests.test_train import TINY

    root = make_toy_dataset(tmp_path / "toy", n_seqs=2, n_frames=8, width=128, height=64, seed=0)
    flags = [f if f != "-1" else "0" for f in TINY]  # --gpu_ids 0
    train.main(["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", "fp16", *flags,
                "--fp16", "--niter", "1", "--niter_decay", "0"])
    log = (tmp_path / "ckpt" / "fp16" / "loss_log.txt").read_text().lower()
    assert "g_gan" in log and "nan" not in log and "inf" not in log
    assert (tmp_path / "ckpt" / "fp16" / "latest_net_G0.pth").stat().st_size > 0


def test_autocast_fp16_through_test_py(tmp_path):
    import test as test_script
    from doctor.inference import test_flags, test_options

    context = make_context(quick=True, workdir=tmp_path)
    flags = test_flags(context, 4, "--autocast", "fp16")
    test_options(flags)
    summary = test_script.main(flags + ["--no_video"])
    assert summary["frames"] == 4
    assert all(f.stat().st_size > 0 for f in Path(summary["folder"]).rglob("fake_B_*.jpg"))

