"""The training schedule of vid2vid, in one object saved with the training state.

It owns what the reference spreads over its model, dataset and training script:

- learning rate: constant for ``--niter`` epochs, then linear decay to 0 over ``--niter_decay``; with
  ``--TTUR`` the generator gets half and the discriminators twice the rate (kept after every decay);
- clip-length curriculum: every ``--niter_step`` epochs the clip doubles (from ``--n_frames_total``, capped at
  ``min(128, longest sequence) - (n_frames_G - 1)``), and with it the frames generated per device and chunk
  and the frames back-propagated through;
- coarse-to-fine: with several spatial scales and ``--niter_fix_global N``, only the finest scale trains for
  the first N epochs (the coarser ones come from ``--load_pretrain``), then every scale.

Datasets are told only how many frames a clip has (:meth:`TrainingSchedule.clip_length`).
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import asdict, dataclass

logger = logging.getLogger(__name__)


def learning_rate(base_lr: float, epoch: int, niter: int, niter_decay: int) -> float:
    """Learning rate used during ``epoch``: constant for ``niter`` epochs, then linear decay to 0.

    The reference updates after each epoch ends, so epoch ``niter + k + 1`` trains with
    ``base_lr * (1 - k / niter_decay)``.
    """
    if epoch <= niter + 1 or niter_decay <= 0:
        return base_lr
    done = epoch - 1 - niter
    return base_lr * max(0.0, 1.0 - done / niter_decay)


@dataclass
class ScheduleState:
    """The schedule's moving parts (saved in the training state)."""

    lr: float
    train_all_scales: bool
    n_frames_total: int  # frames generated per clip (the curriculum's current length)
    frames_per_device: int  # frames generated per generator device and chunk
    frames_backprop: int  # frames back-propagated through before the history is detached


@dataclass(frozen=True)
class EpochChange:
    """What changed at the end of an epoch (the model applies it to its optimizers)."""

    lr_changed: bool
    unfreeze_scales: bool


class TrainingSchedule:
    """vid2vid's schedule.

    Args:
        opt: Training options (``lr``, ``niter``, ``niter_decay``, ``niter_step``, ``niter_fix_global``,
            ``TTUR``, ``n_frames_total``, ``n_frames_G``, ``max_frames_per_gpu``, ``max_frames_backpropagate``,
            ``n_scales_spatial``).
        n_gen_devices: Generator devices a chunk is spread over (the reference's GPUs per batch).
    """

    def __init__(self, opt: argparse.Namespace, n_gen_devices: int) -> None:
        self.opt, self.n_devices = opt, max(1, n_gen_devices)
        self.state = ScheduleState(
            lr=opt.lr, train_all_scales=opt.niter_fix_global == 0 or opt.n_scales_spatial == 1,
            n_frames_total=opt.n_frames_total,
            frames_per_device=max(1, min(opt.max_frames_per_gpu, opt.n_frames_total // self.n_devices)),
            frames_backprop=1)

    # ------------------------------------------------------------------ queries
    @property
    def lr_g(self) -> float:
        """Generator learning rate (half with TTUR)."""
        return self.state.lr / 2 if self.opt.TTUR else self.state.lr

    @property
    def lr_d(self) -> float:
        """Frame-discriminator learning rate (twice with TTUR)."""
        return self.state.lr * 2 if self.opt.TTUR else self.state.lr

    @property
    def betas(self) -> tuple[float, float]:
        """Adam betas of G and D: (0, 0.9) with TTUR, else (beta1, 0.999)."""
        return (0.0, 0.9) if self.opt.TTUR else (self.opt.beta1, 0.999)

    @property
    def frames_per_chunk(self) -> int:
        """Frames generated per chunk (all generator devices together)."""
        return self.n_devices * self.state.frames_per_device

    @property
    def train_all_scales(self) -> bool:
        """Whether every spatial scale trains (else only the finest)."""
        return self.state.train_all_scales

    @property
    def frames_backprop(self) -> int:
        """Frames back-propagated through before the previous outputs are detached."""
        return self.state.frames_backprop

    def clip_length(self, seq_len: int) -> int:
        """Frames a clip of a ``seq_len``-frame sequence holds: whole chunks plus the tG-1 conditioning frames.

        The reference's ``get_video_params``: the generated frames are rounded down to a multiple of the
        frames per chunk (GPUs x ``--max_frames_per_gpu``).
        """
        t_g = self.opt.n_frames_G
        n_total = max(1, min(self.state.n_frames_total, seq_len - t_g + 1))
        per_load = max(1, min(n_total, self.opt.max_frames_per_gpu * self.n_devices))
        return per_load * (n_total // per_load) + t_g - 1

    # ------------------------------------------------------------------ updates
    def end_epoch(self, epoch: int, longest_sequence: int) -> EpochChange:
        """Advance after epoch ``epoch``: learning rate, curriculum, coarse-to-fine."""
        opt = self.opt
        new_lr = learning_rate(opt.lr, epoch + 1, opt.niter, opt.niter_decay)
        lr_changed = new_lr != self.state.lr
        self.state.lr = new_lr
        if opt.niter_step > 0 and epoch % opt.niter_step == 0:
            self._grow_clips(epoch // opt.niter_step, longest_sequence)
        unfreeze = (not self.state.train_all_scales and opt.niter_fix_global != 0
                    and epoch == opt.niter_fix_global)
        if unfreeze:
            self.state.train_all_scales = True
        return EpochChange(lr_changed=lr_changed, unfreeze_scales=unfreeze)

    def _grow_clips(self, ratio: int, longest_sequence: int) -> None:
        """Double the clip ``ratio`` times from ``--n_frames_total`` (reference ``update_training_batch``)."""
        opt, state = self.opt, self.state
        cap = min(128, longest_sequence) - (opt.n_frames_G - 1)
        grown = opt.n_frames_total * 2 ** ratio
        if state.n_frames_total < cap:
            state.n_frames_total = min(cap, grown)
            logger.info("training clips now have %d frames", state.n_frames_total)
        state.frames_per_device = max(1, min(opt.max_frames_per_gpu, grown // self.n_devices))
        n_load = self.frames_per_chunk
        state.frames_backprop = n_load // math.ceil(n_load / min(opt.max_frames_backpropagate, 2 ** ratio))

    # ------------------------------------------------------------------ saving
    def state_dict(self) -> dict:
        """Plain numbers, for the training state."""
        return asdict(self.state)

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.state = ScheduleState(**state)
