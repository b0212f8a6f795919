"""One command from a raw video (or frame folder) to one sequence of a mode's dataset (``scripts/prepare_video.py``).

``MODES`` maps ``--mode`` to ``(writer class, back-end registry)``: the writer (:class:`data.prepare.base.ModeWriter`)
holds the folders, file formats, gap filling and the checker's flags and is built as ``Writer(backend_name,
options)`` (``options``: the script's flags, for back-ends that read local weights); the back-end registry maps
``--backend`` names to :class:`data.detect.backends.Backend` (load, probe), the first being the default. A mode is added with one entry here.
:mod:`data.prepare.pipeline` does the rest for every mode: progress, atomic writes, resume, gap filling, dropping.

Back-ends from local weights (an ``error:`` naming the missing file and where to get it):

- :mod:`data.prepare.segmenters`: Cityscapes semantic segmenters (SegFormer, DeepLabV3) -> label-id maps.
- :mod:`data.prepare.instances`: torchvision Mask R-CNN (COCO) -> Cityscapes instance maps.
- :mod:`data.prepare.street`: both together, the ``street`` mode's writer.
- :mod:`data.prepare.rtmpose`: RTMPose / DWPose whole-body ONNX models through onnxruntime (``pose --backend
  rtmpose``); :mod:`data.prepare.wholebody` maps COCO-17 / COCO-WholeBody-133 to OpenPose BODY_25 + face + hands.
- :mod:`data.prepare.keypoint_formats`: keypoint files of other tools -> OpenPose (``scripts/convert_keypoints.py``).
"""

from __future__ import annotations

from typing import Callable

from data.detect.backends import Backend
from data.prepare.base import ModeWriter
from data.prepare.face import FACE_BACKENDS, FaceWriter
from data.prepare.pose import POSE_BACKENDS, PoseWriter
from data.prepare.street import STREET_BACKENDS, StreetWriter

MODES: dict[str, tuple[Callable[..., ModeWriter], dict[str, Backend]]] = {
    "pose": (PoseWriter, POSE_BACKENDS),
    "face": (FaceWriter, FACE_BACKENDS),
    "street": (StreetWriter, STREET_BACKENDS),
}
