"""Every recipe under scripts/ starts: its flags, shrunk to a tiny size, build the model and run one step.

One training step (train.py lines) or one generated frame (test.py lines) for each distinct combination of
model, generator, discriminators, first-frame mode and dataset mode the scripts use, on the toy street data and
the shared face and pose samples. A recipe whose model cannot be built or stepped (e.g. a missing import for
``--add_face_disc``) fails here. The distillation recipes read earlier stages' files: random stand-ins of the tiny
size take their place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import test as test_script
from data import create_dataset
from models import create_model
from options import TestOptions, TrainOptions
from scripts.make_toy_dataset import make_toy_dataset
from tests.conftest import DATASETS, REPO
from tests.test_scripts import CASES, entry_commands
from util.checkpoint import atomic_save, cpu_state_dict

# Flags that only size or place things are replaced; the rest of each recipe is kept.
DROPPED = {"--gpu_ids", "--n_gpus_gen", "--loadSize", "--fineSize", "--ngf", "--ndf", "--n_blocks",
           "--n_blocks_local", "--batchSize", "--n_frames_total", "--max_frames_per_gpu", "--dataroot", "--nThreads",
           "--load_pretrain", "--max_t_step", "--checkpoints_dir", "--results_dir", "--name", "--how_many",
           "--nThread", "--teacher_dir", "--student_dir", "--i3d_weights"}
TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--n_blocks", "1", "--n_blocks_local", "1", "--nThreads", "0"]
TINY_TRAIN = ["--no_vgg", "--flow_backend", "dis", "--n_frames_total", "2", "--max_frames_per_gpu", "1"]
SIZES = {"temporal": ["--loadSize", "128", "--fineSize", "128", "--resize_or_crop", "scaleWidth"],
         "test": ["--loadSize", "128", "--fineSize", "128", "--resize_or_crop", "scaleWidth"],
         "face": ["--loadSize", "64", "--fineSize", "64"],
         "pose": ["--loadSize", "64", "--fineSize", "64", "--resize_or_crop", "scaleHeight"]}
KEY_FLAGS = ("--model", "--netG", "--n_scales_spatial", "--num_D", "--n_frames_D", "--n_scales_temporal",
             "--dataset_mode", "--input_nc", "--label_nc")
KEY_SWITCHES = ("--fg", "--use_instance", "--add_face_disc", "--no_first_img", "--use_single_G", "--use_real_img",
                "--openpose_only", "--densepose_only", "--no_flow", "--student")


def _strip(argv: list[str]) -> list[str]:
    """The recipe's flags without the size and placement ones (a flag's value goes with it)."""
    kept, skip = [], False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word in DROPPED:
            skip = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            continue
        kept.append(word)
    return kept


def _combination(entry: str, argv: list[str]) -> tuple:
    pairs = dict(zip(argv[:-1], argv[1:]))
    return (entry,) + tuple(pairs.get(k) for k in KEY_FLAGS) + tuple(s in argv for s in KEY_SWITCHES)


def _distinct_cases() -> list[tuple[Path, int]]:
    seen, cases = set(), []
    for path, index in CASES:
        entry, argv = entry_commands(path)[index]
        key = _combination(entry, argv)
        if key not in seen:
            seen.add(key)
            cases.append((path, index))
    return cases


DISTINCT = _distinct_cases()


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=6, width=128, height=64, seed=0, n_test_seqs=1)
    return root


def _dataroot(mode: str, toy_root: Path) -> Path:
    if mode in ("temporal", "test"):
        return toy_root
    folder = DATASETS / mode
    if not folder.is_dir():
        pytest.skip(f"{mode} sample data not found at {folder} (only in the project's shared folder)")
    return folder


def _tiny_argv(argv: list[str], mode: str, root: Path, tmp_path: Path, train: bool) -> list[str]:
    extra = []
    pairs = dict(zip(argv[:-1], argv[1:]))
    if pairs.get("--model") == "single" and "--single_G_size" not in pairs and mode != "face":
        # the recipe's layout follows its --loadSize, which the tiny size replaces: keep the layout, narrow it
        extra = ["--single_G_size", pairs["--loadSize"], "--single_G_ngf", "8"]
    return _strip(argv) + TINY + (TINY_TRAIN if train else []) + SIZES[mode] + extra + ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt"),
                                                "--name", "recipe"]


def _train_one_step(argv: list[str]):
    opt = TrainOptions().parse(argv, save=False)
    dataset = create_dataset(opt)
    model = create_model(opt)
    item = dataset[0]
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else [v] for k, v in item.items()}
    result = model.train_sequence(batch)
    assert result.losses and all(torch.isfinite(torch.tensor(v)) for v in result.losses.values()), result.losses
    return model, result


def _distillation_inputs(argv: list[str], tiny: list[str], tmp_path: Path) -> list[str]:
    """Random stand-ins for the earlier stages a distillation recipe reads (``--teacher_dir``, ``--student_dir``:
    a generator of the tiny size; ``--i3d_weights``: a random I3D, run at 32x32), and the flags naming them."""
    from models.networks import define_G
    from models.networks.i3d import InceptionI3d

    extra = []
    for flag in ("--teacher_dir", "--student_dir"):
        if flag in argv:
            generator = define_G(TrainOptions().parse(tiny + ["--model", "vid2vid"], save=False))
            folder = tmp_path / flag.strip("-")
            atomic_save(cpu_state_dict(generator.scales[0]), str(folder / "latest_net_G0.pth"))
            extra += [flag, str(folder)]
    if "--i3d_weights" in argv:
        state = {k: v for k, v in InceptionI3d().state_dict().items() if not k.endswith("num_batches_tracked")}
        atomic_save(state, str(tmp_path / "i3d.pt"))
        extra += ["--i3d_weights", str(tmp_path / "i3d.pt"), "--i3d_size", "32"]
    if dict(zip(argv[:-1], argv[1:])).get("--model") == "tkd":
        extra += ["--n_frames_total", "3"]  # the temporal stage subsamples: clips of 2 * tG - 1 frames at least
    return extra


def _save_random_generators(argv: list[str], tmp_path: Path) -> list[str]:
    """Random weights where test.py looks for them (the generator, and the single-frame one when asked)."""
    from models.networks import define_G, define_single_G

    # a released single-generator size: the tiny --loadSize has none (test.py refuses it before any work)
    sized = argv + ["--single_G_size", "512"] if "--use_single_G" in argv else argv
    opt = TestOptions().parse(sized, save=False)
    for s, net in enumerate(define_G(opt).scales):
        atomic_save(cpu_state_dict(net), str(tmp_path / "ckpt" / "recipe" / f"latest_net_G{s}.pth"))
    if not opt.use_single_G:
        return []
    if opt.dataset_mode == "face":
        _save_face_single(opt, tmp_path / "single")
        return ["--single_G_dir", str(tmp_path / "single")]
    single = TestOptions().parse(argv + ["--loadSize", "512"], save=False)
    atomic_save(cpu_state_dict(define_single_G(single)), str(tmp_path / "single" / "latest_net_G_512.pth"))
    return ["--single_G_dir", str(tmp_path / "single"), "--single_G_size", "512"]


def _save_face_single(opt, folder: Path) -> None:
    """Random edge2face_single files: generator, encoder and a features.npy for every face part label."""
    from models.networks import FACE_FEAT_NC, define_single_E, define_single_G

    atomic_save(cpu_state_dict(define_single_G(opt)), str(folder / "latest_net_G.pth"))
    atomic_save(cpu_state_dict(define_single_E(opt)), str(folder / "latest_net_E.pth"))
    features = {label: np.random.RandomState(label).rand(3, FACE_FEAT_NC + 1).astype(np.float32)
                for label in range(16)}
    np.save(folder / "features.npy", np.array(features, dtype=object))


@pytest.mark.slow
@pytest.mark.parametrize("path, index", DISTINCT,
                         ids=[f"{p.parent.name}/{p.name}:{i}" for p, i in DISTINCT])
def test_recipe_starts(path: Path, index: int, toy_root: Path, tmp_path: Path) -> None:
    entry, argv = entry_commands(path)[index]
    mode = dict(zip(argv[:-1], argv[1:])).get("--dataset_mode", "temporal" if entry == "train.py" else "test")
    root = _dataroot(mode, toy_root)
    tiny = _tiny_argv(argv, mode, root, tmp_path, train=entry == "train.py")
    if entry == "train.py":
        _, result = _train_one_step(tiny + _distillation_inputs(argv, tiny, tmp_path))
        assert ("G_KD_I3D" in result.losses) is ("--i3d_weights" in argv)
        return
    if mode in ("face", "pose"):  # the samples hold training sequences only
        tiny += ["--phase", "train"]
    extra = _save_random_generators(tiny, tmp_path)
    summary = test_script.main(tiny + extra + ["--how_many", "1", "--results_dir", str(tmp_path / "results"),
                                               "--no_video"])
    assert summary["frames"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train_512p.sh", "train_1024p.sh", "train_g1_512p.sh", "train_g1_1024p.sh"])
def test_pose_recipes_with_the_face_discriminator_train_a_step(name: str, toy_root: Path, tmp_path: Path) -> None:
    """The four pose recipes with --add_face_disc (they once failed at set-up with an ImportError)."""
    entry, argv = entry_commands(REPO / "scripts" / "pose" / name)[0]
    assert entry == "train.py" and "--add_face_disc" in argv
    model, result = _train_one_step(_tiny_argv(argv, "pose", _dataroot("pose", toy_root), tmp_path, train=True))
    assert "D_f" in model.networks and "D_f_real" in result.losses
