"""I3D, the FID Inception and LPIPS: random weights saved in each published file format, loaded back by
models/networks/metric_networks.py and used by the evaluation (the API and the CLI); clear errors for missing or
wrong files."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from unittest import mock

import pytest
import torch
from PIL import ImageFilter

from data.evaluation_pairs import find_pairs
from models.networks import metric_networks as mn
from models.networks.i3d import InceptionI3d, same_padding
from scripts.evaluate import main
from tests.test_evaluate import city_frames, dis_scorers, write_real, write_results  # noqa: F401 - fixture
from util.checkpoint import CheckpointError
from util.evaluation import evaluate

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """Random-weight files in the published layouts: FID Inception, I3D (no num_batches_tracked, as the 2018
    file), a full LPIPS state dict, and the lpips package's linear-layers-only file."""
    folder = tmp_path_factory.mktemp("weights")
    files = {name: folder / name for name in ("inception.pth", "i3d.pt", "lpips.pth", "lpips_lin.pth")}
    torch.save(mn.fid_inception_network().state_dict(), files["inception.pth"])
    i3d = {k: v for k, v in InceptionI3d().state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(i3d, files["i3d.pt"])
    # LPIPS's trained linear weights are non-negative (clamped in training); random ones are made so too.
    lpips_state = {k: v.abs() if k.startswith("lin") else v for k, v in mn.lpips_network("alex").state_dict().items()}
    torch.save(lpips_state, files["lpips.pth"])
    torch.save({k: v for k, v in lpips_state.items() if k.startswith("lin") and not k.startswith("lins")},
               files["lpips_lin.pth"])
    return files


def test_i3d_has_the_pytorch_i3d_layout_and_output_sizes():
    net = InceptionI3d().eval()
    keys = net.state_dict().keys()
    for key in ("Conv3d_1a_7x7.conv3d.weight", "Conv3d_1a_7x7.bn.running_var", "Mixed_5c.b3b.conv3d.weight",
                "Mixed_4f.b1b.bn.bias", "logits.conv3d.weight", "logits.conv3d.bias"):
        assert key in keys
    assert net.Mixed_5c.b0.conv3d.out_channels + net.Mixed_5c.b3b.conv3d.out_channels == 384 + 128
    assert same_padding((16, 224, 224), (7, 7, 7), (2, 2, 2)) == (2, 3, 2, 3, 2, 3)
    assert same_padding((5, 7, 7), (3, 3, 3), (1, 1, 1)) == (1, 1, 1, 1, 1, 1)
    clip = torch.rand(2, 3, 4, 32, 32) * 2 - 1
    with torch.no_grad():
        assert net.mixed_5c(clip).shape == (2, 1024, 1, 1, 1)
        torch.testing.assert_close(net.features(clip), net.mixed_5c(clip).flatten(1))
        assert net.class_logits(clip).shape == (2, 400) and net(clip).shape == (2, 400)


def test_i3d_file_loads_strictly_and_wrong_files_are_named(weights):
    net = mn.load_i3d(str(weights["i3d.pt"]), CPU)
    assert not net.training and net.logits.conv3d.out_channels == 400
    with pytest.raises(CheckpointError, match=r"It is not rgb_imagenet.pt: download .*pytorch-i3d.*--i3d_weights"):
        mn.load_i3d(str(weights["lpips.pth"]), CPU)
    with pytest.raises(CheckpointError, match="file not found"):
        mn.load_i3d(str(weights["i3d.pt"]) + ".absent", CPU)


@pytest.fixture(scope="module")
def fid_features(weights) -> mn.InceptionPool3:
    return mn.load_fid_inception(str(weights["inception.pth"]), CPU)


def test_fid_features_equal_pytorch_fid(fid_features):
    from pytorch_fid import inception as fid

    bare = copy.deepcopy(fid_features.net)  # InceptionV3 reads its blocks, not the classifier
    with mock.patch.object(fid, "fid_inception_v3", lambda: bare):
        reference = fid.InceptionV3([3]).eval()
    images = torch.rand(2, 3, 48, 96)
    with torch.no_grad():
        torch.testing.assert_close(fid_features(images), reference(images)[0].flatten(1))


@pytest.fixture(scope="module")
def lpips_net(weights) -> torch.nn.Module:
    return mn.load_lpips(str(weights["lpips.pth"]), CPU)


def test_lpips_loads_offline_and_rejects_the_linear_only_file(weights, lpips_net, city_frames):  # noqa: F811
    from torchvision.transforms.functional import to_tensor

    image = city_frames[0][1]
    sharp, blurred = (to_tensor(im)[None] * 2 - 1 for im in (image, image.filter(ImageFilter.GaussianBlur(2))))
    with torch.no_grad():
        assert float(lpips_net(sharp, sharp)) == 0.0 and float(lpips_net(sharp, blurred)) > 0
    with pytest.raises(CheckpointError, match="only the linear layers.*alex trunk is missing.*--lpips_weights"):
        mn.load_lpips(str(weights["lpips_lin.pth"]), CPU)


def _blurred_sequence(tmp_path: Path, frames, count: int):
    results = write_results(tmp_path / "results", frames[:count], blur=1.0)
    return find_pairs(str(results), str(write_real(tmp_path / "real", frames[:count])))[0][0]


def test_fid_in_the_evaluation(tmp_path, fid_features, city_frames):  # noqa: F811
    evaluation = evaluate([_blurred_sequence(tmp_path, city_frames, 2)], dis_scorers(inception=fid_features))
    assert evaluation.set_scores["fid"] > 0 and "fid: 2 samples per side" in evaluation.notes


def test_fvd_and_fast_vid2vid_distance_in_the_evaluation(tmp_path, weights, city_frames):  # noqa: F811
    sequence = _blurred_sequence(tmp_path, city_frames, 3)
    second = dataclasses.replace(sequence, name="seq0000_again")
    scorers = dis_scorers(i3d=mn.load_i3d(str(weights["i3d.pt"]), CPU), clip_length=2, clip_size=32)
    evaluation = evaluate([sequence, second], scorers)
    assert set(evaluation.set_scores) == {"fvd", "i3d_feature_distance_fast_vid2vid"}
    assert all(value is not None and value > 0 for value in evaluation.set_scores.values())
    assert "fvd: 2 samples per side" in evaluation.notes  # one 2-frame clip per 3-frame sequence
    assert "i3d_feature_distance_fast_vid2vid: 2 samples per side" in evaluation.notes


def test_cli_with_weights_and_with_missing_or_wrong_ones(tmp_path, weights, city_frames, capsys):  # noqa: F811
    results = write_results(tmp_path / "results", city_frames, blur=1.0)
    flags = ["--results", str(results), "--real", str(write_real(tmp_path / "real", city_frames)), "--gpu_ids", "-1"]
    assert main(flags + ["--lpips_weights", str(weights["lpips.pth"])]) == 0
    assert json.loads((results / "metrics.json").read_text())["overall"]["lpips"] > 0
    capsys.readouterr()
    missing = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    assert main(flags + ["--inception_weights", str(missing), "--i3d_weights", str(weights["lpips.pth"]),
                         "--lpips_weights", str(weights["i3d.pt"])]) == 2
    captured = capsys.readouterr()
    assert "PSNR (dB)" in captured.out and "seq0000" in captured.out  # weights-free numbers still reported
    assert "warp err (real)" in captured.out and "LPIPS" not in captured.out
    assert f"error: FID Inception weights: file not found: {missing}" in captured.err
    assert "github.com/mseitzer/pytorch-fid/releases" in captured.err and "--inception_weights PATH" in captured.err
    assert "It is not rgb_imagenet.pt" in captured.err and "error: LPIPS weights" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads((results / "metrics.json").read_text())["frames"] == len(city_frames)
