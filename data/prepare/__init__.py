"""Turning raw video frames into the inputs a dataset mode reads: back-ends that label, detect and write frames.

Each back-end is a small module with a loader (local weights, an ``error:`` naming the missing file and where to
get it) and a per-frame function; ``scripts/prepare_video.py`` chains them per ``--mode``.

- :mod:`data.prepare.files`: atomic PNG / JSON writes (a frame is complete or absent, never half-written).
- :mod:`data.prepare.segmenters`: Cityscapes semantic segmenters (SegFormer, DeepLabV3) -> label-id maps.
- :mod:`data.prepare.instances`: torchvision Mask R-CNN (COCO) -> Cityscapes instance maps.
- :mod:`data.prepare.street`: both together, one frame -> (label map, instance map).
- :mod:`data.prepare.wholebody`: COCO-17 / COCO-WholeBody-133 keypoints -> OpenPose BODY_25 + face + hands.
- :mod:`data.prepare.rtmpose`: RTMPose / DWPose whole-body ONNX models through onnxruntime.
"""
