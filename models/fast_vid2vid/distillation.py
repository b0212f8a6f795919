"""Fast-Vid2Vid's knowledge distillation (Zhuo et al., ECCV 2022): what ``--model skd`` and ``--model tkd`` share.

Both stages train the student generator (``--netG sr_mobile_composite --student``) with vid2vid's own losses and
loop (:class:`~models.vid2vid_model.Vid2VidModel`) plus distillation terms against a frozen teacher:

- :class:`DistillationModel` builds the teacher from the same flags without ``--student`` (full-resolution input,
  as the paper describes; ``--kd_published`` builds it as a student, as the published code accidentally did),
  loads it from ``--teacher_dir`` and generates the teacher's frames of a clip (:meth:`teacher_frames`);
- :func:`flow_mask` is the spatial stage's flow-magnitude mask;
- :func:`compose_flows` and :func:`sampling_gaps` serve the temporal stage.

The teacher is not in ``self.networks``: checkpoints hold the student and the discriminators only, in vid2vid's
layout, so ``test.py`` (or a later stage) loads them as any vid2vid run.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from typing import Iterator, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from models.losses import LossTable, LossWeight
from models.networks import define_G
from models.networks.video_generator import VideoGenerator
from models.networks.warp import warp
from models.vid2vid_model import Vid2VidModel
from util.checkpoint import load_file, load_state_dict_strict
from util.config import derive

logger = logging.getLogger(__name__)


class TeacherFrames(NamedTuple):
    """The teacher's output over a whole clip of T frames (the first tG-1 frames are conditioning)."""

    fake: Tensor  # (B, T - tG + 1, 3, H, W) in [-1, 1]: the teacher's frames tG-1 .. T-1
    flow: Optional[Tensor]  # (B, T - tG + 1, 2, H, W) pixels: each of those frames -> the one before; None: no flow


def add_distillation_flags(parser: argparse.ArgumentParser, is_train: bool,
                           lambdas: dict[str, tuple[float, str]]) -> argparse.ArgumentParser:
    """Flags both distillation stages have: the student generator by default, the teacher, the loss weights.

    Args:
        parser: The option parser.
        is_train: Whether the parser is train.py's (only training reads the teacher).
        lambdas: ``name -> (default, help)`` of the stage's loss-weight flags (``lambda_kd_l1`` ...).
    """
    parser.set_defaults(netG="sr_mobile_composite", student=True)
    if not is_train:
        return parser
    g = parser.add_argument_group("distillation")
    add_run_folder_flags(g, "teacher", "the Fast-Vid2Vid teacher (scripts/*/train_teacher.sh), built from this "
                                       "run's flags without --student")
    g.add_argument("--kd_published", action="store_true",
                   help="(new) reproduce the published code: the teacher reads its input at the student's "
                        "resolution (it was built as a student); --model skd: one mask, from batch element 0's last "
                        "frame, for every frame; --model tkd: the teacher's one-frame flow as the flow target")
    for name, (default, text) in lambdas.items():
        g.add_argument(f"--{name}", type=float, default=default, help=f"(new) {text}")
    return parser


def add_run_folder_flags(group: argparse._ArgumentGroup, role: str, stage: str) -> None:
    """``--<role>_dir`` (the run folder of ``stage``) and ``--<role>_epoch`` (its checkpoint prefix)."""
    group.add_argument(f"--{role}_dir", type=str, default="",
                       help=f"(new) run folder of {stage}, holding <{role}_epoch>_net_G0.pth")
    group.add_argument(f"--{role}_epoch", type=str, default="latest",
                       help=f"(new) checkpoint prefix of the {role}'s generator in --{role}_dir")


class DistillationModel(Vid2VidModel):
    """vid2vid training of the student with a frozen teacher beside it (see the module docstring)."""

    @classmethod
    def validate_options(cls, opt: argparse.Namespace) -> Iterator[str]:
        """vid2vid's rules, and in training the teacher's and the student's run folders."""
        yield from super().validate_options(opt)
        problem = opt.isTrain and run_folder_problem(opt, "--teacher_dir", "--teacher_epoch",
                                                     "the teacher (scripts/*/train_teacher.sh)")
        if problem:
            yield problem

    def setup(self) -> None:
        """The student as vid2vid builds it; in training also the teacher, and the student's starting weights
        (unless ``--continue_train`` resumes this run)."""
        super().setup()
        if not self.opt.isTrain:
            return
        self.teacher = self._load_teacher()
        if not self.resumed:
            folder, epoch = self.initial_weights()
            self.load_network("G0", epoch, folder)
            self._load_discriminators(epoch, folder, partial=True)
            logger.info("student initialised from %s (%s_net_G0.pth; discriminators where present)", folder, epoch)

    @property
    def resumed(self) -> bool:
        """Whether ``--continue_train`` finds this run's own generator (it then keeps it)."""
        opt = self.opt
        return bool(opt.continue_train) and os.path.isfile(self.network_path("G0", opt.which_epoch))

    def initial_weights(self) -> tuple[str, str]:
        """(folder, epoch) the student and the discriminators start from; the spatial stage: the teacher's."""
        return self.opt.teacher_dir, self.opt.teacher_epoch

    def _load_teacher(self) -> VideoGenerator:
        """The frozen teacher generator from ``<teacher_dir>/<teacher_epoch>_net_G0.pth`` (strict, weights only)."""
        opt = self.opt
        teacher = define_G(derive(opt, student=bool(opt.kd_published))).to(self.gen_devices[0])
        path = self.network_path("G0", opt.teacher_epoch, opt.teacher_dir)
        state = load_file(path, map_location=self.gen_devices[0], what="teacher generator",
                          hint="check --teacher_dir and --teacher_epoch")
        load_state_dict_strict(teacher.scales[0], state, source=path)
        self.set_requires_grad(teacher, False)
        return teacher

    @torch.no_grad()
    def teacher_frames(self, label: Tensor, real: Tensor, inst: Optional[Tensor]) -> TeacherFrames:
        """The teacher's frames and flows for a whole clip, generated chunk by chunk as the student's are, each
        frame conditioned on the teacher's own previous outputs (its first tG-1 frames are the student's).

        BatchNorm uses batch statistics, as vid2vid does at test time.

        Args:
            label: (B, T, C_in, H, W) label ids or input images.
            real: (B, T, 3, H, W) real frames in [-1, 1].
            inst: (B, T, 1, H, W) instance ids, or None.
        """
        history, fakes, flows = None, [], []
        for window in self.chunk_windows(real.shape[1], partial=True):
            with self.autocast():
                chunk = self.generate_chunk(label[:, window], real[:, window],
                                            None if inst is None else inst[:, window], history,
                                            generator=self.teacher)
            history = chunk.fake_last
            fakes.append(chunk.fake.float())
            flows.append(None if chunk.flow is None else chunk.flow.float())
        return TeacherFrames(torch.cat(fakes, dim=1), None if flows[0] is None else torch.cat(flows, dim=1))

    @classmethod
    def declare_loss_weights(cls) -> LossTable:
        """vid2vid's table plus the image distillation terms (``--lambda_kd_l1``, ``--lambda_kd_vgg``)."""
        return {**super().declare_loss_weights(), "G_KD_L1": LossWeight("lambda_kd_l1"),
                "G_KD_VGG": LossWeight("lambda_kd_vgg")}

    def image_distillation(self, fake: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> dict[str, Tensor]:
        """``G_KD_L1`` and ``G_KD_VGG`` (unweighted; the VGG term is 0 with ``--no_vgg``) between the student's and
        the teacher's frames, both multiplied by ``mask`` when given.

        Args:
            fake: (N, 3, H, W) student frames in [-1, 1].
            target: (N, 3, H, W) teacher frames at the same instants.
            mask: (N, 1, H, W) weights in [0, 1], or None.
        """
        target = target.to(fake.device, fake.dtype)
        if mask is not None:
            mask = mask.to(fake.device, fake.dtype)
            fake, target = fake * mask, target * mask
        perceptual = self.criterion.perceptual(fake, target)
        return {"G_KD_L1": F.l1_loss(fake, target),
                "G_KD_VGG": fake.new_zeros(()) if perceptual is None else perceptual}


def run_folder_problem(opt: argparse.Namespace, flag: str, epoch_flag: str, stage: str) -> Optional[str]:
    """Why the run folder of ``flag`` cannot start this stage (no folder, or no generator in it), or None.

    Args:
        opt: Training options.
        flag: ``--teacher_dir`` or ``--student_dir``.
        epoch_flag: The flag of its checkpoint prefix (``--teacher_epoch`` / ``--student_epoch``).
        stage: What trains that run (named in the message).
    """
    folder, epoch = getattr(opt, flag.strip("-")), getattr(opt, epoch_flag.strip("-"))
    path = os.path.join(folder, f"{epoch}_net_G0.pth")
    if not folder:
        return (f"--model {opt.model} needs {flag} DIR: the run folder of {stage}, holding <epoch>_net_G0.pth "
                "(e.g. checkpoints/<its --name>)")
    if not os.path.isfile(path):
        return f"{flag} {folder}: {path} not found; train {stage} first, or fix {flag} / {epoch_flag}"
    return None


def flow_mask(flow: Tensor) -> Tensor:
    """The spatial distillation mask: the mean over R, G, B of the flow's HSV picture, in [0, 1].

    The picture is the usual OpenCV one: hue = flow direction, saturation 1, value = magnitude scaled min-max
    to [0, 1] within each image (0 everywhere when the magnitude is constant). With saturation 1 the channel
    mean is ``value * (1 + c) / 3``, c = 1 - |(hue / 60 deg) mod 2 - 1| (the middle channel of the HSV -> RGB
    conversion); uint8 rounding is left out.

    Args:
        flow: (N, 2, H, W) in pixels (dx, dy).

    Returns:
        (N, 1, H, W) mask, one per image.
    """
    flow = flow.float()
    magnitude = flow.norm(dim=1, keepdim=True)
    low = magnitude.amin(dim=(1, 2, 3), keepdim=True)
    span = magnitude.amax(dim=(1, 2, 3), keepdim=True) - low
    value = torch.where(span > 0, (magnitude - low) / span.clamp_min(1e-12), torch.zeros_like(magnitude))
    angle = torch.atan2(flow[:, 1:2], flow[:, 0:1]) % (2 * math.pi)
    sector = angle / (math.pi / 3)
    middle = 1 - (sector % 2 - 1).abs()
    return value * (1 + middle) / 3


def compose_flows(flows: Tensor) -> Tensor:
    """Chain one-frame backward flows into the flow over all of them.

    ``flows[:, k]`` maps frame ``b + k + 1`` to frame ``b + k`` (each pixel of the later frame to where it comes
    from in the earlier one). The result maps frame ``b + K`` to frame ``b``:
    ``F(a -> b) = f_a + warp(F(a-1 -> b), f_a)``, folded from the earliest flow on.

    Args:
        flows: (B, K, 2, H, W) in pixels, K >= 1, earliest first.

    Returns:
        (B, 2, H, W) in pixels.
    """
    total = flows[:, 0]
    for k in range(1, flows.shape[1]):
        step = flows[:, k]
        total = step + warp(total, step)
    return total


def sampling_gaps(n_frames: int, t_g: int) -> list[int]:
    """The temporal stage's frame gaps for a clip of ``n_frames``: every g >= 2 that leaves the student at least
    ``t_g`` sampled frames (ceil(n_frames / g) >= t_g). For the published clips (8 frames, tG 3) these are the
    gaps the published draw allows, {2, 3}.

    Raises:
        ValueError: the clip is too short for any gap.
    """
    gaps = [g for g in range(2, n_frames) if -(-n_frames // g) >= t_g]
    if not gaps:
        raise ValueError(f"--model tkd: a clip of {n_frames} frames leaves fewer than --n_frames_G {t_g} frames at "
                         f"a gap of 2; the clips need at least {2 * t_g - 1} frames: use --n_frames_total >= {t_g} "
                         "and sequences that long")
    return gaps
