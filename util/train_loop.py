"""The training session around the model: data checks, resumable epochs, logging, visuals and checkpoints."""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Iterator

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from data import create_dataset
from models import create_model
from util.distributed import DistContext, broadcast_parameters, cleanup_distributed, init_distributed
from util.image import input_visual, tensor2flow, tensor2im
from util.seed import seed_everything
from util.training import EpochSampler, SeededItems, TrainingState
from util.visualizer import Visualizer

logger = logging.getLogger(__name__)


class Trainer:
    """Sets up a training run from parsed options and keeps its counters.

    Args:
        opt: Parsed training options (``parse(..., save=False)`` is fine: options are saved here, after the
            dataset check, so a bad dataset leaves nothing written).
        devices: Override the devices (tests pass several CPU devices).
    """

    def __init__(self, opt: argparse.Namespace, devices: list[torch.device] | None = None) -> None:
        self.opt = opt
        self.dist = init_distributed(use_cuda=opt.device.type == "cuda")
        if not opt.skip_check:
            from data.check import ensure_dataset_ok

            ensure_dataset_ok(opt)
        if opt.seed is not None:
            seed_everything(opt.seed)
        devices = devices or self._process_devices()
        self.dataset = create_dataset(opt)
        self.model = create_model(opt, devices=devices, dist_ctx=self.dist)
        broadcast_parameters(self.model.networks.values(), self.dist)
        self.state = self._initial_state()
        self.dataset.set_n_frames_total(self.state.n_frames_total)
        self.visualizer = Visualizer(opt, enabled=self.dist.is_main)
        self._last_saved = "none yet"
        self._iter_time = time.time()

    def _process_devices(self) -> list[torch.device]:
        """One device per process under torchrun; otherwise the devices of --gpu_ids."""
        if not self.dist.enabled:
            return list(self.opt.devices)
        if self.opt.device.type == "cuda":
            return [torch.device("cuda", self.dist.local_rank)]
        return [torch.device("cpu")]

    def _initial_state(self) -> TrainingState:
        opt = self.opt
        if opt.continue_train:
            state = self.model.load_training_state(opt.which_epoch)
            if state is not None:
                logger.info("resuming from epoch %d, iteration %d", state.epoch, state.epoch_iter)
                return state
            logger.warning("--continue_train: no %s_train_state.pth in %s; starting the schedule from epoch 1",
                           opt.which_epoch, self.model.save_dir)
        seed = opt.seed if opt.seed is not None else int(torch.randint(0, 2**31 - 1, ()).item())
        return TrainingState(base_seed=seed, n_frames_total=opt.n_frames_total)

    # ------------------------------------------------------------------ loop
    def epochs(self) -> Iterator[int]:
        """Epoch numbers still to train, from the resumed one."""
        yield from range(self.state.epoch, self.opt.niter + self.opt.niter_decay + 1)

    def batches(self, epoch: int) -> Iterator[dict]:
        """This epoch's batches (resuming after the items already used), with a progress bar."""
        opt = self.opt
        sampler = EpochSampler(len(self.dataset), base_seed=self.state.base_seed, epoch=epoch,
                               shuffle=not opt.serial_batches, start=self.state.epoch_iter,
                               rank=self.dist.rank, world_size=self.dist.world_size)
        loader = DataLoader(SeededItems(self.dataset), batch_size=opt.batchSize, sampler=sampler,
                            num_workers=0 if opt.debug else opt.nThreads)
        total = opt.niter + opt.niter_decay
        yield from tqdm(loader, desc=f"epoch {epoch}/{total}", disable=not self.dist.is_main, leave=False)

    def after_step(self, epoch: int, result) -> None:
        """Advance the counters; print, display and save at their frequencies."""
        opt, state = self.opt, self.state
        state.total_steps += opt.batchSize
        state.epoch_iter += opt.batchSize
        state.epoch = epoch
        if state.total_steps % opt.print_freq == 0:
            elapsed = (time.time() - self._iter_time) / opt.print_freq
            self.visualizer.print_current_errors(epoch, state.epoch_iter, result.losses, elapsed)
            self.visualizer.plot_current_errors(result.losses, state.total_steps)
            self._iter_time = time.time()
        if state.total_steps % opt.display_freq == 0:
            self.visualizer.display_current_results(self.visuals(result.visuals), epoch, state.total_steps)
        if state.total_steps % opt.save_latest_freq == 0:
            self.save("latest")

    def end_epoch(self, epoch: int) -> None:
        """Schedule updates, then the epoch's checkpoints (so a resume starts with the updated schedule)."""
        self.model.update_epoch(epoch, self.dataset)
        self.state.epoch, self.state.epoch_iter = epoch + 1, 0
        self.state.n_frames_total = self.dataset.n_frames_total
        if epoch % self.opt.save_epoch_freq == 0:
            self.save("latest")
            self.save(str(epoch))
        self.visualizer.vis_print(f"End of epoch {epoch} / {self.opt.niter + self.opt.niter_decay}")

    def save(self, label: str) -> None:
        """Write checkpoints (main process only)."""
        if self.dist.is_main:
            self.model.save(label, self.state)
            self._last_saved = os.path.join(self.model.save_dir, f"{label}_net_*.pth")

    def visuals(self, tensors: dict) -> dict:
        """Tensors of the last chunk -> uint8 pictures for the web page and TensorBoard."""
        opt = self.opt
        pictures = {"input_image": input_visual(tensors["input"], label_nc=opt.label_nc,
                                                dataset_mode=opt.dataset_mode, use_instance=opt.use_instance)}
        for key in ("fake_image", "fake_first_image", "fake_raw_image", "real_image"):
            if key in tensors:
                pictures[key] = tensor2im(tensors[key])
        pictures["flow_ref"] = tensor2flow(tensors["flow_ref"])
        pictures["conf_ref"] = tensor2im(tensors["conf_ref"], normalize=False)
        if "flow" in tensors:
            pictures["flow"] = tensor2flow(tensors["flow"])
            pictures["weight"] = tensor2im(tensors["weight"], normalize=False)
        return pictures

    def describe_failure(self, err: Exception) -> str:
        """A message for a non-finite loss naming the step and the last good checkpoint."""
        return (f"{err} at epoch {self.state.epoch}, step {self.state.total_steps}; training stopped. "
                f"Last good checkpoint: {self._last_saved}")

    def close(self) -> None:
        """Flush logs and leave the process group."""
        self.visualizer.close()
        cleanup_distributed(self.dist)


__all__ = ["Trainer", "DistContext"]
