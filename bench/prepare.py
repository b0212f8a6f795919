"""Per-frame cost of the dataset-preparation back-ends (street labels, instance maps, RTMPose pipeline), ms/frame.

    python bench/prepare.py [--width 512 --height 256 --rounds 3 --threads 2]

Random weights in the released architectures (speed does not depend on the values): SegFormer-B0 (the
``nvidia/segformer-b0-finetuned-cityscapes-*`` configuration; needs transformers), torchvision DeepLabV3 with
MobileNetV3-Large and ResNet-50 backbones and a 19-class head, torchvision Mask R-CNN R50-FPN v1 (its own resize
to an 800-pixel short side included, as it runs in ``--inst_model``). The RTMPose row times the ONNX pipeline
(crop, normalisation, onnxruntime call, SimCC decoding, mapping) around a tiny stand-in network with DWPose's input
and output shapes: it is the back-end's overhead, not the cost of the real RTMPose / DWPose network.

Back-ends are alternated within each round (one untimed warm-up first), so machine load hits all alike; the
median of the rounds is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def deeplab(backbone: str, folder: str) -> Callable[[np.ndarray], np.ndarray]:
    import torchvision.models.segmentation as seg

    from data.prepare.segmenters import load_segmenter

    net = getattr(seg, f"deeplabv3_{backbone}")(weights=None, weights_backbone=None, num_classes=19, aux_loss=True)
    path = os.path.join(folder, f"deeplab_{backbone}.pth")
    torch.save(net.state_dict(), path)
    return load_segmenter(path)


def segformer_b0(folder: str) -> Callable[[np.ndarray], np.ndarray]:
    import transformers

    from data.prepare.segmenters import load_segmenter

    config = transformers.SegformerConfig(num_labels=19, hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2],
                                          decoder_hidden_size=256)
    path = os.path.join(folder, "segformer_b0")
    transformers.SegformerForSemanticSegmentation(config).save_pretrained(path)
    return load_segmenter(path)


def maskrcnn(folder: str) -> Callable[[np.ndarray], np.ndarray]:
    import torchvision.models.detection as detection

    from data.prepare.instances import InstanceDetector

    path = os.path.join(folder, "maskrcnn.pth")
    torch.save(detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict(),
               path)
    detector = InstanceDetector(path, threshold=0.0)
    return lambda rgb: detector(rgb, np.full(rgb.shape[:2], 26, np.uint8))


def rtmpose_pipeline(folder: str) -> Callable[[np.ndarray], list]:
    from data.prepare.rtmpose import WholeBodyPose
    from tests.test_rtmpose import RandomSimCC, export

    path = export(RandomSimCC(), os.path.join(folder, "standin.onnx"), (1, 3, 384, 288), ["input"],
                  ["simcc_x", "simcc_y"])
    return WholeBodyPose(path, threshold=0.0).people


BACKENDS = {
    "SegFormer-B0 (transformers)": segformer_b0,
    "DeepLabV3 MobileNetV3-L": lambda f: deeplab("mobilenet_v3_large", f),
    "DeepLabV3 ResNet-50": lambda f: deeplab("resnet50", f),
    "Mask R-CNN R50-FPN (800 px short side)": maskrcnn,
    "RTMPose pipeline, stand-in network": rtmpose_pipeline,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frame = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        runners = {}
        for name, build in BACKENDS.items():
            try:
                runners[name] = build(folder)
            except ImportError as err:
                print(f"skipped {name}: {err}")
        times: dict[str, list[float]] = {name: [] for name in runners}
        with torch.inference_mode():
            for run in runners.values():
                run(frame)
            for _ in range(args.rounds):
                for name, run in runners.items():
                    start = time.perf_counter()
                    run(frame)
                    times[name].append(1000 * (time.perf_counter() - start))
    print(f"| back-end | ms / frame at {args.width}x{args.height} (median of {args.rounds}, {args.threads} threads) |")
    print("| --- | ---: |")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.0f} |")


if __name__ == "__main__":
    main()
