"""The training session around any model: data checks, resumable epochs, logging, visuals and checkpoints.

``train.py`` runs::

    for epoch in trainer.epochs():
        for batch in trainer.batches(epoch):
            trainer.after_step(epoch, trainer.model.train_sequence(batch))
        trainer.end_epoch(epoch)

and the model is used only through the contract of :class:`models.base_model.BaseModel`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import glob
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

import torch
from torch.utils.data import DataLoader

from data import create_dataset
from models import create_model
from models.base_model import StepResult
from models.losses import format_weights
from training.sampler import EpochSampler, SeededItems
from util.checkpoint import CheckpointError, read_iter_txt, recover_checkpoints
from util.distributed import barrier, broadcast_parameters, cleanup_distributed, init_distributed
from util.progress import progress
from util.seed import seed_everything
from util.visualizer import Visualizer

logger = logging.getLogger(__name__)


@dataclass
class SessionCounters:
    """Where the run stands (saved in every checkpoint's train state)."""

    epoch: int = 1
    epoch_iter: int = 0
    total_steps: int = 0
    base_seed: int = 0


class Trainer:
    """Sets up a training run from parsed options and keeps its counters.

    Args:
        opt: Parsed training options (``parse(..., save=False)`` is fine: options are saved by the caller after
            the dataset check, so a bad dataset leaves nothing written).
        devices: Override the devices (tests pass several CPU devices).
    """

    def __init__(self, opt: argparse.Namespace, devices: Optional[list[torch.device]] = None) -> None:
        self.opt = opt
        self.dist = init_distributed(use_cuda=opt.device.type == "cuda")
        if not opt.skip_check:
            from data.check import ensure_dataset_ok

            ensure_dataset_ok(opt)
        if opt.seed is not None:
            seed_everything(opt.seed)
        self.save_dir = os.path.join(opt.checkpoints_dir, opt.name)
        if self.dist.is_main:
            recover_checkpoints(self.save_dir)
        barrier(self.dist)
        if opt.continue_train:
            check_resume_epoch(self.save_dir, opt.which_epoch)
        self.dataset = create_dataset(opt)
        self.model = create_model(opt, devices=devices or self._process_devices(), dist_ctx=self.dist)
        broadcast_parameters(self.model.networks.values(), self.dist)
        self.counters = self._initial_counters()
        self.visualizer = Visualizer(opt, enabled=self.dist.is_main)
        if self.model.loss_weights:
            self.visualizer.vis_print(f"loss weights: {format_weights(self.model.loss_weights)}")
        self._last_saved = "none yet"
        self._iter_time = time.time()

    def _process_devices(self) -> list[torch.device]:
        """One device per process under torchrun; otherwise the devices of --gpu_ids."""
        if not self.dist.enabled:
            return list(self.opt.devices)
        if self.opt.device.type == "cuda":
            return [torch.device("cuda", self.dist.local_rank)]
        return [torch.device("cpu")]

    # ------------------------------------------------------------------ resuming
    def _initial_counters(self) -> SessionCounters:
        """Fresh counters, or the saved ones with ``--continue_train`` (train state, else ``iter.txt``)."""
        opt = self.opt
        if opt.continue_train:
            saved = self.model.read_training_state(opt.which_epoch)
            if saved is not None:
                self.model.load_training_state(saved["model"])
                counters = SessionCounters(**saved["session"])
                logger.info("resuming from epoch %d, iteration %d", counters.epoch, counters.epoch_iter)
                return counters
            from_iter = self._counters_from_iter_txt()
            if from_iter is not None:
                return from_iter
            logger.warning("--continue_train: no checkpoint in %s yet; starting a new run", self.save_dir)
        seed = opt.seed if opt.seed is not None else int(torch.randint(0, 2**31 - 1, ()).item())
        return SessionCounters(base_seed=seed)

    def _counters_from_iter_txt(self) -> Optional[SessionCounters]:
        """The reference's resume: epoch and iteration from ``iter.txt``, the schedule replayed up to there."""
        path = os.path.join(self.save_dir, "iter.txt")
        if not os.path.isfile(path):
            return None
        epoch, epoch_iter = read_iter_txt(path)
        logger.warning("--continue_train: no %s_train_state.pth; resuming at epoch %d, iteration %d from %s "
                       "(optimizer state starts fresh, as in the reference)", self.opt.which_epoch, epoch,
                       epoch_iter, path)
        for done in range(1, epoch):
            self.model.end_epoch(done, self.dataset.longest_sequence())
        seed = self.opt.seed if self.opt.seed is not None else 0
        return SessionCounters(epoch=epoch, epoch_iter=epoch_iter, base_seed=seed)

    # ------------------------------------------------------------------ loop
    def epochs(self) -> Iterator[int]:
        """Epoch numbers still to train, from the resumed one."""
        yield from range(self.counters.epoch, self.opt.niter + self.opt.niter_decay + 1)

    def batches(self, epoch: int) -> Iterator[dict]:
        """This epoch's batches (resuming after the items already used), with a progress bar."""
        opt = self.opt
        self.dataset.set_clip_length(self.model.frames_per_clip(self.dataset.longest_sequence()))
        sampler = EpochSampler(len(self.dataset), base_seed=self.counters.base_seed, epoch=epoch,
                               shuffle=not opt.serial_batches, start=self.counters.epoch_iter,
                               rank=self.dist.rank, world_size=self.dist.world_size)
        # Its own generator: a DataLoader draws a base seed per iterator from the global torch RNG otherwise, and
        # a resumed run creates one more iterator mid-epoch, so its saved RNG state would differ from an
        # uninterrupted run's (items are seeded by SeededItems, so the draw changes nothing else).
        loader = DataLoader(SeededItems(self.dataset), batch_size=opt.batchSize, sampler=sampler,
                            num_workers=0 if opt.debug else opt.nThreads,
                            generator=torch.Generator().manual_seed(self.counters.base_seed + epoch))
        total = opt.niter + opt.niter_decay
        yield from progress(loader, desc=f"epoch {epoch}/{total}", disable=not self.dist.is_main, leave=False)

    def after_step(self, epoch: int, result: StepResult) -> None:
        """Advance the counters; print, display and save at their frequencies."""
        opt, counters = self.opt, self.counters
        counters.total_steps += opt.batchSize
        counters.epoch_iter += opt.batchSize
        counters.epoch = epoch
        if counters.total_steps % opt.print_freq == 0:
            elapsed = (time.time() - self._iter_time) / opt.print_freq
            self.visualizer.print_current_errors(epoch, counters.epoch_iter, result.losses, elapsed)
            self.visualizer.plot_current_errors(result.losses, counters.total_steps)
            self._iter_time = time.time()
        if counters.total_steps % opt.display_freq == 0 and self.dist.is_main:
            self.visualizer.display_current_results(self.model.render_visuals(result.visuals), epoch,
                                                    counters.total_steps)
        if counters.total_steps % opt.save_latest_freq == 0:
            self.save(["latest"])

    def end_epoch(self, epoch: int) -> None:
        """Schedule updates, then the epoch's checkpoints (so a resume starts with the updated schedule)."""
        self.model.end_epoch(epoch, self.dataset.longest_sequence())
        if epoch == self.opt.niter + self.opt.niter_decay:
            self.model.finish_training(create_dataset)
        self.counters.epoch, self.counters.epoch_iter = epoch + 1, 0
        if epoch % self.opt.save_epoch_freq == 0 or epoch == self.opt.niter + self.opt.niter_decay:
            self.save(["latest", str(epoch)])  # the last epoch always (the reference: only at the frequency)
        self.visualizer.vis_print(f"End of epoch {epoch} / {self.opt.niter + self.opt.niter_decay}")

    def save(self, labels: list[str]) -> None:
        """Write one checkpoint unit holding every label's files (main process only)."""
        if self.dist.is_main:
            self.model.save(labels, asdict(self.counters))
            self._last_saved = os.path.join(self.save_dir, f"{labels[-1]}_net_*.pth")

    def describe_failure(self, err: Exception) -> str:
        """A message for a non-finite loss naming the step and the last good checkpoint."""
        return (f"{err} at epoch {self.counters.epoch}, step {self.counters.total_steps}; training stopped. "
                f"Last good checkpoint: {self._last_saved}")

    def close(self) -> None:
        """Flush logs and leave the process group."""
        self.visualizer.close()
        cleanup_distributed(self.dist)


# What a run's start writes in its folder (the visualizer's log and pages, the options).
STARTUP_FILES = ("loss_log.txt", "web", "logs", "opt.txt", "train_opt.txt")
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def startup_writes(folder: str) -> Iterator[None]:
    """Around a run's start: a full disk removes what the start created in ``folder`` (the folder too when it
    was new) and stops with an error naming the folder, so a failed start leaves nothing behind.

    Raises:
        CheckpointError: the disk (or the quota) is full.
    """
    existed = {name for name in STARTUP_FILES if os.path.lexists(os.path.join(folder, name))}
    folder_existed = os.path.isdir(folder)
    try:
        yield
    except OSError as err:
        if err.errno not in DISK_FULL_ERRNOS:
            raise
        for name in set(STARTUP_FILES) - existed:
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.remove(path)
        if not folder_existed:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise CheckpointError(f"disk full in {folder} before training started ({err.strerror or err}); nothing "
                              "was written. Free some space or pass another --checkpoints_dir") from err


def saved_epochs(folder: str) -> list[str]:
    """The checkpoint labels of ``folder``'s networks (``latest`` first, then epochs in order)."""
    names = (os.path.basename(path) for path in glob.glob(os.path.join(glob.escape(folder), "*_net_*.pth")))
    labels = {match.group(1) for match in map(re.compile(r"([A-Za-z0-9]+)_net_").match, names) if match}
    return sorted(labels, key=lambda label: (label != "latest", int(label) if label.isdigit() else 0, label))


def check_resume_epoch(folder: str, which_epoch: str) -> None:
    """``--continue_train``: ``<which_epoch>_net_*.pth`` must exist when ``folder`` holds an earlier run.

    A folder without any checkpoint starts a new run (as the reference); one whose networks are saved under other
    labels would otherwise resume the counters with random weights and overwrite ``latest_*``.

    Raises:
        CheckpointError: naming the missing files and the labels that exist.
    """
    wanted = os.path.join(glob.escape(folder), f"{glob.escape(which_epoch)}_net_*.pth")
    if not os.path.isdir(folder) or glob.glob(wanted):
        return
    epochs = saved_epochs(folder)
    if not epochs and not os.path.isfile(os.path.join(folder, "iter.txt")):
        return
    have = f"the saved epochs are: {', '.join(epochs)}" if epochs else "it holds iter.txt but no saved networks"
    raise CheckpointError(f"--continue_train --which_epoch {which_epoch}: no checkpoint "
                          f"{os.path.join(folder, which_epoch + '_net_*.pth')}; {have}. Pass one of them to "
                          "--which_epoch, or another --name to start a new run")
