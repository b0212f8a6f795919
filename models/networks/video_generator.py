"""The multi-scale sequential generator.

``VideoGenerator.generate_frame`` produces ONE output frame at every spatial scale (coarsest to finest,
passing decoder features up); the training chunk loop and streaming inference (:class:`InferenceState`)
are built on it. Input encoding lives in :mod:`models.networks.input_encoding`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from models.networks.input_encoding import build_pyramid, encode_input, foreground_mask
from models.networks.scale_generator import CoarseFeatures, GeneratorOutput, ScaleGenerator, ScaleInput, SparseStack
from models.networks.sparse_conv import OneHotInput, sparse_if_it_pays


class VideoGenerator(nn.Module):
    """All generator scales: ``scales[0]`` is the coarsest (checkpoint ``G0``), ``scales[s]`` is ``G{s}``.

    Composes whatever per-scale networks a ``--netG`` entry built (see :mod:`models.networks.scale_generator`).

    Args:
        scales: Per-scale generators, coarsest first.
        n_frames_G: Frames per generator input (tG); tG-1 previous outputs are fed back.
        output_nc: Output image channels.
        fg_labels: Foreground class ids (the mask is their one-hot channels' sum); empty without the fg model.
    """

    def __init__(self, scales: Sequence[ScaleGenerator], *, n_frames_G: int, output_nc: int = 3,
                 fg_labels: Sequence[int] = ()) -> None:
        super().__init__()
        self.n_frames_G, self.output_nc = n_frames_G, output_nc
        self.fg_labels = list(fg_labels)
        self.scales = nn.ModuleList(scales)

    @property
    def n_scales(self) -> int:
        """Number of spatial scales."""
        return len(self.scales)

    @property
    def supports_sparse_stem(self) -> bool:
        """Whether every scale takes the exact embedding-bag label stem."""
        return all(net.supports_sparse_stem for net in self.scales)

    def generate_frame(self, label_pyr: Sequence[Tensor], prev_pyr: Sequence[Tensor], use_raw_only: bool = False,
                       detach_coarse: bool = False, onehot: Optional[OneHotInput] = None) -> list[GeneratorOutput]:
        """Generate one frame at every scale, coarsest first.

        Args:
            label_pyr: Finest first, (B, tG, C, h_s, w_s): the encoded labels of the tG input frames.
            prev_pyr: Finest first, (B, tG-1, 3, h_s, w_s): previous outputs of each scale, oldest first.
            use_raw_only: No warping (the synthesised first frame with --no_first_img).
            detach_coarse: Detach every coarser scale's outputs (only the finest scale is being trained).
            onehot: The finest label window as ids (see :func:`one_hot_input`) to take the exact fast path: the
                first conv over the label stack becomes an embedding-bag sum at every scale (the coarser scales'
                average-pooled stacks as :func:`sparse_layers`). Ignored by networks without the capability.

        Returns:
            One :class:`GeneratorOutput` per scale, coarsest first (the last is the full-resolution frame).
        """
        outputs: list[GeneratorOutput] = []
        coarse: Optional[CoarseFeatures] = None
        for s, net in enumerate(self.scales):
            level = self.n_scales - 1 - s
            labels, prev = label_pyr[level], prev_pyr[level]
            batch, _, _, height, width = labels.shape
            mask = foreground_mask(labels[:, -1], self.fg_labels) if self.fg_labels else None
            sparse = _sparse_stack(labels, onehot, level) if net.supports_sparse_stem else None
            out = net(ScaleInput(labels.reshape(batch, -1, height, width), prev.reshape(batch, -1, height, width),
                                 mask, coarse, use_raw_only, sparse))
            if detach_coarse and s != self.n_scales - 1:
                out = GeneratorOutput(*(t.detach() if t is not None else None for t in out))
            coarse = out.coarse_features()
            outputs.append(out)
        return outputs


def _sparse_stack(labels: Tensor, onehot: Optional[OneHotInput], level: int) -> Optional[SparseStack]:
    """The fast path's form of one pyramid level's labels (B, tG, C, h, w), or None for the plain convolution."""
    if onehot is None:
        return None
    if level == 0:
        return onehot
    return sparse_if_it_pays(labels)


@dataclass
class InferenceState:
    """Streaming test-time state of one sequence: the previous-frame pyramid (finest first, (B, tG-1, 3, h, w)).

    Call :meth:`reset` at a sequence change (the reference's ``fake_B_prev = None``).
    """

    prev_pyr: Optional[list[Tensor]] = None
    frames_done: int = field(default=0)

    def reset(self) -> None:
        """Forget the sequence: the next step starts from new first frames."""
        self.prev_pyr, self.frames_done = None, 0


@torch.no_grad()
def inference_step(generator: VideoGenerator, state: InferenceState, labels: Tensor, *,
                   first_frames: Optional[Tensor] = None, no_first_img: bool = False,
                   onehot: Optional[OneHotInput] = None) -> list[GeneratorOutput]:
    """One test-time step (the reference's ``Vid2VidModelG.inference``), sliding the previous-frame window.

    The generator's norm layers stay in whatever mode the caller set; the reference keeps BatchNorm in
    training mode (batch statistics) at test time, and the released outputs depend on it.

    Args:
        generator: The multi-scale generator.
        state: The sequence's state; updated in place.
        labels: (B, tG, C, H, W) encoded labels of the newest tG frames.
        first_frames: (B, tG-1, 3, H, W) previous frames used at the first step (real images or the single
            G's outputs). Ignored after the first step; may be None with ``no_first_img`` (zeros).
        no_first_img: Start from zeros and use the raw image only for the very first output.
        onehot: ``labels`` as ids for the exact fast first conv (see :func:`one_hot_input`).

    Returns:
        Per-scale outputs, coarsest first; ``[-1].image`` (B, 3, H, W) is the new frame.

    Raises:
        ValueError: at the first step without ``first_frames`` and without ``no_first_img``.
    """
    is_first = state.prev_pyr is None
    if is_first:
        if first_frames is None:
            if not no_first_img:
                raise ValueError("the first step needs first_frames (real frames or single-G output) "
                                 "unless no_first_img is set")
            batch, _, _, height, width = labels.shape
            first_frames = labels.new_zeros(batch, generator.n_frames_G - 1, generator.output_nc, height, width)
        state.prev_pyr = build_pyramid(first_frames, generator.n_scales)
    label_pyr = build_pyramid(labels, generator.n_scales)
    outputs = generator.generate_frame(label_pyr, state.prev_pyr, use_raw_only=no_first_img and is_first,
                                       onehot=onehot)
    state.prev_pyr = [torch.cat([prev[:, 1:], out.image.unsqueeze(1)], dim=1)
                      for prev, out in zip(state.prev_pyr, reversed(outputs))]
    state.frames_done += 1
    return outputs


@torch.no_grad()
def single_g_first_frames(net: nn.Module, label_ids: Tensor, label_nc: int) -> Tensor:
    """First tG-1 frames from a pix2pixHD street generator, one frame per forward, one-hot labels only.

    Args:
        net: GlobalGenerator or LocalEnhancer taking (B, label_nc, H, W).
        label_ids: (B, T, 1, H, W) label ids of the frames to synthesise.
        label_nc: Number of classes.

    Returns:
        (B, T, 3, H, W) in [-1, 1].
    """
    encoded = encode_input(label_ids, None, label_nc)
    return torch.stack([net(encoded[:, t]) for t in range(encoded.shape[1])], dim=1)
