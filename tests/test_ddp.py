"""Two CPU processes under torchrun (gloo): identical weights after a step, equal to averaging the gradients."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from models.vid2vid.criterion import total_losses
from models.vid2vid.temporal_groups import TemporalBuffers
from scripts.make_toy_dataset import make_toy_dataset
from tests.ddp_worker import batch_of, build

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _averaged_step(model, batches: list) -> None:
    """One process: per optimizer, the mean of the two sequences' gradients, then the step."""
    per_batch = []
    for batch in batches:
        label, real, inst = model._unpack(batch)
        chunk = model.generate_chunk(label, real, inst, None)
        frame, temporal, _, _ = model.chunk_losses(chunk, None, TemporalBuffers(), 0)
        loss_g, loss_d, loss_d_t = total_losses(frame, temporal, model.loss_weights)
        per_batch.append([loss_g, loss_d, *loss_d_t])
    optimizers = list(model.optimizers.values())  # G, D, then D_T0, D_T1, ...: the order of total_losses
    grads = []
    for k, optimizer in enumerate(optimizers[: len(per_batch[0])]):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        summed = None
        for losses in per_batch:
            g = torch.autograd.grad(losses[k], params, retain_graph=True, allow_unused=True)
            g = [torch.zeros_like(p) if x is None else x for p, x in zip(params, g)]
            summed = g if summed is None else [a + b for a, b in zip(summed, g)]
        grads.append((optimizer, params, [x / len(per_batch) for x in summed]))
    for optimizer, params, averaged in grads:
        for param, grad in zip(params, averaged):
            param.grad = grad
        optimizer.step()


def _torchrun(*args: str) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), str(WORKER), *args]
    subprocess.run(command, check=True, timeout=600, cwd=WORKER.parent.parent)


def _ranks_agree(out: Path) -> dict:
    rank0, rank1 = torch.load(out / "rank0.pt", weights_only=True), torch.load(out / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    return rank0


def _shorten(root: Path, sequence: str, n_frames: int) -> None:
    """Keep only the first ``n_frames`` frames of a training sequence (every modality)."""
    for folder in ("train_A", "train_B", "train_inst"):
        for frame in sorted((root / folder / sequence).iterdir())[n_frames:]:
            frame.unlink()


@pytest.mark.slow
def test_two_gloo_processes_match_gradient_averaging(tmp_path):
    root = tmp_path / "data"
    make_toy_dataset(root, n_seqs=2, n_frames=6, width=128, height=64, seed=3)
    out = tmp_path / "out"
    out.mkdir()
    _torchrun(str(root), str(out))
    rank0 = _ranks_agree(out)
    model, dataset = build(str(root))
    _averaged_step(model, [batch_of(dataset, 0), batch_of(dataset, 1)])
    for label, net in model.networks.items():
        for name, param in net.named_parameters():
            assert_close(param.detach(), rank0[f"{label}.{name}"], atol=1e-5, rtol=1e-4, msg=f"{label}.{name}")


@pytest.mark.slow
def test_three_sequences_of_different_lengths_keep_two_ranks_in_step(tmp_path):
    """3 sequences over 2 ranks (one rank gets a padded repeat) of 4, 6 and 9 frames: both ranks run the same
    steps and chunks, finish, and hold equal weights."""
    root = tmp_path / "data"
    make_toy_dataset(root, n_seqs=3, n_frames=9, width=128, height=64, seed=5)
    _shorten(root, "seq0000", 4)
    _shorten(root, "seq0001", 6)
    out = tmp_path / "out"
    out.mkdir()
    _torchrun(str(root), str(out), "train", "--max_dataset_size", "3", "--niter", "2", "--niter_decay", "0",
              "--max_frames_per_gpu", "2", "--n_frames_total", "8", "--checkpoints_dir", str(tmp_path / "ckpt"),
              "--name", "ddp3", "--seed", "0")
    _ranks_agree(out)
    assert (tmp_path / "ckpt" / "ddp3" / "iter.txt").read_text().split() == ["3", "0"]
