"""Write the per-frame generator step of a checkpoint as ONNX and check it with onnxruntime.

Usage (test.py's flags describe the generator; the checkpoint is ``<checkpoints_dir>/<name>/<which_epoch>_net_G*.pth``)::

    python scripts/export_onnx.py --name fast_label2city_512 --netG sr_mobile_composite --student \\
        --label_nc 35 --use_instance --fg --loadSize 512 --width 512 --height 256 --out student.onnx

The graph (:class:`models.networks.export.GeneratorStep`) has two inputs, ``labels`` (1, n_frames_G, C, H, W):
the encoded input of the newest frames (one-hot labels + instance edge, or the input images), and
``prev_frames`` (1, n_frames_G - 1, 3, H, W): the previous outputs in [-1, 1], oldest first; and one output,
``image`` (1, 3, H, W) in [-1, 1]. Normalisation uses the statistics of the input, as test.py does. After
writing, the script runs the file with onnxruntime on random inputs and prints the largest difference to
PyTorch (``--no_check`` skips it). Needs ``pip install -e '.[export]'`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from importlib.util import find_spec
from typing import Optional, Sequence

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))  # the repository

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from models.networks import define_G, generator_config  # noqa: E402
from models.networks.export import GeneratorStep  # noqa: E402
from models.networks.step_cost import step_inputs  # noqa: E402
from models.networks.video_generator import VideoGenerator  # noqa: E402
from util.checkpoint import load_file, load_state_dict_strict  # noqa: E402

logger = logging.getLogger("export_onnx")
OPSET = 17  # GridSample needs 16
INPUT_NAMES, OUTPUT_NAMES = ["labels", "prev_frames"], ["image"]


def parse_args(argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, list[str]]:
    """The script's own flags and the rest (test.py's flags describing the generator)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=str, default="",
                        help="ONNX file to write (default <checkpoints_dir>/<name>/<which_epoch>_net_G.onnx)")
    parser.add_argument("--width", type=int, default=0, help="frame width in pixels (default --loadSize)")
    parser.add_argument("--height", type=int, default=0,
                        help="frame height in pixels (default half the width: Cityscapes' 2:1)")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (>= 16 for GridSample)")
    parser.add_argument("--no_check", action="store_true", help="do not compare onnxruntime with PyTorch")
    return parser.parse_known_args(argv)


def missing_packages(check: bool) -> list[str]:
    """The export packages that are not installed (onnx and onnxscript; onnxruntime when checking)."""
    wanted = ["onnx", "onnxscript"] + (["onnxruntime"] if check else [])
    return [name for name in wanted if find_spec(name) is None]


def load_generator(opt: argparse.Namespace) -> VideoGenerator:
    """The generator of the flags with ``<which_epoch>_net_G<s>.pth`` of every scale (weights-only, strict),
    on the CPU, norm layers in training mode as test.py runs them."""
    generator = define_G(opt)
    folder = os.path.join(opt.checkpoints_dir, opt.name)
    for s, net in enumerate(generator.scales):
        path = os.path.join(folder, f"{opt.which_epoch}_net_G{s}.pth")
        state = load_file(path, map_location=torch.device("cpu"), what=f"generator scale {s}",
                          hint="check --name, --checkpoints_dir and --which_epoch")
        load_state_dict_strict(net, state, source=path)
    return generator.train()


def frame_size(args: argparse.Namespace, opt: argparse.Namespace) -> tuple[int, int]:
    """(height, width) of the exported step.

    Raises:
        OptionError: a side that is not a positive multiple of what the generator divides by.
    """
    from options.validation import OptionError, min_frame_side

    width = args.width or opt.loadSize
    height = args.height or width // 2
    side = min_frame_side(opt)
    for flag, value in (("--width", width), ("--height", height)):
        if value < side or value % side:
            raise OptionError(f"{flag} {value}: the generator needs a multiple of {side} "
                              "(--n_downsample_G, --n_scales_spatial)")
    return height, width


def export(step: GeneratorStep, example: tuple[Tensor, Tensor], path: str, opset: int) -> None:
    """Write ``step`` traced on ``example`` to ``path`` (static shapes: the example's).

    Exported with torch's ``torch.export``-based exporter (``dynamo=True``; the TorchScript one is deprecated),
    which needs the onnxscript package besides onnx. The program is captured with autograd enabled (nothing
    requires a gradient), so the transposed convolutions take their plain path rather than the CPU's
    channels-last reorders. The exporter's note on a module in training mode is expected and silenced: the step
    normalises with its input's statistics on purpose, as test.py does.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Exporting a model while it is in training mode")
        program = torch.onnx.export(step, example, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                                    opset_version=opset, dynamo=True, external_data=False, verbose=False)
    program.save(path)


def max_difference(path: str, step: GeneratorStep, inputs: tuple[Tensor, Tensor],
                   provider: str = "CPUExecutionProvider") -> float:
    """Largest absolute difference between onnxruntime (on ``provider``) and PyTorch (CPU) on ``inputs``.

    Raises:
        RuntimeError: onnxruntime did not take ``provider`` (it falls back to the CPU silently otherwise).
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=[provider])
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"onnxruntime runs {path} on {session.get_providers()[0]}, not {provider}")
    feeds = {name: value.numpy() for name, value in zip(INPUT_NAMES, inputs)}
    ours = session.run(OUTPUT_NAMES, feeds)[0]
    with torch.no_grad():
        reference = step(*inputs).numpy()
    return float(np.abs(ours - reference).max())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Export, then check; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args, rest = parse_args(argv)
    missing = missing_packages(not args.no_check)
    if missing:
        print(f"error: scripts/export_onnx.py needs the {' and '.join(missing)} package(s): "
              "pip install -e '.[export]'", file=sys.stderr)
        return 2
    from options import TestOptions

    opt = TestOptions().parse(rest + ["--gpu_ids", "-1"], save=False)
    height, width = frame_size(args, opt)
    step = GeneratorStep(load_generator(opt))
    example = step_inputs(generator_config(opt), opt.label_nc, height, width, "cpu")
    path = args.out or os.path.join(opt.checkpoints_dir, opt.name, f"{opt.which_epoch}_net_G.onnx")
    export(step, example, path, args.opset)
    print(f"wrote {path}: inputs labels {tuple(example[0].shape)}, prev_frames {tuple(example[1].shape)}; "
          f"output image (1, 3, {height}, {width})")
    if not args.no_check:
        generator = torch.Generator().manual_seed(2)
        fresh = tuple(torch.rand(x.shape, generator=generator) * 2 - 1 for x in example)
        fresh = (example[0].roll(1, dims=-1), fresh[1])  # labels stay one-hot, previous frames change
        print(f"onnxruntime vs PyTorch: max abs difference {max_difference(path, step, fresh):.2e}")
    return 0


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main, returns_code=True))
