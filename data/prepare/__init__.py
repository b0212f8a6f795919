"""One command from a raw video (or frame folder) to one sequence of a mode's dataset (``scripts/prepare_video.py``).

``MODES`` maps ``--mode`` to its writer class (:class:`data.prepare.base.ModeWriter`): the folders and file formats,
gap filling, the checker's flags, and ``backends``, the registry of its ``--backend`` choices (the first is the
default). A writer is built as ``Writer(backend_name, options)`` (``options``: the script's flags, read by back-ends with
local weights). A mode is added with one entry here;
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

from data.prepare.base import ModeWriter
from data.prepare.face import FaceWriter
from data.prepare.pose import PoseWriter
from data.prepare.street import StreetWriter

MODES: dict[str, type[ModeWriter]] = {"pose": PoseWriter, "face": FaceWriter, "street": StreetWriter}
