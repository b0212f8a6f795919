"""Option parsing: every reference flag with its default, derived fields, validation, saving."""

from __future__ import annotations

import math
import re

import pytest
import torch

from options import OptionError, TestOptions, TrainOptions
from tests.conftest import REFERENCE, make_opt, require

SECTIONS = {"base": "### 1.1", "train": "### 1.2", "test": "### 1.3"}


def _reference_flags(section: str) -> dict[str, str]:
    """Flag -> default text from a table of the reference fact sheet (combined rows split)."""
    text = require(REFERENCE / "vid2vid.md", "reference fact sheet").read_text()
    start = text.index(SECTIONS[section])
    body = text[start:text.index("\n### ", start + 5)]
    flags: dict[str, str] = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`--"):
            continue
        if "," in cells[0]:  # "`--label_feat`, `--feat_num`(3), ..." rows carry defaults in parentheses
            for name, default in re.findall(r"`--(\w+)`(?:\((`?[^)]*`?)\))?", cells[0]):
                flags[name] = default.strip("`") if default else "False"
        else:
            flags[cells[0].strip("`").lstrip("-")] = cells[2]
    return flags


def _as_expected(default_text: str):
    """Turn the fact sheet's default cell into a Python value (None: not comparable)."""
    text = default_text.strip().strip("*").strip("`").strip("'")
    if text in ("False", "True"):
        return text == "True"
    if text == "inf":
        return math.inf
    if text == "''":
        return ""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _parser_defaults(options) -> dict:
    import argparse

    parser = options.initialize(argparse.ArgumentParser())
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


@pytest.mark.parametrize("section,options", [("base", TrainOptions), ("train", TrainOptions),
                                             ("base", TestOptions), ("test", TestOptions)])
def test_every_reference_flag_parses_with_its_default(section, options):
    reference = _reference_flags(section)
    assert len(reference) >= 8
    defaults = _parser_defaults(options())
    for name, default_text in reference.items():
        assert name in defaults, f"--{name} missing from {options.__name__}"
        expected = _as_expected(default_text)
        if name == "phase":
            continue
        assert defaults[name] == expected or str(defaults[name]) == str(expected), (name, defaults[name], expected)


def test_flag_counts_match_the_reference():
    base = _reference_flags("base")
    assert len(base) + len(_reference_flags("train")) == 87
    assert len(base) + len(_reference_flags("test")) == 64


def test_derived_fields_and_cpu_fallback():
    opt = make_opt(["--gpu_ids", "-1", "--fg_labels", "26,27"])
    assert opt.devices == [torch.device("cpu")] and opt.device == torch.device("cpu")
    assert opt.fg_labels == [26, 27] and opt.n_gpus_gen == 1 and opt.isTrain


def test_absent_gpu_falls_back_to_cpu(caplog, monkeypatch):
    """Without any GPU the fallback is information, said once per process (not a warning on every run)."""
    import logging

    from util import device

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    monkeypatch.setattr(device, "_told_no_gpu", set())
    caplog.set_level(logging.INFO)
    opt = make_opt(["--gpu_ids", "0,1"])
    assert opt.devices == [torch.device("cpu")]
    assert device.resolve_devices([0, 1]) == [torch.device("cpu")]
    told = [r for r in caplog.records if "not present" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO and "running on the CPU" in told[0].getMessage()


@pytest.mark.parametrize("argv,flag", [
    (["--n_frames_G", "0"], "--n_frames_G"),
    (["--resize_or_crop", "scaleWidth_and_crop", "--loadSize", "256", "--fineSize", "512"], "--fineSize"),
    (["--batchSize", "3", "--gpu_ids", "-1", "--n_gpus_gen", "2"], "--n_gpus_gen"),
    (["--fg"], "--fg"),
    (["--openpose_only", "--densepose_only"], "--openpose_only"),
    (["--resize_or_crop", "scaleWidht"], "--resize_or_crop"),
    (["--fg_labels", "a,b"], "--fg_labels"),
])
def test_contradictions_are_rejected_naming_the_flags(argv, flag):
    with pytest.raises(OptionError, match=flag):
        make_opt(["--gpu_ids", "-1"] + argv)


def test_test_options_remap_temporal_and_reject_two_first_frame_modes():
    opt = make_opt(["--gpu_ids", "-1"], train=False)
    assert opt.dataset_mode == "test" and not opt.isTrain
    with pytest.raises(OptionError, match="--no_first_img"):
        make_opt(["--gpu_ids", "-1", "--no_first_img", "--use_real_img"], train=False)


def test_options_are_saved(tmp_path):
    opt = make_opt(["--gpu_ids", "-1", "--name", "run", "--ngf", "16"], checkpoints_dir=tmp_path)
    text = (tmp_path / "run" / "opt.txt").read_text()
    assert "ngf: 16" in text.replace("  ", " ") or re.search(r"ngf:\s+16", text)
    assert (tmp_path / "run" / "train_opt.txt").exists() and opt.name == "run"


def test_non_default_values_are_printed(capsys):
    make_opt(["--gpu_ids", "-1", "--ngf", "16"])
    out = capsys.readouterr().out
    assert re.search(r"ngf:\s+16\s+\[default: 128\]", out)
    assert "ndf" not in out


@pytest.mark.parametrize("options, argv, flag", [
    (TrainOptions, ["--model", "skd"], "--teacher_dir"),
    (TrainOptions, ["--model", "tkd"], "--lambda_kd_flow"),
    (TestOptions, [], "--keyframes"),
])
def test_help_lists_the_chosen_models_and_dataset_modes_flags(options, argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        options().parse(argv + ["--help"], save=False)
    assert exit_info.value.code == 0
    assert flag in capsys.readouterr().out


def test_help_of_the_default_model_leaves_the_distillation_flags_out(capsys):
    with pytest.raises(SystemExit):
        TrainOptions().parse(["--help"], save=False)
    assert "--teacher_dir" not in capsys.readouterr().out
