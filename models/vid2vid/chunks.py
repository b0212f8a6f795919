"""vid2vid's generator over a training chunk: frame after frame, each on its previous outputs, on any devices.

A chunk is ``tG - 1`` conditioning frames and the new frames generated after them. With several generator
devices consecutive frames go to consecutive devices (the reference's frame splitting); with several sequences
per batch the batch is cut over the devices as the reference's DataParallel did.
"""

from __future__ import annotations

import argparse
import functools
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from models.networks.input_encoding import build_pyramid, encode_input, one_hot_input, takes_sparse_stem
from models.networks.sparse_conv import OneHotInput
from models.networks.video_generator import VideoGenerator
from models.vid2vid.checkpointing import checkpointed_call
from models.vid2vid.schedule import TrainingSchedule


class ChunkOutput(NamedTuple):
    """Generator results for one chunk of ``n`` new frames (finest scale unless stated)."""

    fake: Tensor  # (B, n, 3, H, W)
    fake_raw: Tensor  # (B, n, 3, H, W)
    flow: Optional[Tensor]  # (B, n, 2, H, W) pixels
    weight: Optional[Tensor]  # (B, n, 1, H, W)
    label: Tensor  # (B, n, C, H, W) encoded input of the new frames
    real_with_prev: Tensor  # (B, n + 1, 3, H, W) one earlier real frame, then the current ones
    fake_last: list  # per scale, finest first: (B, tG-1, 3, h, w) detached, the next chunk's history


class ChunkGenerator:
    """Runs a generator over training chunks as the schedule says (frames per device, back-propagation span,
    coarse-to-fine).

    Args:
        opt: Training options (``n_frames_G``, ``label_nc``, ``n_scales_spatial``, ``no_first_img``, ``batchSize``).
        gen_devices: The generator devices, the first one gathers results.
        schedule: The training schedule (read at each call: it changes between epochs).
    """

    def __init__(self, opt: argparse.Namespace, gen_devices: list[torch.device], schedule: TrainingSchedule) -> None:
        self.opt, self.gen_devices, self.schedule = opt, gen_devices, schedule
        self.t_g = opt.n_frames_G

    def first_frames(self, real: Tensor) -> list[Tensor]:
        """The tG-1 frames before the first generated one, as a pyramid (finest first): zeros or real frames."""
        history = real[:, : self.t_g - 1]
        if self.opt.no_first_img:
            history = torch.zeros_like(history)
        return build_pyramid(history, self.opt.n_scales_spatial)

    def generate(self, generator: VideoGenerator, label: Tensor, real: Tensor, inst: Optional[Tensor],
                 history: Optional[list]) -> ChunkOutput:
        """Generate ``T - tG + 1`` frames of a chunk of ``T`` input frames.

        Args:
            generator: The generator (the model's, or another of the same input layout: a distillation teacher).
            label: (B, T, C_in, H, W) label ids or input images.
            real: (B, T, 3, H, W) real frames in [-1, 1].
            inst: (B, T, 1, H, W) instance ids, or None.
            history: The previous chunk's ``fake_last``, or None for the first chunk of a sequence.

        With several sequences per batch (``--batchSize`` > 1) and several generator devices, the batch is split
        over the devices as the reference's DataParallel did: each device generates its share of sequences
        (its BatchNorm sees only those) and the results are gathered on the first generator device.
        """
        parts = self._batch_parts(label.shape[0])
        if len(parts) == 1:
            return self._generate_part(label, real, inst, history, self.gen_devices, generator)
        outputs = [self._generate_part(label[rows], real[rows], None if inst is None else inst[rows],
                                       None if history is None else [h[rows] for h in history], [device],
                                       generator)
                   for rows, device in parts]
        return _gather_chunks(outputs, self.gen_devices[0])

    def _batch_parts(self, batch: int) -> list[tuple[slice, torch.device]]:
        """(rows, device) shares of a batch: one per generator device, as ``torch.nn.parallel.scatter`` cuts."""
        n_parts = min(batch, len(self.gen_devices)) if self.opt.batchSize > 1 else 1
        if n_parts <= 1:
            return [(slice(0, batch), self.gen_devices[0])]
        size = -(-batch // n_parts)
        return [(slice(start, min(batch, start + size)), self.gen_devices[i])
                for i, start in enumerate(range(0, batch, size))]

    def _generate_part(self, label: Tensor, real: Tensor, inst: Optional[Tensor], history: Optional[list],
                       devices: list[torch.device], generator: VideoGenerator) -> ChunkOutput:
        """:meth:`generate_chunk` for (part of) a batch, its frames spread over ``devices``."""
        encoded = encode_input(label, inst, self.opt.label_nc)
        onehot = one_hot_input(label, inst, self.opt.label_nc) if self._sparse_stem(generator, devices) else None
        first_chunk = history is None
        fakes = list(self.first_frames(real) if first_chunk else history)
        label_pyr = build_pyramid(encoded, self.opt.n_scales_spatial)
        n_new = encoded.shape[1] - self.t_g + 1
        replicas = self._replicas(generator)
        finest = []
        per_device = self.schedule.state.frames_per_device
        for t in range(n_new):
            device = devices[(t // per_device) % len(devices)]
            outputs = self._generate_frame(replicas[device], label_pyr, fakes, t, device,
                                           use_raw_only=self.opt.no_first_img and first_chunk,
                                           onehot=_window(onehot, t, self.t_g, device))
            for si, out in enumerate(outputs):
                fakes[si] = torch.cat([fakes[si], out.image.unsqueeze(1).to(fakes[si].device)], dim=1)
            finest.append(outputs[0])
        return ChunkOutput(
            fake=fakes[0][:, self.t_g - 1:], fake_raw=_stack([o.raw_image for o in finest]),
            flow=_stack([o.flow for o in finest]), weight=_stack([o.weight for o in finest]),
            label=encoded[:, self.t_g - 1:], real_with_prev=real[:, self.t_g - 2:],
            fake_last=[f[:, -(self.t_g - 1):].detach() for f in fakes])

    def _replicas(self, generator: VideoGenerator) -> dict:
        """``generator`` on each generator device: the module itself, or (several GPUs) differentiable copies,
        so consecutive frames of a chunk are generated on consecutive devices as in the reference."""
        distinct = list(dict.fromkeys(self.gen_devices))
        if len(distinct) == 1:
            return {distinct[0]: generator}
        copies = torch.nn.parallel.replicate(generator, distinct)
        return dict(zip(distinct, copies))

    def _sparse_stem(self, generator: VideoGenerator, devices: list[torch.device]) -> bool:
        """Whether the label stems take the embedding-bag forward (:func:`models.networks.sparse_conv.stem_convs`):
        one-hot labels, a generator that supports it, CPU devices (test.py's ``--label_stem auto`` rule; train.py
        has no ``--label_stem``, an option set may still carry one to compare the paths)."""
        choice = getattr(self.opt, "label_stem", "auto")
        return generator.supports_sparse_stem and takes_sparse_stem(self.opt.label_nc, choice, devices)

    def _generate_frame(self, generator, label_pyr: list, fakes: list, t: int, device: torch.device,
                        use_raw_only: bool, onehot: Optional[OneHotInput] = None):
        """All scales of frame ``t`` of the chunk on ``device``; returns outputs finest first. ``onehot``: the
        frame's finest label window as ids, for the embedding-bag label stem."""
        labels = [p[:, t:t + self.t_g].to(device) for p in label_pyr]
        prev = [f[:, t:t + self.t_g - 1].to(device) for f in fakes]
        if t % self.schedule.frames_backprop == 0:
            prev = [p.detach() for p in prev]
        forward = functools.partial(generator.generate_frame, use_raw_only=use_raw_only,
                                    detach_coarse=not self.schedule.train_all_scales, onehot=onehot)
        if self.opt.isTrain and self.opt.checkpoint_activations and torch.is_grad_enabled():
            outputs = checkpointed_call(generator, forward, labels, prev)
        else:
            outputs = forward(labels, prev)
        return outputs[::-1]


def _gather_chunks(parts: list[ChunkOutput], device: torch.device) -> ChunkOutput:
    """Concatenate the batch shares of a chunk on ``device``."""
    def cat(tensors: list) -> Optional[Tensor]:
        return None if tensors[0] is None else torch.cat([t.to(device) for t in tensors], dim=0)

    fields = {name: cat([getattr(p, name) for p in parts]) for name in ChunkOutput._fields if name != "fake_last"}
    fake_last = [cat([p.fake_last[s] for p in parts]) for s in range(len(parts[0].fake_last))]
    return ChunkOutput(**fields, fake_last=fake_last)


def _window(onehot: Optional[OneHotInput], t: int, t_g: int, device: torch.device) -> Optional[OneHotInput]:
    """Frames ``t .. t+tG-1`` of a chunk's one-hot ids (and extra channels) on ``device``, or None."""
    if onehot is None:
        return None
    window = onehot.frames(t, t + t_g)
    return window._replace(ids=window.ids.to(device), extra=None if window.extra is None else window.extra.to(device))


def _stack(frames: list) -> Optional[Tensor]:
    """Stack per-frame (B, C, H, W) tensors to (B, T, C, H, W); None if they are None."""
    return None if frames[0] is None else torch.stack(frames, dim=1)
