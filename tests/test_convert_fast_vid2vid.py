"""scripts/convert_fast_vid2vid.py and the Fast-Vid2Vid download scripts: published whole-module pickles become
state dicts that load strictly, without running the pickle; anything else is refused."""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from models.networks import define_G
from tests.conftest import make_opt
from tests.fast_vid2vid_published import MultiscaleDiscriminator, SRMobileCompositeGenerator, register
from tests.test_download import Resource, server  # noqa: F401 - the local HTTP server fixture
from tests.test_safe_pickle import plant_pickle
from util.checkpoint import load_state_dict_strict

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "scripts/convert_fast_vid2vid.py"
LABEL_NC, T_G, NGF = 4, 3, 8


def _load(relative: str):
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_")[:-3], REPO / relative)
    module = importlib.util.module_from_spec(spec)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        monkeypatch.undo()
    return module


def _published_g0(name: str = "test_vid2vid") -> SRMobileCompositeGenerator:
    return SRMobileCompositeGenerator(input_nc=(LABEL_NC + 1) * T_G, prev_nc=3 * (T_G - 1), ngf=NGF, n_down=3,
                                      n_blocks=3, fg=True, name=name, small_size=(16, 32))


def _published_d() -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(input_nc=LABEL_NC + 1 + 3, ndf=8, n_layers=2, num_D=2)


def _save_g0(path: Path, monkeypatch, name: str = "test_vid2vid") -> SRMobileCompositeGenerator:
    register(monkeypatch)
    net = _published_g0(name)
    torch.save(net, str(path))
    return net


@pytest.mark.parametrize("name, student", [("test_vid2vid", True), ("label2city_512_teacher", False)])
def test_published_generator_converts_and_loads_strictly(tmp_path, monkeypatch, capsys, name, student) -> None:
    published = _save_g0(tmp_path / "latest_net_G0.pth", monkeypatch, name)
    converter = _load(SCRIPT)
    assert converter.main([str(tmp_path / "latest_net_G0.pth"), str(tmp_path / "out" / "latest_net_G0.pth")]) == 0
    out = capsys.readouterr().out
    state = torch.load(tmp_path / "out" / "latest_net_G0.pth", weights_only=True)
    flags = out.split("flags: ")[1].splitlines()[0].split()
    assert flags[:10] == ["--netG", "sr_mobile_composite", "--ngf", str(NGF), "--n_downsample_G", "3",
                          "--n_blocks", "3", "--n_frames_G", str(T_G)]
    assert "--fg" in flags and ["--label_nc", "4", "--use_instance"] == flags[flags.index("--label_nc"):][:3]
    assert ("--student" in flags) is student and "--fg_labels" in flags
    # the printed flags build our generator and the weights load into it strictly
    net = define_G(make_opt(flags + ["--gpu_ids", "-1"])).scales[0]
    load_state_dict_strict(net, state)
    for key, value in published.state_dict().items():
        assert_close(state[key], value, rtol=0, atol=0)


def test_published_discriminator_converts(tmp_path, monkeypatch, capsys) -> None:
    register(monkeypatch)
    torch.save(_published_d(), str(tmp_path / "latest_net_D.pth"))
    assert _load(SCRIPT).main([str(tmp_path / "latest_net_D.pth"), str(tmp_path / "D.pth")]) == 0
    assert "flags: --num_D 2 --n_layers_D 2 --ndf 8" in capsys.readouterr().out
    from models.networks.discriminators import MultiscaleDiscriminator as Ours

    ours = Ours(input_nc=LABEL_NC + 1 + 3, ndf=8, n_layers=2, num_D=2)
    load_state_dict_strict(ours, torch.load(tmp_path / "D.pth", weights_only=True))


def test_code_running_pickle_is_refused(tmp_path, capsys) -> None:
    marker = tmp_path / "ran"
    plant_pickle(tmp_path / "evil.pth", marker)
    assert _load(SCRIPT).main([str(tmp_path / "evil.pth"), str(tmp_path / "out.pth")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "refused to load" in err
    assert not marker.exists() and not (tmp_path / "out.pth").exists()


@pytest.mark.parametrize("kind", ["other_class", "state_dict", "not_a_checkpoint", "wrong_shapes"])
def test_anything_else_is_refused(tmp_path, monkeypatch, capsys, kind) -> None:
    path = tmp_path / "in.pth"
    if kind == "other_class":
        torch.save(torch.nn.Conv2d(2, 2, 1), str(path))
    elif kind == "state_dict":
        torch.save(_published_d().state_dict(), str(path))
    elif kind == "not_a_checkpoint":
        path.write_bytes(b"<html>quota exceeded</html>")
    else:
        register(monkeypatch)
        net = _published_g0()
        del net.model_res_img[0]  # blocks no longer split as the generator splits them
        torch.save(net, str(path))
    assert _load(SCRIPT).main([str(path), str(tmp_path / "out.pth")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and not (tmp_path / "out.pth").exists()
    expected = {"other_class": "torch.nn.modules.conv.Conv2d, not one of the published", "state_dict": "not a pickled",
                "not_a_checkpoint": "zip format", "wrong_shapes": "inconsistent generator shapes"}[kind]
    assert expected in err


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("relative, file_id, out_name", [
    ("scripts/street/download_models_fast.py", "1GE0tmHR6jmXl0YEaY_rD9TkRCAVafHio", "fast_label2city_512"),
    ("scripts/face/download_models_fast.py", "1rqZfQ5X1zVLvObqzJZFCG5tFMPGGHu9u", "fast_edge2face_512"),
])
def test_download_scripts_fetch_unpack_and_convert(server, tmp_path, monkeypatch, relative, file_id,  # noqa: F811
                                                   out_name) -> None:
    base, handler = server
    module = _load(relative)
    assert module.FILE_ID == file_id and module.OUT_NAME == out_name
    register(monkeypatch)
    pickles = {}
    for name, net in (("latest_net_G0.pth", _published_g0()), ("latest_net_D.pth", _published_d())):
        buffer = io.BytesIO()
        torch.save(net, buffer)
        pickles[f"city/{name}"] = buffer.getvalue()
    handler.resources["/models.zip"] = Resource(data=_zip(pickles))
    root = tmp_path / "root"
    assert module.main(["--root", str(root), "--url", f"{base}/models.zip"]) == 0
    for name in ("latest_net_G0.pth", "latest_net_D.pth"):
        assert torch.load(root / "checkpoints" / out_name / name, weights_only=True)
    handler.resources["/empty.zip"] = Resource(data=_zip({"city/readme.txt": b"no checkpoints"}))
    assert module.main(["--root", str(tmp_path / "other"), "--url", f"{base}/empty.zip"]) == 1
