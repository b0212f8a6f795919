"""RTMPose / DWPose whole-body ONNX back-end: random-weight ONNX models with DWPose's input and output names and
shapes (pose: ``input`` (1, 3, 384, 288) -> ``simcc_x`` (1, 133, 576), ``simcc_y`` (1, 133, 768); YOLOX:
``images`` (1, 3, 640, 640) -> ``output`` (1, 8400, 85)), the crop geometry, SimCC decoding and the mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from data.prepare.pose import openpose_json
from data.prepare.rtmpose import (
    WholeBodyPose,
    box_to_crop,
    crop_input,
    crop_matrix,
    decode_simcc,
    decode_yolox,
    to_frame,
    yolox_grid,
)
from data.prepare.wholebody import from_wholebody133
from util.checkpoint import CheckpointError

pytest.importorskip("onnxruntime", reason="the RTMPose back-end needs onnxruntime (pip install -e .[pose])")
pytest.importorskip("onnx", reason="exporting the random test models needs onnx (pip install -e .[export])")

INPUT_HW, BINS = (384, 288), 2


class RandomSimCC(nn.Module):
    """A tiny stand-in with RTMPose's interface: (1, 3, H, W) -> SimCC vectors (1, 133, W*2), (1, 133, H*2)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 8, stride=8), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 3)),
                                      nn.Flatten(), nn.Linear(96, 133 * 16))
        self.x = nn.Linear(16, INPUT_HW[1] * BINS)
        self.y = nn.Linear(16, INPUT_HW[0] * BINS)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        per_point = self.features(image).view(-1, 133, 16)
        return self.x(per_point), self.y(per_point)


class RandomYolox(nn.Module):
    """YOLOX's raw interface: (1, 3, 640, 640) -> (1, 8400, 85); every anchor's box is the same fixed size and
    only the anchor nearest (100, 200) scores as a person."""

    def __init__(self) -> None:
        super().__init__()
        grid, stride = yolox_grid((640, 640))
        raw = np.zeros((8400, 85), np.float32)
        raw[:, 2:4] = np.log(40 / stride)  # 40-pixel boxes
        raw[:, :2] = 0.5
        best = int(np.argmin(((grid + 0.5) * stride - [100, 200]).__pow__(2).sum(1) + (stride[:, 0] != 8) * 1e9))
        raw[best, 4:6] = 1.0
        self.register_buffer("raw", torch.from_numpy(raw)[None])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.raw + 0 * image.mean()


def export(module: nn.Module, path, shape, inputs, outputs) -> str:
    torch.manual_seed(0)
    torch.onnx.export(module.eval(), (torch.zeros(shape),), str(path), input_names=inputs, output_names=outputs,
                      opset_version=17, dynamo=False)
    return str(path)


@pytest.fixture(scope="module")
def pose_onnx(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("rtmpose") / "dw-ll_ucoco_384.onnx"
    return export(RandomSimCC(), path, (1, 3, *INPUT_HW), ["input"], ["simcc_x", "simcc_y"])


def test_crop_and_back_are_inverse():
    crop = box_to_crop(np.array([100, 50, 300, 450]), (288, 384))
    assert np.isclose(crop.scale[0] / crop.scale[1], 288 / 384)  # widened to the model's aspect
    assert crop.scale[1] == pytest.approx(400 * 1.25) and np.allclose(crop.center, [200, 250])
    frame_points = np.array([[120.0, 60.0], [280.0, 430.0]])
    matrix = crop_matrix(crop, (288, 384))
    inside = frame_points @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(to_frame(inside, crop, (288, 384)), frame_points)


def test_crop_input_is_normalised_rgb():
    rgb = np.zeros((100, 80, 3), np.uint8)
    rgb[..., 0] = 255
    crop = box_to_crop(np.array([0, 0, 80, 100]), (48, 64))
    x = crop_input(rgb, crop, (48, 64))
    assert x.shape == (1, 3, 64, 48) and x.dtype == np.float32
    centre = x[0, :, 32, 24]
    assert np.allclose(centre, [(255 - 123.675) / 58.395, -116.28 / 57.12, -103.53 / 57.375], atol=1e-4)


def test_simcc_decoding_takes_argmax_and_the_smaller_maximum():
    simcc_x, simcc_y = np.zeros((2, 20)), np.zeros((2, 30))
    simcc_x[0, 7], simcc_y[0, 11] = 0.9, 0.6
    simcc_x[1, 3], simcc_y[1, 5] = -0.1, -0.2
    points, scores = decode_simcc(simcc_x, simcc_y, 2.0)
    assert np.allclose(points[0], [3.5, 5.5]) and scores[0] == pytest.approx(0.6)
    assert np.allclose(points[1], [-1, -1])


def test_wholebody_mapping_to_openpose():
    points = np.zeros((133, 3))
    points[:, 0], points[:, 1], points[:, 2] = np.arange(133), 1000 + np.arange(133), 0.9
    person = from_wholebody133(points)
    pose = person["pose"]
    assert pose[0, 0] == 0 and pose[2, 0] == 6 and pose[5, 0] == 5 and pose[4, 0] == 10  # nose, RSho, LSho, RWr
    assert pose[1, 0] == pytest.approx(5.5) and pose[8, 0] == pytest.approx(11.5)  # neck, mid-hip
    assert pose[15, 0] == 2 and pose[16, 0] == 1 and pose[19, 0] == 17 and pose[24, 0] == 22  # eyes, feet
    assert np.allclose(person["face"][:68, 0], np.arange(23, 91))
    assert person["face"][68, 0] == pytest.approx(23 + 38.5) and person["face"][69, 0] == pytest.approx(23 + 44.5)
    assert np.allclose(person["hand_left"][:, 0], np.arange(91, 112))
    assert np.allclose(person["hand_right"][:, 0], np.arange(112, 133))
    points[5, 2] = 0  # a missing shoulder: no neck
    assert (from_wholebody133(points)["pose"][1] == 0).all()


def test_pose_model_writes_openpose_json_the_pose_mode_reads(pose_onnx, tmp_path):
    from data.keypoints import read_openpose_json

    model = WholeBodyPose(pose_onnx, threshold=0.0)
    assert model.input_size == (288, 384) and model.split_ratio == 2.0
    frame = np.random.default_rng(0).integers(0, 256, (256, 512, 3), dtype=np.uint8)
    people = model.people(frame)
    assert len(people) == 1
    path = tmp_path / "frame.json"
    path.write_text(json.dumps(openpose_json(people)))
    person = read_openpose_json(path)[0]
    assert person["pose"].shape == (25, 3) and person["face"].shape == (70, 3) and person["hand_left"].shape == (21, 3)
    seen = person["pose"][person["pose"][:, 2] > 0]
    assert len(seen) > 0
    # the whole-frame box, padded by 1.25 and widened to 3:4, is where every point lies
    crop = box_to_crop(np.array([0, 0, 512, 256]), (288, 384))
    assert np.allclose(crop.scale, [640, 640 * 4 / 3])
    assert (seen[:, :2] >= crop.center - crop.scale / 2 - 1e-6).all()
    assert (seen[:, :2] <= crop.center + crop.scale / 2 + 1e-6).all()
    strict = WholeBodyPose(pose_onnx, threshold=10.0).people(frame)[0]
    assert (strict["pose"] == 0).all()  # nothing reaches the threshold: every point missing


def test_yolox_boxes_feed_the_pose_model(pose_onnx, tmp_path):
    det = export(RandomYolox(), tmp_path / "yolox_l.onnx", (1, 3, 640, 640), ["images"], ["output"])
    model = WholeBodyPose(pose_onnx, det_model=det, threshold=0.0)
    frame = np.zeros((320, 640, 3), np.uint8)  # ratio 1 into the 640x640 canvas
    boxes = model.detector(frame)
    assert boxes.shape == (1, 4)
    assert np.allclose((boxes[0, :2] + boxes[0, 2:]) / 2, [100, 200], atol=8)
    assert np.allclose(boxes[0, 2:] - boxes[0, :2], [40, 40])
    assert len(model.people(frame)) == 1


def test_yolox_decoding_undoes_the_letterbox_ratio():
    grid, stride = yolox_grid((64, 64))
    raw = np.zeros((len(grid), 6), np.float32)
    raw[:, 2:4] = np.log(16 / stride)
    raw[0, :2], raw[0, 4:6] = 0.5, 1.0  # anchor (0, 0), stride 8, offset half a cell: centre (4, 4) in the input
    boxes = decode_yolox(raw, (64, 64), 0.5, 0.3, 0.45)
    assert np.allclose(boxes, [[-8, -8, 24, 24]])  # centre 8, size 32 in the frame


def test_missing_models_are_one_error_naming_the_file(tmp_path, pose_onnx):
    with pytest.raises(CheckpointError, match=r"--pose_model: file not found: .*absent\.onnx.*DWPose"):
        WholeBodyPose(str(tmp_path / "absent.onnx"))
    with pytest.raises(CheckpointError, match=r"--det_model: file not found: .*yolox\.onnx.*whole frame"):
        WholeBodyPose(pose_onnx, det_model=str(tmp_path / "yolox.onnx"))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="onnxruntime cannot load"):
        WholeBodyPose(str(broken))


def test_command_line_writes_one_json_per_frame_and_errors_in_one_line(pose_onnx, tmp_path, capsys):
    from PIL import Image

    from data.keypoints import read_openpose_json
    from data.prepare.rtmpose import main
    from util.cli import run

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((64, 48, 3), 40 * i, np.uint8)).save(frames / f"{i}.png")
    assert run(main, [str(frames), str(tmp_path / "json"), "--pose_model", pose_onnx]) == 0
    files = sorted((tmp_path / "json").iterdir())
    assert [f.name for f in files] == ["frame000000.json", "frame000001.json", "frame000002.json"]
    assert all(len(read_openpose_json(f)) == 1 for f in files)
    capsys.readouterr()
    assert run(main, [str(frames), str(tmp_path / "out2"), "--pose_model", str(tmp_path / "dw.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --pose_model") and "dw.onnx" in err[0]
    assert not (tmp_path / "out2").exists()


def test_prepare_video_pose_backend_rtmpose(pose_onnx, tmp_path, capsys):
    """prepare_video --mode pose --backend rtmpose writes the pose layout and the checker accepts it; without
    --pose_model it is one error line."""
    from PIL import Image

    from data.keypoints import read_openpose_json
    from tests.test_street_prepare import prepare_video_script
    from util.cli import run

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):  # the checker's training clip needs n_frames_G + 1 = 4 frames
        Image.fromarray(rng.integers(0, 256, (128, 256, 3), dtype=np.uint8)).save(frames / f"{i}.png")
    script, root = prepare_video_script(), tmp_path / "ds"
    common = ["--mode", "pose", "--backend", "rtmpose", "--input", str(frames), "--dataroot", str(root),
              "--no_progress"]
    assert script.main(common + ["--pose_model", pose_onnx, "--pose_threshold", "0"]) == 0
    assert "no problems found" in capsys.readouterr().out
    written = sorted((root / "train_openpose" / "frames").glob("*.json"))
    assert len(written) == 4 and all(len(read_openpose_json(f)) == 1 for f in written)
    assert run(script.main, common + ["--seq", "other"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--pose_model" in err[0] and "DWPose" in err[0]


def test_points_outside_the_frame_become_not_found():
    """SimCC can place a point in the crop's padding, outside the frame: it is written as OpenPose's (0, 0, 0)."""
    from data.prepare.rtmpose import outside_frame_missing

    points = np.array([[10.0, 20.0, 0.9], [-3.0, 5.0, 0.8], [5.0, 140.0, 0.7], [255.0, 127.0, 0.6]])
    kept = outside_frame_missing(points, (128, 256))
    assert kept[0].tolist() == [10.0, 20.0, 0.9] and kept[3].tolist() == [255.0, 127.0, 0.6]
    assert kept[1].tolist() == kept[2].tolist() == [0.0, 0.0, 0.0]
