"""``--model skd``: Fast-Vid2Vid's spatial knowledge distillation (stage B).

The student (``--netG sr_mobile_composite --student``, the defaults of this model) starts from the teacher's
weights (``--teacher_dir``; the discriminators too, where present) and trains with vid2vid's losses, loop and
schedule plus, per chunk, the distance to the frozen teacher's frames at the same instants::

    G_KD_L1  = lambda_kd_l1  * L1(student * mask, teacher * mask)
    G_KD_VGG = lambda_kd_vgg * VGG(student * mask, teacher * mask)      (none with --no_vgg)

``mask`` is :func:`models.fast_vid2vid.distillation.flow_mask` of the reference flow of each frame and batch element. The
teacher reads full-resolution input and runs on its own previous outputs. ``--kd_published`` reproduces the
published code: the teacher built as a student (half-resolution input) and one mask, from batch element 0's
last frame of the chunk, for every frame. ``--no_kd_mask`` drops the mask (the published flag did nothing).
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Optional

from torch import Tensor

from models.base_model import StepResult
from models.fast_vid2vid.distillation import DistillationModel, add_distillation_flags, flow_mask
from models.vid2vid.chunks import ChunkOutput

#: The published spatial distillation weights (``1.0 * L1 + 1.0 * VGG``).
SKD_LAMBDAS = {
    "lambda_kd_l1": (1.0, "weight of the masked L1 distance to the teacher's frames"),
    "lambda_kd_vgg": (1.0, "weight of the masked VGG distance to the teacher's frames (none with --no_vgg)"),
}


class SkdModel(DistillationModel):
    """Spatial distillation of the Fast-Vid2Vid student from its teacher (see the module docstring)."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """The student generator by default; in training the teacher, ``--no_kd_mask`` and the KD weights."""
        parser = add_distillation_flags(parser, is_train, SKD_LAMBDAS)
        if is_train:
            parser.add_argument("--no_kd_mask", action="store_true",
                                help="(new) distil every pixel alike, without the flow-magnitude mask")
        return parser

    def train_sequence(self, data: dict) -> StepResult:
        """The teacher's frames of the clips, then vid2vid's chunked training with the distillation terms."""
        label, real, inst = self._unpack(data)
        teacher = self.teacher_frames(label, real, inst)
        return self.train_clip(label, real, inst, extra_terms=partial(self.distillation_terms, teacher.fake))

    def distillation_terms(self, targets: Tensor, chunk: ChunkOutput, history: Optional[list],
                           refs: tuple[Tensor, Tensor], start: int) -> dict[str, Tensor]:
        """``G_KD_L1`` and ``G_KD_VGG`` of a chunk, against the teacher's frames at the same instants.

        Args:
            targets: (B, T - tG + 1, 3, H, W) the teacher's frames of the clip.
            chunk, history, refs, start: As :data:`~models.vid2vid_model.ChunkTerms` passes them.
        """
        fake = chunk.fake.reshape(-1, *chunk.fake.shape[2:])
        target = chunk_targets(targets, start, chunk.fake.shape[1])
        mask = None if self.opt.no_kd_mask else self.kd_mask(refs[0].detach())
        return self.image_distillation(fake, target, mask)

    def kd_mask(self, flow_ref: Tensor) -> Tensor:
        """Masks of a chunk's frames: each frame's own; with ``--kd_published`` batch element 0's last frame's
        for all (the published code's).

        Args:
            flow_ref: (B, n, 2, H, W) reference flows of the chunk's frames, in pixels.

        Returns:
            (B * n, 1, H, W) masks, batch-major as the chunk's frames are flattened.
        """
        flat = flow_ref.reshape(-1, *flow_ref.shape[2:])
        if not self.opt.kd_published:
            return flow_mask(flat)
        return flow_mask(flow_ref[0, -1:]).expand(flat.shape[0], -1, -1, -1)


def chunk_targets(fake: Tensor, start: int, n_new: int) -> Tensor:
    """The teacher frames of the chunk whose first conditioning frame is clip frame ``start``.

    Args:
        fake: (B, T - tG + 1, 3, H, W) teacher frames of the clip's generated frames.
        start: The chunk's window start in the clip.
        n_new: Frames the chunk generates.

    Returns:
        (B * n_new, 3, H, W), batch-major as the chunk's frames are flattened.
    """
    picked = fake[:, start:start + n_new]
    return picked.reshape(-1, *picked.shape[2:])
