"""scripts/export_onnx.py: the generator step of a checkpoint as ONNX, run by onnxruntime, equals what test.py
computes (BatchNorm with the input's statistics, both label-stem paths) within 1e-4; clean errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from models.networks import define_G
from models.networks.export import InputStatisticsNorm, with_input_statistics
from models.networks.input_encoding import encode_input, one_hot_input
from models.networks.video_generator import InferenceState, inference_step
from options import TestOptions
from util.checkpoint import atomic_save, cpu_state_dict
from util.cli import run

REPO = Path(__file__).resolve().parent.parent
BASE = ["--label_nc", "35", "--use_instance", "--fg", "--ngf", "8", "--n_downsample_G", "2", "--n_blocks", "2",
        "--gpu_ids", "-1", "--loadSize", "64"]
GENERATORS = {"student": ["--netG", "sr_mobile_composite", "--student"],
              "composite_2_scales": ["--n_scales_spatial", "2"]}
H, W = 32, 64


def _script():
    spec = importlib.util.spec_from_file_location("export_onnx", REPO / "scripts" / "export_onnx.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _checkpoint(root: Path, flags: list[str]) -> torch.nn.Module:
    """Random weights saved as ``root/tiny/latest_net_G<s>.pth``; the generator, norm layers in training mode."""
    opt = TestOptions().parse(flags + ["--name", "tiny", "--checkpoints_dir", str(root)], save=False)
    torch.manual_seed(0)
    generator = define_G(opt)
    for s, net in enumerate(generator.scales):
        atomic_save(cpu_state_dict(net), str(root / "tiny" / f"latest_net_G{s}.pth"))
    return generator.train()


def _street_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Label ids (1, 3, 1, H, W) with a foreground class, instance ids and previous frames (1, 2, 3, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 35, (1, 3, 1, H // 8, W // 8), generator=gen)
    ids = ids.repeat_interleave(8, -2).repeat_interleave(8, -1)
    ids[..., :8, :16] = 26  # --fg_labels 26
    inst = ids * 1000 + torch.randint(0, 2, ids.shape, generator=gen)
    prev = torch.rand(1, 2, 3, H, W, generator=gen) * 2 - 1
    return ids, inst, prev


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_onnxruntime_matches_test_time_generation(tmp_path, capsys, kind):
    flags = BASE + GENERATORS[kind]
    generator = _checkpoint(tmp_path, flags)
    out = tmp_path / "step.onnx"
    argv = ["--name", "tiny", "--checkpoints_dir", str(tmp_path), "--out", str(out), "--width", str(W),
            "--height", str(H), *flags]
    code = run(_script().main, argv, returns_code=True)
    assert code == 0, capsys.readouterr().err
    assert "max abs difference" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for seed in (1, 2):  # inputs other than the traced example
        ids, inst, prev = _street_inputs(seed)
        labels = encode_input(ids.float(), inst.float(), 35)
        ours = session.run(["image"], {"labels": labels.numpy(), "prev_frames": prev.numpy()})[0]
        with torch.no_grad():
            conv = inference_step(generator, InferenceState(), labels, first_frames=prev)[-1].image
            sparse = inference_step(generator, InferenceState(), labels, first_frames=prev,
                                    onehot=one_hot_input(ids, inst.float(), 35))[-1].image
        assert ours.shape == (1, 3, H, W)
        assert np.abs(ours - conv.numpy()).max() <= 1e-4
        assert np.abs(ours - sparse.numpy()).max() <= 1e-4  # test.py's path on the CPU


def test_norm_layers_in_training_mode_use_the_input_statistics():
    norm = torch.nn.BatchNorm2d(4).train()
    torch.nn.init.normal_(norm.weight)
    norm.running_mean.fill_(5.0)  # would change the result if the export used running averages
    x = torch.randn(1, 4, 6, 7) * 3 + 1
    twin = with_input_statistics(torch.nn.Sequential(norm))
    assert isinstance(twin[0], InputStatisticsNorm)
    torch.testing.assert_close(twin(x), norm(x))
    kept = with_input_statistics(torch.nn.Sequential(torch.nn.BatchNorm2d(4).eval()))
    assert isinstance(kept[0], torch.nn.BatchNorm2d)  # eval-mode layers use their running averages as before


def test_missing_onnx_is_one_error(tmp_path, capsys, monkeypatch):
    script = _script()
    monkeypatch.setattr(script, "find_spec", lambda name: None if name == "onnx" else object())
    code = run(script.main, ["--name", "tiny", "--checkpoints_dir", str(tmp_path), *BASE], returns_code=True)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "onnx" in err and ".[export]" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("flags,named", [(["--width", "70"], "--width"), ([], "latest_net_G0.pth")])
def test_bad_size_or_missing_checkpoint_is_one_error(tmp_path, capsys, flags, named):
    argv = ["--name", "absent", "--checkpoints_dir", str(tmp_path), *BASE, *flags]
    code = run(_script().main, argv, returns_code=True)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and named in err and "Traceback" not in err


def test_export_uses_the_torch_export_based_exporter(tmp_path, capsys, monkeypatch):
    """The TorchScript exporter (``dynamo=False``) is deprecated: the script exports through ``torch.export``."""
    calls = []
    original = torch.onnx.export

    def spy(*args, **kwargs):
        calls.append(kwargs.get("dynamo"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", spy)
    flags = BASE + GENERATORS["student"]
    _checkpoint(tmp_path, flags)
    argv = ["--name", "tiny", "--checkpoints_dir", str(tmp_path), "--out", str(tmp_path / "s.onnx"),
            "--width", str(W), "--height", str(H), "--no_check", *flags]
    assert run(_script().main, argv, returns_code=True) == 0, capsys.readouterr().err
    assert calls == [True]
