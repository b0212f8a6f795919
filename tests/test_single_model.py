"""``--model single``: the pix2pixHD first-frame generator trains, tests, and loads into ``--use_single_G``.

Runs use narrow generators (``--single_G_ngf 8 --single_G_n_downsample 2``, passed to ``--use_single_G`` too) at
64x32; the default widths are checked against the released layouts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DATASETS, REFERENCE, REPO, make_opt, require

import test as test_script
import train
from models import create_model
from models.networks import define_G, define_single_G
from options import TestOptions
from util.checkpoint import atomic_save, cpu_state_dict
from util.safe_pickle import load_numpy_pickle

NARROW = ["--single_G_ngf", "8", "--single_G_n_downsample", "2"]
COMMON = ["--gpu_ids", "-1", "--nThreads", "0", "--n_blocks", "1", "--loadSize", "64", *NARROW]
STREET = COMMON + ["--model", "single", "--label_nc", "35", "--single_G_size", "512"]
FACE = COMMON + ["--model", "single", "--dataset_mode", "face", "--input_nc", "15"]
TRAIN = ["--no_vgg", "--ndf", "16", "--seed", "0", "--print_freq", "1"]
# vid2vid with random weights: the single-frame generator is the only trained network it reads
VID2VID = ["--ngf", "8", "--n_downsample_G", "2", "--gpu_ids", "-1", "--nThreads", "0", "--n_blocks", "1",
           "--loadSize", "64", *NARROW]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convolutions gain nothing from a second thread; on a busy machine its spinning costs up to 10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _save_random_vid2vid(ckpt: Path, name: str, flags: list[str]) -> None:
    """Random vid2vid generator checkpoints in the official file layout."""
    opt = TestOptions().parse(flags + ["--name", name, "--checkpoints_dir", str(ckpt)], save=False)
    for s, net in enumerate(define_G(opt).scales):
        atomic_save(cpu_state_dict(net), str(ckpt / name / f"latest_net_G{s}.pth"))


def _fake_frames(summary: dict) -> list[Path]:
    return sorted(Path(summary["folder"]).rglob("fake_B_*.jpg"))


def test_street_trains_tests_and_feeds_use_single_g(cityscapes_root, tmp_path):
    ckpt = tmp_path / "ckpt"
    run = ["--dataroot", str(cityscapes_root), "--checkpoints_dir", str(ckpt), "--name", "city_single"]
    train.main(run + STREET + TRAIN + ["--niter", "1", "--niter_decay", "1", "--max_dataset_size", "2"])
    folder = ckpt / "city_single"
    for name in ("latest_net_G_512.pth", "latest_net_D.pth", "2_net_G_512.pth", "latest_train_state.pth"):
        assert (folder / name).is_file(), name
    assert (folder / "iter.txt").read_text().split() == ["3", "0"]
    saved = torch.load(folder / "latest_train_state.pth", map_location="cpu", weights_only=True)
    assert saved["model"]["lr"] == 0.0 and "optimizer_G" in saved["model"]  # linear decay to 0 after epoch 2
    state = torch.load(folder / "latest_net_G_512.pth", map_location="cpu", weights_only=True)
    assert state["model.1.weight"].shape == (8, 35, 7, 7)  # label_nc one-hot channels only, as released

    summary = test_script.main(run + STREET + ["--results_dir", str(tmp_path / "res"), "--how_many", "3"])
    assert summary["frames"] == 3 and len(_fake_frames(summary)) == 3  # every frame, the first ones included

    flags = VID2VID + ["--label_nc", "35", "--use_instance", "--fg", "--single_G_size", "512"]
    _save_random_vid2vid(ckpt, "vid", flags)
    summary = test_script.main(["--dataroot", str(cityscapes_root), "--checkpoints_dir", str(ckpt), "--name", "vid",
                                "--results_dir", str(tmp_path / "res"), *flags, "--use_single_G",
                                "--how_many", "3", "--single_G_dir", str(folder)])
    assert summary["frames"] == 3


def test_street_loss_falls_on_one_sequence(cityscapes_root, tmp_path):
    opt = make_opt(STREET + TRAIN + ["--dataroot", str(cityscapes_root), "--max_dataset_size", "1", "--lr", "0.0004"])
    torch.manual_seed(0)
    from data import create_dataset

    model, dataset = create_model(opt), create_dataset(opt)
    dataset.set_clip_length(model.frames_per_clip(dataset.longest_sequence()))
    feat, l1 = [], []
    for _ in range(20):
        sample = dataset[0]
        batch = {k: v.unsqueeze(0) for k, v in sample.items() if isinstance(v, torch.Tensor)}
        result = model.train_sequence(batch)
        feat.append(result.losses["G_GAN_Feat"])
        l1.append(float((result.visuals["fake_image"] - result.visuals["real_image"]).abs().mean()))
    assert np.mean(feat[-5:]) < 0.8 * np.mean(feat[:5]), feat
    assert np.mean(l1[-5:]) < 0.8 * np.mean(l1[:5]), l1


def test_local_enhancer_trains_coarse_to_fine(cityscapes_root, tmp_path):
    """2048 layout: the global trunk from a 1024 generator (twice the width), fixed for --niter_fix_global epochs."""
    pretrain = tmp_path / "global"
    torch.manual_seed(1)
    global_opt = make_opt(STREET[:-1] + ["1024", "--single_G_ngf", "16"])
    global_g = define_single_G(argparse.Namespace(**{**vars(global_opt), "loadSize": 1024}))
    atomic_save(cpu_state_dict(global_g), str(pretrain / "latest_net_G_1024.pth"))
    opt = make_opt(STREET[:-1] + ["2048"] + TRAIN + ["--dataroot", str(cityscapes_root), "--niter_fix_global", "1",
                                                     "--load_pretrain", str(pretrain)])
    model = create_model(opt)
    net = model.networks["G_2048"]
    trunk = {k: v.detach().clone() for k, v in net.named_parameters() if k.startswith("model.")}
    assert trunk and all(torch.equal(v, global_g.state_dict()[k]) for k, v in trunk.items())
    enhancer = net.model1_1[1].weight.detach().clone()
    batch = {"A": torch.randint(0, 35, (1, 1, 1, 32, 64)).float(), "B": torch.rand(1, 1, 3, 32, 64) * 2 - 1}
    model.train_sequence(batch)
    params = dict(net.named_parameters())
    assert all(torch.equal(params[k], v) for k, v in trunk.items())
    assert not torch.equal(net.model1_1[1].weight, enhancer)
    resumed = create_model(opt)
    resumed.load_training_state(model.training_state())
    assert len(resumed.optimizers["G"].param_groups[0]["params"]) < len(params)
    model.end_epoch(1, 30)
    model.train_sequence(batch)
    assert not torch.equal(params["model.1.weight"], trunk["model.1.weight"])
    resumed.load_training_state(model.training_state())  # a resume after the fixed epochs trains everything
    assert not resumed.fix_global and len(resumed.optimizers["G"].param_groups[0]["params"]) == len(params)


@pytest.mark.parametrize("config, flags", [
    ("label2city_1024_g1", ["--label_nc", "35", "--single_G_size", "1024"]),
    ("label2city_2048", ["--label_nc", "35", "--loadSize", "2048"]),
    ("edge2face_512", ["--dataset_mode", "face", "--input_nc", "15"]),
])
def test_default_widths_build_the_released_layouts(config, flags):
    from models.single_model import single_networks

    layouts = json.loads(require(REFERENCE / "state_dict_layouts.json", "reference layouts").read_text())
    expected = layouts[config]["networks"]
    opt = make_opt(["--gpu_ids", "-1", "--model", "single", "--no_vgg", *flags])
    with torch.device("meta"):
        nets = single_networks(opt)
    for label, net in nets.items():
        want = expected["E_single" if label == "E" else "G_single"]
        assert {k: list(v.shape) for k, v in net.state_dict().items()} == want, label


def test_face_trains_writes_features_and_feeds_use_single_g(tmp_path):
    root = require(DATASETS / "face" / "train_keypoints", "face sample data").parent
    ckpt = tmp_path / "ckpt"
    run = ["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "face_single"]
    train.main(run + FACE + TRAIN + ["--niter", "1", "--niter_decay", "1"])
    folder = ckpt / "face_single"
    for name in ("latest_net_G.pth", "latest_net_E.pth", "latest_net_D.pth", "features.npy"):
        assert (folder / name).is_file(), name
    features = load_numpy_pickle(str(folder / "features.npy"))  # the restricted loader of the released file
    n_frames = len(list((root / "train_img").rglob("*.jpg")))
    assert isinstance(features, dict) and set(features) <= set(range(7)) and 0 in features
    assert all(type(k) is int and v.shape == (n_frames, 17) for k, v in features.items())
    assert np.isclose(sum(v[0, -1] for v in features.values()), 32.0)  # areas in units of H*W/32
    from training import face_features as single_features

    (folder / "features.npy").unlink()  # written again from the checkpoint, two frames per sequence
    single_features.main(run + FACE + ["--n_feature_frames", "2"])
    assert all(v.shape == (2, 17) for v in load_numpy_pickle(str(folder / "features.npy")).values())

    test = run + FACE + ["--phase", "train", "--results_dir", str(tmp_path / "res"), "--how_many", "2"]
    summary = test_script.main(test)
    assert summary["frames"] == 2 and len(_fake_frames(summary)) == 2

    flags = VID2VID + ["--dataset_mode", "face", "--input_nc", "15", "--phase", "train"]
    _save_random_vid2vid(ckpt, "vid_face", flags)
    summary = test_script.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "vid_face",
                                "--results_dir", str(tmp_path / "res"), *flags, "--use_single_G",
                                "--how_many", "3", "--single_G_dir", str(folder)])
    assert summary["frames"] == 3


def test_features_rows_stay_aligned_across_parts():
    from models.single.features import aligned_features, part_rows

    parts = torch.zeros(1, 4, 8)
    parts[0, :, 4:] = 2
    feat = torch.where(parts.bool(), 1.0, -1.0).expand(3, -1, -1)
    rows = part_rows(feat, parts)
    assert sorted(rows) == [0, 2] and np.allclose(rows[2], [1, 1, 1, 16.0])
    other = {0: rows[0], 2: rows[2] * 3}
    aligned = aligned_features([rows, {0: rows[0]}, other])  # the second image lacks part 2
    assert {k: v.shape for k, v in aligned.items()} == {0: (3, 4), 2: (3, 4)}
    assert np.allclose(aligned[2][1], [2, 2, 2, 0])  # the part's mean feature, area 0
    assert np.allclose(aligned[2][2], other[2]) and np.allclose(aligned[0][1], rows[0])
    with pytest.raises(ValueError, match="no training frames"):
        aligned_features([])


@pytest.mark.parametrize("flags, message", [
    (["--label_nc", "0"], "label maps"),
    (["--label_nc", "35", "--single_G_size", "256"], "single_G_size"),
])
def test_unsupported_inputs_say_what_to_pass(flags, message):
    opt = make_opt(COMMON + ["--model", "single", "--no_vgg"] + flags)
    with pytest.raises(ValueError, match=message):
        create_model(opt)


def test_recipes_chain_and_name_the_released_sizes():
    from tests.test_scripts import entry_commands

    def flags(script: str) -> dict[str, str]:
        (entry, argv), = entry_commands(REPO / "scripts" / script)
        assert entry == "train.py" and argv[argv.index("--model") + 1] == "single"
        return dict(zip(argv[:-1], argv[1:]))

    sizes = {size: flags(f"street/train_single_{size}.sh") for size in (512, 1024, 2048)}
    assert all(sizes[size]["--loadSize"] == str(size) for size in sizes)
    assert sizes[2048]["--load_pretrain"] == f"checkpoints/{sizes[1024]['--name']}"
    face = flags("face/train_single_512.sh")
    assert face["--dataset_mode"] == "face" and face["--input_nc"] == "15"
