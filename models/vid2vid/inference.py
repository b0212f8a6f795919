"""Streaming test-time generation: one input frame in, at most one finished frame out.

Keeps only the last ``n_frames_G`` input frames and the generator's previous-frame pyramid, so memory stays
flat however long the sequence. The first ``n_frames_G - 1`` frames of each sequence only fill the window;
they come from the real images (``--use_real_img``), the single-frame generator (``--use_single_G``) or zeros
(``--no_first_img``), exactly as the reference's three first-frame modes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor, nn

from models.base_model import FrameGenerator, output_frame
from models.networks.input_encoding import encode_input, one_hot_input, takes_sparse_stem
from models.networks.video_generator import InferenceState, VideoGenerator, inference_step, single_g_first_frames
from util.checkpoint import load_file, load_state_dict_strict
from util.device import autocast_dtype
from util.results_writer import OutputFrame


class Vid2VidInference(FrameGenerator):
    """The reference's ``Vid2VidModelG.inference`` loop over a stream of frames.

    Args:
        opt: Test options (first-frame mode, ``label_nc``, ``n_frames_G``, ``autocast``, ...).
        generator: The multi-scale generator, weights loaded.
        device: Where generation runs.
    """

    def __init__(self, opt: argparse.Namespace, generator: VideoGenerator, device: torch.device) -> None:
        self.opt, self.generator, self.device = opt, generator, device
        dtype = autocast_dtype(opt.autocast)
        if dtype is not None:
            store_conv_weights_as(generator, dtype, keep=self._sparse_stem_convs())
        self.t_g = opt.n_frames_G
        self.state = InferenceState()
        self.window: dict[str, list[Tensor]] = {"A": [], "inst": [], "B": []}
        self.single_g: Optional[nn.Module] = None
        self.face_first: Optional[nn.Module] = None
        if not (opt.no_first_img or opt.use_real_img or opt.use_single_G):
            raise ValueError("choose how the first frames are made: --use_single_G (pretrained single-frame "
                             "generator), --use_real_img (real frames from <phase>_B) or --no_first_img "
                             "(a model trained with --no_first_img)")

    def reset(self) -> None:
        """Start a new sequence."""
        self.state.reset()
        self.window = {"A": [], "inst": [], "B": []}

    def load_single_generator(self, net: nn.Module, path: str) -> None:
        """Load the pix2pixHD first-frame generator from ``path`` (official ``latest_net_G_<size>.pth``)."""
        hint = ("Download the released models with `python scripts/street/download_models.py`, or pass "
                "--single_G_dir, --use_real_img or --no_first_img")
        load_state_dict_strict(net, load_file(path, self.device, what="single-frame generator", hint=hint), path)
        self.single_g = net.to(self.device)

    def _autocast(self):
        dtype = autocast_dtype(self.opt.autocast)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    @torch.no_grad()
    def step(self, frame: dict) -> list[OutputFrame]:
        """Feed one test item (batched, ``A``: (1, 1, C, H, W)); return its generated frame once the window is full."""
        if frame.get("change_seq", torch.tensor([False])).any():
            self.reset()
        for key in ("A", "inst", "B"):
            value = frame.get(key)
            if isinstance(value, Tensor) and value.dim() == 5:
                self.window[key].append(value.to(self.device, non_blocking=True))
        if len(self.window["A"]) < self.t_g:
            return []
        labels = torch.cat(self.window["A"], dim=1)
        use_inst = self.opt.use_instance and self.window["inst"]  # face mode's "inst" is a part map
        inst = torch.cat(self.window["inst"], dim=1) if use_inst else None
        encoded = encode_input(labels, inst, self.opt.label_nc)
        onehot = one_hot_input(labels, inst, self.opt.label_nc) if self._sparse_stem() else None
        first = self._first_frames(labels) if self.state.prev_pyr is None else None
        with self._autocast():
            outputs = inference_step(self.generator, self.state, encoded, first_frames=first,
                                     no_first_img=self.opt.no_first_img, onehot=onehot)
        for key in self.window:
            self.window[key] = self.window[key][1:]
        return [output_frame(self.opt, frame, outputs[-1].image[0].float(), encoded[0, -1])]

    def _sparse_stem(self) -> bool:
        """Whether the label stems take the exact embedding-bag path (``--label_stem``; one-hot labels only)."""
        return takes_sparse_stem(self.opt.label_nc, self.opt.label_stem, [self.device])

    def _sparse_stem_convs(self) -> list[nn.Module]:
        """The label stems' convolutions when they take the embedding-bag path (which reads their weights as a
        float32 table), else none."""
        if not (self._sparse_stem() and self.generator.supports_sparse_stem):
            return []
        return label_stem_convs(self.generator)

    def _first_frames(self, labels: Tensor) -> Optional[Tensor]:
        """(1, tG-1, 3, H, W) frames before the first output, per the first-frame mode."""
        if self.opt.no_first_img:
            return None
        if self.opt.use_real_img:
            if len(self.window["B"]) < self.t_g - 1:
                raise ValueError("--use_real_img needs the real frames (<phase>_B folder) of every test sequence")
            return torch.cat(self.window["B"][: self.t_g - 1], dim=1)
        if self.face_first is not None:
            return self._face_first_frames(labels)
        if self.single_g is None:
            raise ValueError("--use_single_G: the single-frame generator is not loaded")
        return single_g_first_frames(self.single_g, labels[:, : self.t_g - 1], self.opt.label_nc)

    def _face_first_frames(self, labels: Tensor) -> Tensor:
        """Face: the edge maps, the real frames' appearance and the part maps make the first frames."""
        if len(self.window["B"]) < self.t_g - 1 or len(self.window["inst"]) < self.t_g - 1:
            raise ValueError("--use_single_G for faces needs the real frames and part maps of the face dataset")
        frames = [self.face_first(labels[:, i], self.window["B"][i][:, 0], self.window["inst"][i][:, 0])
                  for i in range(self.t_g - 1)]
        return torch.stack(frames, dim=1)


def label_stem_convs(generator: VideoGenerator) -> list[nn.Module]:
    """The first convolution of every label-reading branch of every scale (generators with the sparse stem)."""
    return [stem.conv for net in generator.scales for stem in net.label_stems()]


def store_conv_weights_as(generator: nn.Module, dtype: torch.dtype, keep: Sequence[nn.Module] = ()) -> None:
    """``--autocast``: store every convolution's weight and bias in ``dtype`` once, in place.

    Autocast casts each convolution's weight to ``dtype`` at every call and keeps the casts only until its
    outermost context exits, which is every generation step: for the published street student that was 100M
    parameters converted per frame, which took as long as bf16 saved in the convolutions (docs/performance.md).
    Autocast would cast them to ``dtype`` anyway, so the frames are the same. ``keep``: convolutions left in
    float32 (the label stems when their exact sparse path reads the weights as a float32 table, on the CPU).
    """
    kept = {id(module) for module in keep}
    for module in generator.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and id(module) not in kept:
            module.to(dtype)


#: ``--loadSize`` (or ``--single_G_size``) values of the released street single-frame generators.
STREET_SINGLE_G_SIZES = (512, 1024, 2048)
FIRST_FRAME_MODES = ("--use_real_img (real frames from <phase>_B)",
                     "--use_single_G (a pretrained single-frame generator)",
                     "--no_first_img (a model trained with --no_first_img)")


def require_first_frame_mode(opt: argparse.Namespace) -> None:
    """test.py with a vid2vid model: one of ``--use_real_img``, ``--use_single_G``, ``--no_first_img`` is needed
    (checked by test.py before any work; parsing alone accepts none, for tools that only build the networks).

    Raises:
        OptionError: none is given.
    """
    if opt.use_real_img or opt.use_single_G or opt.no_first_img:
        return
    from options.validation import OptionError

    raise OptionError(f"test.py --model {opt.model} needs a first-frame mode: pass one of "
                      + ", ".join(FIRST_FRAME_MODES))


def first_frame_problems(opt: argparse.Namespace) -> Iterator[str]:
    """``--use_single_G`` with another first-frame mode (it would be ignored).

    (``--use_real_img`` with ``--no_first_img`` is reported by :mod:`options.validation`.)
    """
    if opt.use_single_G and (opt.use_real_img or opt.no_first_img):
        other = "--use_real_img" if opt.use_real_img else "--no_first_img"
        yield (f"--use_single_G and {other} are two first-frame modes and --use_single_G would be ignored; "
               "pass only one")


def single_generator_problems(opt: argparse.Namespace) -> Iterator[str]:
    """``--use_single_G`` for street frames: a released single-frame generator must exist for the size."""
    if not opt.use_single_G or opt.dataset_mode == "face":
        return
    size = single_generator_size(opt)
    if size in STREET_SINGLE_G_SIZES:
        return
    folder = opt.single_G_dir or os.path.join(opt.checkpoints_dir, "label2city_single")
    found = sorted(int(n[len("latest_net_G_"):-4]) for n in (os.listdir(folder) if os.path.isdir(folder) else [])
                   if n.startswith("latest_net_G_") and n.endswith(".pth") and n[len("latest_net_G_"):-4].isdigit())
    held = f"{folder} holds sizes {', '.join(map(str, found))}" if found else f"{folder} holds none yet"
    yield (f"--use_single_G --loadSize {opt.loadSize}: no single-frame generator for size {size}; the released "
           f"ones are for {', '.join(map(str, STREET_SINGLE_G_SIZES))} ({held}). Pick one with --single_G_size, "
           "or use --use_real_img or --no_first_img")


def single_generator_path(opt: argparse.Namespace) -> str:
    """Where the reference keeps the single-frame generator for this dataset and ``--loadSize``."""
    if opt.dataset_mode == "face":
        folder = opt.single_G_dir or os.path.join(opt.checkpoints_dir, "edge2face_single")
        return os.path.join(folder, "latest_net_G.pth")
    folder = opt.single_G_dir or os.path.join(opt.checkpoints_dir, "label2city_single")
    size = single_generator_size(opt)
    if size not in STREET_SINGLE_G_SIZES:
        raise ValueError(f"--use_single_G: the released single-frame street generators exist for --loadSize "
                         f"512, 1024 and 2048, not {size}; pick one with --single_G_size, or use --use_real_img "
                         "or --no_first_img")
    return os.path.join(folder, f"latest_net_G_{size}.pth")


def single_generator_size(opt: argparse.Namespace) -> int:
    """The single-frame generator's size: ``--single_G_size`` or, as the reference, ``--loadSize``."""
    return opt.single_G_size or opt.loadSize
