"""Keypoint files other tools write -> frames of OpenPose people (``scripts/convert_keypoints.py``).

Each reader of :data:`READERS` recognises one layout from a JSON document's structure (``matches``) and turns
it into ``{frame name: [Person, ...]}`` (``read``); the first that matches is used, none -> an error that lists
the layouts understood. Layouts:

- ``coco_results``: a list of ``{"image_id", "keypoints": [x, y, s, ...]}`` detections (AlphaPose's
  ``alphapose-results.json``, MMPose / mmdet COCO results); 17 points (COCO), 133 (COCO-WholeBody) or 136
  (AlphaPose's Halpe full body) per person.
- ``coco_annotations``: ``{"images", "annotations"}`` with ``keypoints`` (17) and optionally COCO-WholeBody's
  ``foot_kpts``, ``face_kpts``, ``lefthand_kpts``, ``righthand_kpts``.
- ``mmpose``: MMPose >= 1.0 prediction files: a list of ``{"keypoints": [[x, y], ...], "keypoint_scores"}`` per
  image, or ``{"instance_info": [{"frame_id", "instances": [...]}]}`` for a video.
- ``openpose``: OpenPose-style ``{"people": [{"pose_keypoints_2d", ...}]}`` with an 18-point body (ControlNet's
  OpenPose / DWPose annotators; coordinates in [0, 1] are scaled by ``canvas_width`` / ``canvas_height``) or
  already BODY_25; 68-point faces gain OpenPose's two pupils.
- ``mediapipe``: MediaPipe Pose's 33 landmarks ``{"x", "y", "visibility"}`` (normalised to [0, 1]: the image size
  is needed), as a list, under ``"pose_landmarks"`` / ``"landmarks"``, or a list of such frames.

A folder of per-frame files keeps each file's name; a single file of many frames names them by image or frame id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from data.check import DatasetError
from data.prepare.wholebody import (
    N_BODY25,
    Person,
    copy_points,
    empty_person,
    face68_to_openpose70,
    from_wholebody133,
    to_person,
)

Frames = dict[str, list[Person]]
N_MEDIAPIPE = 33
#: Halpe-136 (AlphaPose full body) -> COCO-WholeBody-133 index: body 0-16 the same; feet 20-25 (LBigToe, RBigToe,
#: LSmallToe, RSmallToe, LHeel, RHeel) reordered; face 26-93, hands 94-135 shift by 3.
WHOLEBODY_FROM_HALPE = {**{i: i for i in range(17)}, 17: 20, 18: 22, 19: 24, 20: 21, 21: 23, 22: 25,
                        **{i: i + 3 for i in range(23, 133)}}


class KeypointFormatError(DatasetError):
    """A keypoint file in no layout this converter understands (the message names the file)."""


# ---------------------------------------------------------------- per-layout people
def person_from_flat(values: list[float]) -> Person:
    """Flat ``x, y, score`` list of 17, 133 or 136 points -> Person."""
    points = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    if len(points) == 136:
        whole = np.zeros((133, 3))
        copy_points(whole, points, WHOLEBODY_FROM_HALPE)
        return from_wholebody133(whole)
    return to_person(points)


def person_from_mediapipe(landmarks: list[dict], size: Optional[tuple[int, int]]) -> Person:
    """33 MediaPipe Pose landmarks (normalised ``x``, ``y``, ``visibility``) -> Person (pixels of ``size``), mapped
    as the MediaPipe back-end maps them (:func:`data.detect.mapping.body25_from_mediapipe`)."""
    from data.detect.mapping import body25_from_mediapipe

    if len(landmarks) != N_MEDIAPIPE:
        raise KeypointFormatError(f"{len(landmarks)} landmarks; MediaPipe Pose has {N_MEDIAPIPE}")
    points = np.array([[p["x"], p["y"], p.get("visibility", 1.0)] for p in landmarks], dtype=np.float64)
    if np.abs(points[:, :2]).max() <= 2.0:
        if size is None:
            raise KeypointFormatError("MediaPipe landmarks are normalised to [0, 1]: give the frame size with "
                                      "--width and --height")
        points[:, :2] *= size
    return {**empty_person(), "pose": body25_from_mediapipe(points, size or (np.inf, np.inf))}


def person_from_openpose(entry: dict, scale: np.ndarray) -> Person:
    """One ``people`` entry of an OpenPose-style file (18- or 25-point body) -> Person, coordinates x ``scale``."""
    def array(key: str) -> np.ndarray:
        values = np.asarray(entry.get(key) or [], dtype=np.float64).reshape(-1, 3)
        values[:, :2] *= scale
        return values

    body = array("pose_keypoints_2d")
    person = to_person(body) if len(body) != N_BODY25 else {**empty_person(), "pose": body}
    face = array("face_keypoints_2d")
    if len(face) in (68, 70):
        person["face"] = face68_to_openpose70(face) if len(face) == 68 else face
    for side in ("left", "right"):
        hand = array(f"hand_{side}_keypoints_2d")
        if len(hand) == 21:
            person[f"hand_{side}"] = hand
    return person


# ---------------------------------------------------------------- readers
@dataclass(frozen=True)
class Reader:
    """A layout: ``matches(doc)`` tells whether a JSON document is in it, ``read(doc, name, size)`` converts it
    (``name``: the frame name of a per-frame file; ``size``: (width, height) for normalised coordinates)."""

    matches: Callable[[Any], bool]
    read: Callable[[Any, str, Optional[tuple[int, int]]], Frames]


def frame_name(image_id: Any) -> str:
    """A frame name from a COCO ``image_id`` or file name: the file's stem, or ``frameNNNNNN``."""
    if isinstance(image_id, str):
        return os.path.splitext(os.path.basename(image_id))[0]
    return f"frame{int(image_id):06d}"


def is_coco_results(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and all(isinstance(d, dict) and "image_id" in d and
                                                       isinstance(d.get("keypoints"), list) for d in doc)


def read_coco_results(doc: list, name: str, size: Optional[tuple[int, int]]) -> Frames:
    frames: Frames = {}
    for det in doc:
        frames.setdefault(frame_name(det["image_id"]), []).append(person_from_flat(det["keypoints"]))
    return frames


def is_coco_annotations(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("annotations"), list) and "images" in doc


def read_coco_annotations(doc: dict, name: str, size: Optional[tuple[int, int]]) -> Frames:
    names = {image["id"]: image.get("file_name", image["id"]) for image in doc["images"]}
    frames: Frames = {frame_name(n): [] for n in names.values()}
    for ann in doc["annotations"]:
        if "keypoints" not in ann:
            continue
        parts = [ann.get(k) for k in ("foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")]
        flat = ann["keypoints"] + sum(parts, []) if all(p is not None for p in parts) else ann["keypoints"]
        frames.setdefault(frame_name(names.get(ann["image_id"], ann["image_id"])), []).append(person_from_flat(flat))
    return frames


def mmpose_person(instance: dict) -> Person:
    points = np.asarray(instance["keypoints"], dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(instance.get("keypoint_scores", np.ones(len(points))), dtype=np.float64).reshape(-1, 1)
    flat = np.concatenate([points, scores], axis=1).reshape(-1).tolist()
    return person_from_flat(flat)


def is_mmpose_instance(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("keypoints"), list) and "keypoint_scores" in item


def is_mmpose(doc: Any) -> bool:
    if isinstance(doc, dict) and isinstance(doc.get("instance_info"), list):
        return True
    return isinstance(doc, list) and bool(doc) and all(is_mmpose_instance(d) for d in doc)


def read_mmpose(doc: Any, name: str, size: Optional[tuple[int, int]]) -> Frames:
    if isinstance(doc, list):
        return {name: [mmpose_person(d) for d in doc]}
    return {frame_name(f.get("frame_id", i)): [mmpose_person(d) for d in f.get("instances", [])]
            for i, f in enumerate(doc["instance_info"])}


def is_openpose(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("people"), list)


def read_openpose(doc: dict, name: str, size: Optional[tuple[int, int]]) -> Frames:
    canvas = np.array([doc.get("canvas_width", 1), doc.get("canvas_height", 1)], dtype=np.float64)
    coords = [v for p in doc["people"] for i, v in enumerate(p.get("pose_keypoints_2d") or []) if i % 3 != 2]
    scale = canvas if coords and max(abs(c) for c in coords) <= 1.0 and "canvas_width" in doc else np.ones(2)
    return {name: [person_from_openpose(p, scale) for p in doc["people"]]}


def mediapipe_landmarks(item: Any) -> Optional[list]:
    """The 33 landmark dicts of one MediaPipe frame (a list, or under ``pose_landmarks`` / ``landmarks``)."""
    if isinstance(item, dict):
        item = item.get("pose_landmarks", item.get("landmarks"))
    if isinstance(item, dict) and "landmark" in item:
        item = item["landmark"]
    if isinstance(item, list) and item and all(isinstance(p, dict) and "x" in p and "y" in p for p in item):
        return item
    return None


def is_mediapipe(doc: Any) -> bool:
    if mediapipe_landmarks(doc) is not None:
        return True
    return isinstance(doc, list) and bool(doc) and all(mediapipe_landmarks(d) is not None or d in (None, [], {})
                                                       for d in doc)


def read_mediapipe(doc: Any, name: str, size: Optional[tuple[int, int]]) -> Frames:
    single = mediapipe_landmarks(doc)
    if single is not None:
        return {name: [person_from_mediapipe(single, size)]}
    return {f"{name}_{i:06d}": ([person_from_mediapipe(mediapipe_landmarks(d), size)] if d else [])
            for i, d in enumerate(doc)}


READERS: dict[str, Reader] = {
    "coco_results": Reader(is_coco_results, read_coco_results),
    "coco_annotations": Reader(is_coco_annotations, read_coco_annotations),
    "mmpose": Reader(is_mmpose, read_mmpose),
    "openpose": Reader(is_openpose, read_openpose),
    "mediapipe": Reader(is_mediapipe, read_mediapipe),
}


def detect_format(doc: Any, path: str) -> str:
    """The :data:`READERS` key of a JSON document.

    Raises:
        KeypointFormatError: no reader recognises it.
    """
    for key, reader in READERS.items():
        if reader.matches(doc):
            return key
    raise KeypointFormatError(f"{path}: unknown keypoint format; understood: {', '.join(READERS)} (COCO-17 / "
                              "COCO-WholeBody / Halpe results of AlphaPose and MMPose, COCO annotations, MMPose "
                              "predictions, OpenPose-style JSON of ControlNet's DWPose, MediaPipe Pose landmarks)")


def convert_document(doc: Any, path: str, size: Optional[tuple[int, int]] = None,
                     fmt: Optional[str] = None) -> Frames:
    """A JSON document's frames of people; ``fmt`` forces a layout (else it is detected).

    Raises:
        KeypointFormatError: an unknown layout, or content the layout cannot hold (the message names ``path``).
    """
    fmt = fmt or detect_format(doc, path)
    name = os.path.splitext(os.path.basename(path))[0]
    try:
        return READERS[fmt].read(doc, name, size)
    except KeypointFormatError as err:
        raise KeypointFormatError(f"{path}: {err}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise KeypointFormatError(f"{path}: not a valid {fmt} file ({type(err).__name__}: {err})") from None
