"""The vid2vid model: sequential generator, image/temporal discriminators, flow, optimizers and checkpoints.

Training follows the reference step for step: a clip is generated in chunks of ``n_frames_load`` frames, each
conditioned on the last generated frames of the previous chunk; per chunk the generator, the frame
discriminator and every active temporal discriminator are stepped, in that order.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor

from models.base_model import BaseModel, FrameGenerator, StepResult
from models.losses import LossTable
from models.networks import define_D, define_G, define_single_G
from models.networks.flow.cache import content_keys
from models.networks.video_generator import VideoGenerator
from models.vid2vid.chunks import ChunkGenerator, ChunkOutput
from models.vid2vid.criterion import (
    VID2VID_LOSS_WEIGHTS,
    FrameBatch,
    Vid2VidCriterion,
    check_finite,
    total_losses,
)
from models.vid2vid.face_box import face_box
from models.vid2vid.inference import Vid2VidInference, single_generator_path, single_generator_size
from models.vid2vid.schedule import TrainingSchedule
from models.vid2vid.temporal_groups import TemporalBuffers, collect_groups
from models.vid2vid.visuals import render_visuals, visual_tensors
from util.checkpoint import load_file, load_state_dict_strict
from util.config import derive
from util.device import autocast_dtype
from util.distributed import DistContext, min_over_ranks

logger = logging.getLogger(__name__)


#: Generator terms a caller adds to each chunk's objective: ``(chunk, history, refs, start) -> {name: term}``
#: with the chunk just generated, the previous chunk's ``fake_last`` (None for the first), the chunk's reference
#: flow (N, 2, H, W) and confidence (N, 1, H, W) (N = B * n), and the clip index of its first conditioning frame.
ChunkTerms = Callable[[ChunkOutput, Optional[list], tuple[Tensor, Tensor], int], dict[str, Tensor]]


class Vid2VidModel(BaseModel):
    """vid2vid on any list of devices: the generator on the first ``--n_gpus_gen``, the discriminators after.

    Args:
        opt: Parsed options.
        devices: Devices (default ``opt.devices``).
        dist_ctx: torch.distributed context (gradients averaged over processes when enabled).
    """

    def __init__(self, opt: argparse.Namespace, devices: list[torch.device] | None = None,
                 dist_ctx: DistContext | None = None) -> None:
        super().__init__(opt, devices, dist_ctx)
        n_gen = min(max(1, opt.n_gpus_gen), len(self.devices))
        self.gen_devices = self.devices[:n_gen]
        self.d_device = self.devices[n_gen] if n_gen < len(self.devices) else self.devices[0]
        self.t_g = opt.n_frames_G
        if self.t_g < 2:
            raise ValueError(f"--n_frames_G {self.t_g}: the vid2vid generator needs at least 2 frames "
                             "(one previous output to warp)")

    #: The generator warps its previous output: one earlier frame at least.
    min_frames_G = 2

    @classmethod
    def frame_divisor(cls, opt: argparse.Namespace) -> int:
        """Frames are rounded to multiples of 32, and the generator halves them ``--n_downsample_G`` times plus
        once per extra spatial scale."""
        return max(32, 2 ** (max(0, opt.n_downsample_G) + max(1, opt.n_scales_spatial) - 1))

    trains_with_autocast = True

    @classmethod
    def validate_options(cls, opt: argparse.Namespace) -> Iterator[str]:
        """Filters per scale, and the face discriminator's face labels."""
        if 1 <= opt.ngf < 2 ** (opt.n_scales_spatial - 1):
            yield (f"--ngf {opt.ngf} with --n_scales_spatial {opt.n_scales_spatial}: scale s has --ngf / 2**s "
                   f"filters; use --ngf >= {2 ** (opt.n_scales_spatial - 1)}")
        if opt.isTrain and opt.add_face_disc and opt.remove_face_labels and not opt.openpose_only:
            yield ("--add_face_disc finds the face by the DensePose head parts, which --remove_face_labels blanks: "
                   "the face discriminator would never run. Drop --remove_face_labels, or --add_face_disc "
                   "(or use --openpose_only, whose face is found by the OpenPose head)")
        if not opt.isTrain:
            from models.vid2vid.inference import first_frame_problems, single_generator_problems

            yield from first_frame_problems(opt)
            yield from single_generator_problems(opt)

    @classmethod
    def check_test_options(cls, opt: argparse.Namespace) -> None:
        """test.py needs one first-frame mode (``--use_real_img``, ``--use_single_G`` or ``--no_first_img``)."""
        from models.vid2vid.inference import require_first_frame_mode

        require_first_frame_mode(opt)

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        """Build the networks; in training also discriminators, flow, optimizers; load what the flags ask."""
        opt = self.opt
        if not opt.isTrain:
            self._setup_inference()
            return
        self.generator = define_G(opt).to(self.gen_devices[0])
        for s, net in enumerate(self.generator.scales):
            self.networks[f"G{s}"] = net
        discriminators = {k: v.to(self.d_device) for k, v in define_D(opt).items()}
        self.networks.update(discriminators)
        self.criterion = Vid2VidCriterion(opt, discriminators, self.loss_weights, self._face_box_fn()).to(self.d_device)
        from models.networks.flow.estimator import create_flow_estimator

        self.flow = create_flow_estimator(opt.flow_backend, opt.flownet_checkpoint, self.d_device, opt.flow_cache)
        self.schedule = TrainingSchedule(opt, opt.n_gpus_gen if opt.batchSize == 1 else 1)
        self.chunks = ChunkGenerator(opt, self.gen_devices, self.schedule)
        self._make_optimizers()
        if opt.continue_train and os.path.isfile(self.network_path("G0", opt.which_epoch)):
            self._load_generator(opt.which_epoch, None, all_required=False)
            self._load_discriminators(opt.which_epoch, None, partial=False)
        elif opt.load_pretrain:
            self._load_generator(opt.which_epoch, opt.load_pretrain, all_required=False)
            self._load_discriminators(opt.which_epoch, opt.load_pretrain, partial=True)

    def _setup_inference(self) -> None:
        """test.py: the generator built on ``meta`` (no memory, no random initialisation: every weight comes
        from the checkpoint), loaded, then moved to the generator device."""
        opt = self.opt
        with torch.device("meta"):
            self.generator = define_G(opt)
        for s, net in enumerate(self.generator.scales):
            self.networks[f"G{s}"] = net
        self._load_generator(opt.which_epoch, None, all_required=True)
        self.generator.to(self.gen_devices[0])
        self.inference = Vid2VidInference(opt, self.generator, self.device)
        if opt.use_single_G and not (opt.use_real_img or opt.no_first_img):
            self._load_single_generator()

    def _load_single_generator(self) -> None:
        """The pretrained first-frame generator of ``--use_single_G`` (street by size, or the face models)."""
        opt = self.opt
        if opt.dataset_mode == "face":
            from models.networks import define_single_E
            from models.single.face_first_frame import load_face_first_frame

            folder = opt.single_G_dir or os.path.join(opt.checkpoints_dir, "edge2face_single")
            self.inference.face_first = load_face_first_frame(folder, define_single_G(opt), define_single_E(opt),
                                                              self.device)
            return
        single_opt = derive(opt, loadSize=single_generator_size(opt))
        with torch.device("meta"):  # every weight comes from the checkpoint
            single_g = define_single_G(single_opt)
        self.inference.load_single_generator(single_g, single_generator_path(opt))

    def _face_box_fn(self):
        if not self.opt.add_face_disc:
            return None
        return lambda encoded: face_box(encoded, self.opt.fineSize, self.opt.openpose_only)

    @classmethod
    def declare_loss_weights(cls) -> LossTable:
        """vid2vid's table (:data:`~models.vid2vid.criterion.VID2VID_LOSS_WEIGHTS`)."""
        return dict(VID2VID_LOSS_WEIGHTS)

    def make_inference(self) -> FrameGenerator:
        """The streaming generator of test.py (built and loaded by :meth:`setup`)."""
        return self.inference

    @property
    def finetune_all(self) -> bool:
        """Whether every spatial scale trains (the schedule's coarse-to-fine switch)."""
        return self.schedule.train_all_scales

    def _generator_params(self) -> list:
        scales = self.generator.scales
        chosen = list(scales) if self.finetune_all else [scales[-1]]
        return [p for net in chosen for p in net.parameters()]

    def _make_optimizers(self) -> None:
        """G and the frame D (with the face D) at the schedule's rates and betas; each temporal D at ``--lr``."""
        schedule = self.schedule
        self.add_optimizer("G", self._generator_params(), schedule.lr_g, schedule.betas)
        d_params = [p for k in ("D", "D_f") if k in self.networks for p in self.networks[k].parameters()]
        self.add_optimizer("D", d_params, schedule.lr_d, schedule.betas)
        for s in range(self.opt.n_scales_temporal):
            self.add_optimizer(f"D_T{s}", self.networks[f"D_T{s}"].parameters(), self.opt.lr)

    # ------------------------------------------------------------------ loading
    def _load_generator(self, epoch: str, folder: Optional[str], all_required: bool) -> None:
        """G0 is required; finer scales too at test, optional in coarse-to-fine training."""
        for s in range(len(self.generator.scales)):
            self.load_network(f"G{s}", epoch, folder, required=all_required or s == 0)

    def _load_discriminators(self, epoch: str, folder: Optional[str], partial: bool) -> None:
        """Discriminators are optional; from --load_pretrain, sub-discriminators that exist are kept."""
        for label in [k for k in self.networks if k.startswith("D")]:
            path = self.network_path(label, epoch, folder)
            if not os.path.isfile(path):
                logger.info("no checkpoint %s; %s keeps its initialisation", path, label)
            elif partial:
                self.load_network_partially(label, path)
            else:
                load_state_dict_strict(self.networks[label], load_file(path, self.d_device), source=path)

    # ------------------------------------------------------------------ generation
    def _unpack(self, data: dict) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        device = self.gen_devices[0]
        inst = data.get("inst") if self.opt.use_instance else None  # face mode's "inst" is a part map
        inst = inst.to(device, non_blocking=True) if isinstance(inst, Tensor) and inst.dim() == 5 else None
        return data["A"].to(device, non_blocking=True), data["B"].to(device, non_blocking=True), inst

    def first_frames(self, real: Tensor) -> list[Tensor]:
        """The tG-1 frames before the first generated one, as a pyramid (finest first): zeros or real frames."""
        return self.chunks.first_frames(real)

    def generate_chunk(self, label: Tensor, real: Tensor, inst: Optional[Tensor],
                       history: Optional[list], generator: Optional[VideoGenerator] = None) -> ChunkOutput:
        """Generate the ``T - tG + 1`` new frames of a chunk of ``T`` input frames (see
        :meth:`models.vid2vid.chunks.ChunkGenerator.generate`); ``generator`` defaults to the model's own."""
        return self.chunks.generate(generator or self.generator, label, real, inst, history)

    # ------------------------------------------------------------------ training
    def train_sequence(self, data: dict) -> StepResult:
        """Train on one batch of clips: every chunk is generated, scored and stepped as the reference does."""
        return self.train_clip(*self._unpack(data))

    def chunk_windows(self, n_frames: int, partial: bool = False) -> list[slice]:
        """The windows a clip of ``n_frames`` frames is generated in: tG-1 conditioning frames plus the chunk's
        new frames each. Whole chunks only (as the reference trains), or with ``partial`` also a shorter last
        window, so that every frame from tG-1 on is generated."""
        n_load = min(self.schedule.frames_per_chunk, n_frames - self.t_g + 1)
        t_len = n_load + self.t_g - 1
        last_start = n_frames - (self.t_g if partial else t_len)
        return [slice(start, min(n_frames, start + t_len)) for start in range(0, last_start + 1, max(1, n_load))]

    def train_clip(self, label: Tensor, real: Tensor, inst: Optional[Tensor],
                   extra_terms: Optional[ChunkTerms] = None) -> StepResult:
        """Train on clips already on the generator device, chunk by chunk.

        Under torchrun every process uses as many frames as the shortest clip of all processes, so all run
        the same number of optimizer steps.

        Args:
            label: (B, T, C_in, H, W) label ids or input images.
            real: (B, T, 3, H, W) real frames in [-1, 1].
            inst: (B, T, 1, H, W) instance ids, or None.
            extra_terms: Generator terms added to each chunk's objective (distillation), unweighted; their
                names must be in the model's weight table. None: vid2vid's objective only.
        """
        n_frames = min_over_ranks(real.shape[1], self.dist)
        if n_frames < self.t_g:
            raise ValueError(f"a training clip has {n_frames} frames; --n_frames_G {self.t_g} needs at least "
                             f"{self.t_g}. Use longer sequences or a smaller --n_frames_G")
        history, buffers = None, TemporalBuffers()
        losses, visuals, generated = {}, {}, 0
        for window in self.chunk_windows(n_frames):
            with self.autocast():
                chunk = self.generate_chunk(label[:, window], real[:, window],
                                            None if inst is None else inst[:, window], history)
                frame_losses, temporal, buffers, refs = self.chunk_losses(chunk, history, buffers, window.start)
                extra = {} if extra_terms is None else self.criterion.weighted(
                    extra_terms(chunk, history, refs, window.start))
            history = chunk.fake_last
            losses = self.step_chunk(frame_losses, temporal, extra)
            del frame_losses, temporal, extra  # the discriminators' retained real-side graphs go with them
            visuals = visual_tensors(chunk, refs, visuals, first=window.start == 0)
            generated += chunk.fake.shape[0] * chunk.fake.shape[1]
        return StepResult(losses, visuals, generated)

    def chunk_losses(self, chunk: ChunkOutput, history: Optional[list], buffers: TemporalBuffers, start: int):
        """Frame and temporal losses of one chunk (the reference's modelD(0, ...) and modelD(s+1, ...))."""
        dev = self.d_device
        real_prev, real_now = chunk.real_with_prev[:, :-1].to(dev), chunk.real_with_prev[:, 1:].to(dev)
        flow_ref, conf_ref = self.reference_flow(real_now, real_prev)
        first = real_prev[:, :1] if history is None else history[0][:, -1:].to(dev)
        fake = chunk.fake.to(dev)
        fake_prev = torch.cat([first, fake[:, :-1].detach()], dim=1)
        batch = FrameBatch(*(_flat(x, dev) for x in (
            real_now, fake, chunk.fake_raw, chunk.label, real_prev, fake_prev, chunk.flow, chunk.weight,
            flow_ref, conf_ref)))
        frame = self.criterion.frame_losses(batch)
        buffers, groups = collect_groups(buffers, real_now, fake, flow_ref, conf_ref,
                                         n_scales=self.opt.n_scales_temporal, t_d=self.opt.n_frames_D,
                                         flow_fn=self.reference_flow, sparse=self.opt.sparse_D, chunk_start=start)
        temporal = [self.criterion.temporal_losses(s, groups.real[s], groups.fake[s], groups.flow[s])
                    for s in range(self.opt.n_scales_temporal) if groups.real[s] is not None]
        return frame, temporal, buffers, (flow_ref, conf_ref)

    def reference_flow(self, current: Tensor, previous: Tensor) -> tuple[Tensor, Tensor]:
        """Flow of real frame pairs (current -> previous) and its confidence; with ``--flow_cache`` the pairs
        are keyed by their pixel content, so any flip or crop of the same frames finds its own entry."""
        keys = content_keys(current, previous) if self.opt.flow_cache else None
        return self.flow(current, previous, keys=keys) if keys is not None else self.flow(current, previous)

    def step_chunk(self, frame: dict, temporal: list, extra: dict) -> dict[str, float]:
        """Three separate updates, in the reference's order: G, frame D, then each active temporal D; returns
        the chunk's losses as plain floats (see :func:`~models.vid2vid.criterion.report_losses`).

        ``extra`` holds weighted generator terms beyond vid2vid's (``train_clip``'s ``extra_terms``). The
        discriminators scored each generated sample once for their terms and G's (``criterion.shared_fake``),
        so their gradients are taken first, while that graph is still there; the updates keep the order.
        """
        values = check_finite({**frame, **extra}, temporal)
        loss_g, loss_d, loss_d_t = total_losses({**frame, **extra}, temporal, self.loss_weights)
        objectives = {"G": loss_g, "D": loss_d}
        objectives.update({f"D_T{s}": loss for s, loss in enumerate(loss_d_t)})
        first = tuple(name for name in objectives if name != "G") if self.criterion.shared_fake else ()
        self.optimize(objectives, backward_first=first)
        return values

    def autocast(self):
        """float16 autocast for ``--fp16`` on CUDA (the reference's apex O1), bfloat16 for ``--autocast bf16``
        (CPU or CUDA); a no-op otherwise."""
        dtype = torch.float16 if self.use_fp16 else autocast_dtype(self.opt.autocast)
        return torch.autocast(device_type=self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    # ------------------------------------------------------------------ schedule
    def frames_per_clip(self, longest_sequence: int) -> int:
        """Whole chunks plus the tG-1 conditioning frames, at the curriculum's current length."""
        return self.schedule.clip_length(longest_sequence)

    def end_epoch(self, epoch: int, longest_sequence: int) -> None:
        """Learning-rate decay, clip-length curriculum and coarse-to-fine, as the schedule decides."""
        change = self.schedule.end_epoch(epoch, longest_sequence)
        if change.unfreeze_scales:
            self.unfreeze_all_scales()
        elif change.lr_changed:
            self._apply_learning_rate()

    def _apply_learning_rate(self) -> None:
        """Set G and frame-D learning rates from the schedule (TTUR factors kept; temporal Ds not decayed)."""
        self.set_learning_rate(self.schedule.lr_g, "G")
        self.set_learning_rate(self.schedule.lr_d, "D")

    def unfreeze_all_scales(self) -> None:
        """After ``--niter_fix_global`` epochs: train every scale with a fresh Adam, as the reference."""
        self.add_optimizer("G", self._generator_params(), self.schedule.state.lr)

    # ------------------------------------------------------------------ resume state and visuals
    def schedule_state(self) -> dict:
        """The schedule (learning rate, curriculum, coarse-to-fine)."""
        return {"schedule": self.schedule.state_dict()}

    def load_schedule_state(self, state: dict) -> None:
        """The schedule; a fresh generator optimizer over every scale if the saved run had unfrozen them."""
        was_all = self.finetune_all
        self.schedule.load_state_dict(state["schedule"])
        if self.finetune_all and not was_all:
            self.unfreeze_all_scales()

    def upgrade_training_state(self, state: dict) -> dict:
        """Before the base owned optimisation the temporal optimizers were one list, ``optimizers_D_T``."""
        for s, opt_state in enumerate(state.pop("optimizers_D_T", [])):
            state[f"optimizer_D_T{s}"] = opt_state
        return super().upgrade_training_state(state)

    def render_visuals(self, visuals: dict[str, Tensor]) -> dict[str, np.ndarray]:
        """The last chunk's tensors -> pictures: input, frames, flows and confidences."""
        return render_visuals(visuals, self.opt)


def _flat(x: Optional[Tensor], device: torch.device) -> Optional[Tensor]:
    """(B, T, C, H, W) -> (B*T, C, H, W) on ``device``."""
    return None if x is None else x.reshape(-1, *x.shape[2:]).to(device)
