"""The model base class: devices, checkpoint folder, saving and loading networks, train/eval switches."""

from __future__ import annotations

import argparse
import logging
import os
from abc import ABC, abstractmethod

import torch
from torch import nn

from util.checkpoint import CheckpointError, atomic_save, cpu_state_dict, load_file, load_state_dict_strict

logger = logging.getLogger(__name__)


class BaseModel(ABC):
    """Owns the networks of a model and their checkpoints.

    Subclasses register networks in ``self.networks`` under their checkpoint label (``"G0"``, ``"D"``,
    ``"D_T0"``, ...), so files are named ``<epoch>_net_<label>.pth`` as in the reference.

    Args:
        opt: Parsed options.
        devices: Devices to run on (default ``opt.devices``); tests pass several CPU devices.
    """

    def __init__(self, opt: argparse.Namespace, devices: list[torch.device] | None = None) -> None:
        self.opt = opt
        self.devices = list(devices) if devices is not None else list(opt.devices)
        self.device = self.devices[0]
        self.save_dir = os.path.join(opt.checkpoints_dir, opt.name)
        self.networks: dict[str, nn.Module] = {}

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add model-specific flags or change defaults; the base adds nothing."""
        return parser

    @abstractmethod
    def setup(self) -> None:
        """Build networks (and optimizers in training), load checkpoints as the options ask."""

    # ------------------------------------------------------------------ checkpoints
    def network_path(self, label: str, epoch: str, folder: str | None = None) -> str:
        """``<folder>/<epoch>_net_<label>.pth`` (folder defaults to the experiment's checkpoint folder)."""
        return os.path.join(folder or self.save_dir, f"{epoch}_net_{label}.pth")

    def save_networks(self, epoch: str, labels: list[str] | None = None) -> None:
        """Save each network's CPU state dict atomically as ``<epoch>_net_<label>.pth``."""
        for label in labels or list(self.networks):
            atomic_save(cpu_state_dict(self.networks[label]), self.network_path(label, epoch))

    def load_network(self, label: str, epoch: str, folder: str | None = None, required: bool = True) -> bool:
        """Load ``<folder>/<epoch>_net_<label>.pth`` strictly into ``self.networks[label]``.

        Returns:
            Whether the file existed and was loaded.

        Raises:
            CheckpointError: the file is required and missing, unreadable, or of another layout.
        """
        path = self.network_path(label, epoch, folder)
        if not os.path.isfile(path):
            if required:
                raise CheckpointError(f"network {label}: checkpoint not found: {path}. Check --name, "
                                      "--checkpoints_dir, --which_epoch or --load_pretrain")
            logger.info("no checkpoint %s; network %s keeps its initialisation", path, label)
            return False
        state = load_file(path, map_location=self.device, what=f"network {label}")
        load_state_dict_strict(self.networks[label], state, source=path)
        return True

    # ------------------------------------------------------------------ modes
    def set_requires_grad(self, nets: list[nn.Module] | nn.Module, requires_grad: bool) -> None:
        """Switch gradients of every parameter of ``nets`` on or off."""
        for net in nets if isinstance(nets, list) else [nets]:
            for param in net.parameters():
                param.requires_grad_(requires_grad)

    def train(self) -> None:
        """Put every network in training mode."""
        for net in self.networks.values():
            net.train()

    def eval(self) -> None:
        """Put every network in evaluation mode."""
        for net in self.networks.values():
            net.eval()

    def parameter_counts(self) -> dict[str, int]:
        """Number of parameters per network label."""
        return {label: sum(p.numel() for p in net.parameters()) for label, net in self.networks.items()}
