"""The model contract: everything ``train.py`` and ``test.py`` use, declared once.

A model (``models/<name>_model.py``) subclasses :class:`BaseModel` and implements:

- ``setup()``: build networks (registered in ``self.networks`` under their checkpoint label, so files are
  ``<epoch>_net_<label>.pth``), optimizers in training, and load what the flags ask;
- ``train_sequence(batch) -> StepResult``: one optimisation step on one batch of training clips;
- ``end_epoch(epoch, longest_sequence)``: the end-of-epoch hook (schedule updates);
- ``make_inference() -> FrameGenerator``: test-time generation; ``FrameGenerator.step(item)`` takes one test
  item (one input frame) and returns the frames that are finished, ``flush()`` the rest at the end.

The base owns optimisation: optimizers registered by name (:meth:`add_optimizer`), the mixed-precision step
(:meth:`optimize`: GradScaler, gradient averaging, ``unscale_``), learning-rate updates, the resume state
(:meth:`training_state` / :meth:`load_training_state`, with a model's own schedule in :meth:`schedule_state`)
and partial loading (:meth:`load_network_partially`). A model declares its networks, its losses and their
weights (:meth:`declare_loss_weights`: one table, loss name -> weight flag); it does not write a step loop. It
checks its own flags in :meth:`validate_options`, beside ``modify_commandline_options``.

Optional: ``frames_per_clip`` (frames a training clip holds, default ``--n_frames_total``), ``render_visuals``
(training visuals as pictures) and ``finish_training`` (after the last epoch). Checkpoints are written by
:meth:`BaseModel.save` as one unit (see :mod:`util.checkpoint`).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from models.losses import LossTable, weights_from
from util.checkpoint import CheckpointError, CheckpointSet, cpu_state_dict, load_file, load_state_dict_strict
from util.distributed import DistContext, average_gradients
from util.image import input_visual, tensor2im
from util.optim import fused_adam_applies, load_optimizer_state
from util.results_writer import OutputFrame
from util.seed import get_rng_state, set_rng_state
from util.visualizer import frame_names

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepResult:
    """What one training step reports.

    Attributes:
        losses: Loss name -> value (the last chunk's, for multi-chunk steps).
        visuals: Name -> tensor to show (see :meth:`BaseModel.render_visuals`).
        frames: Frames generated (or samples processed) in this step.
    """

    losses: dict[str, float]
    visuals: dict[str, Tensor] = field(default_factory=dict)
    frames: int = 1


class FrameGenerator(ABC):
    """Test-time generation over a stream of test items, one input frame per item, in dataset order.

    A generator may hold frames back (lookahead) and emit them later, several at once; the results writer
    restores frame order within a sequence. The first frame of a sequence's first non-empty return must be its
    lowest-index frame, and no frame may be emitted below one already returned for the same sequence.
    """

    @abstractmethod
    def step(self, item: dict) -> list[OutputFrame]:
        """Feed one test item (batched by the loader: ``A`` is (1, 1, C, H, W), ``change_seq`` marks a new
        sequence); return the frames finished now (possibly none)."""

    def flush(self) -> list[OutputFrame]:
        """Frames still held back when the input ends."""
        return []


def train_state_labels(epochs: list[str]) -> list[str]:
    """The checkpoint labels that get a ``<label>_train_state.pth`` (optimizer moments, schedule, counters):
    ``latest`` only when it is among them, since ``--continue_train`` resumes from it; numbered epochs keep
    their networks (what ``--which_epoch N`` loads), not a copy of the train state (about 2/3 of a
    checkpoint's size; a resume from a numbered epoch reads ``iter.txt``, as the reference does)."""
    return ["latest"] if "latest" in epochs else list(epochs)


def output_frame(opt: argparse.Namespace, item: dict, image: Tensor, encoded: Tensor, kind: str = "") -> OutputFrame:
    """The :class:`OutputFrame` of test item ``item``, named after its input file as the reference names results.

    Args:
        opt: Test options (``label_nc``, ``dataset_mode``, ``use_instance`` choose the input picture).
        item: The test item (batched by the loader: ``A_path`` and ``frame_index`` are length-1 lists).
        image: (3, H, W) generated frame in [-1, 1].
        encoded: (C, H, W) network-ready input of that frame, shown beside it.
        kind: Page caption (``"key"``, ``"interpolated"``) or empty.

    The real frame (``item["B"]``, read with ``--use_real_img``) goes beside them in the video.
    """
    sequence, stem = frame_names(item["A_path"][0])
    visual = input_visual(encoded, label_nc=opt.label_nc, dataset_mode=opt.dataset_mode,
                          use_instance=opt.use_instance)
    real = item.get("B")
    real_visual = tensor2im(real.reshape(-1, *real.shape[-3:])[-1]) if isinstance(real, Tensor) else None
    return OutputFrame(sequence, int(item["frame_index"][0]), stem, image, visual, kind, real_visual)


class BaseModel(ABC):
    """Owns the networks of a model, their checkpoints and the declared training/inference contract.

    Args:
        opt: Parsed options.
        devices: Devices to run on (default ``opt.devices``); tests pass several CPU devices.
        dist_ctx: torch.distributed context of this process (single process when None).
    """

    def __init__(self, opt: argparse.Namespace, devices: Optional[list[torch.device]] = None,
                 dist_ctx: Optional[DistContext] = None) -> None:
        self.opt = opt
        self.devices = list(devices) if devices is not None else list(opt.devices)
        self.device = self.devices[0]
        self.dist = dist_ctx or DistContext()
        self.save_dir = os.path.join(opt.checkpoints_dir, opt.name)
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_fp16)

    #: Fewest ``--n_frames_G`` the model's generator accepts.
    min_frames_G = 1

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add model-specific flags or change defaults; the base adds nothing."""
        return parser

    #: Whether ``--autocast bf16`` applies to this model's training steps (see :meth:`autocast`).
    trains_with_autocast: bool = False

    @classmethod
    def validate_options(cls, opt: argparse.Namespace) -> Iterator[str]:
        """The model's own rules on parsed options, run by :func:`options.validation.validate` before any work:
        one line per problem, naming the flag(s) and the fix. The base has none."""
        return iter(())

    @classmethod
    def check_test_options(cls, opt: argparse.Namespace) -> None:
        """What ``test.py`` alone needs of the flags, checked before any work (parsing accepts more, for tools
        that only build the networks). Raises :class:`options.validation.OptionError`; the base needs nothing."""

    @classmethod
    def frame_divisor(cls, opt: argparse.Namespace) -> int:
        """What both sides of a generated frame must be a multiple of (checked on the dataset's frames); 1: any."""
        return 1

    # ------------------------------------------------------------------ the contract
    @abstractmethod
    def setup(self) -> None:
        """Build networks (and optimizers in training), load checkpoints as the options ask."""

    @abstractmethod
    def train_sequence(self, batch: dict) -> StepResult:
        """One training step on a batch of clips (``A``: (B, T, C, H, W), ``B``: (B, T, 3, H, W), ...)."""

    @abstractmethod
    def end_epoch(self, epoch: int, longest_sequence: int) -> None:
        """Called after epoch ``epoch`` (1-based) ends, before its checkpoint: schedule updates.

        Args:
            epoch: The epoch that ended.
            longest_sequence: Frames of the dataset's longest sequence (a cap for clip-length curricula).
        """

    @abstractmethod
    def make_inference(self) -> FrameGenerator:
        """The test-time frame generator (networks loaded by :meth:`setup`)."""

    def finish_training(self, make_dataset: Callable[[argparse.Namespace], Dataset]) -> None:
        """Called once after the last epoch, before its checkpoint: work that reads the training set again
        (the face single-frame model writes ``features.npy``). The base does nothing.

        Args:
            make_dataset: Builds the training dataset from (derived) options; models never import ``data/``.
        """

    def frames_per_clip(self, longest_sequence: int) -> int:
        """Frames a training clip holds this epoch (conditioning frames included).

        Args:
            longest_sequence: Frames of the dataset's longest sequence (a cap for curricula).
        """
        return max(1, min(self.opt.n_frames_total, longest_sequence))

    def render_visuals(self, visuals: dict[str, Tensor]) -> dict[str, np.ndarray]:
        """Training visuals as (H, W, 3) uint8 pictures; the base shows every tensor as an image in [-1, 1]."""
        return {name: tensor2im(value) for name, value in visuals.items()}

    # ------------------------------------------------------------------ losses and optimisation
    @classmethod
    def declare_loss_weights(cls) -> LossTable:
        """The model's one table of generator terms: loss name -> :class:`~models.losses.LossWeight` (the flag its
        weight follows). Terms are computed unweighted, multiplied by their weight once
        (:func:`models.losses.weigh`), and the objective is the sum of the terms the table names. The trainer
        prints the weights at the start of the log; ``train.py --model M --help`` shows the table. The base
        declares none."""
        return {}

    @functools.cached_property
    def loss_weights(self) -> dict[str, float]:
        """:meth:`declare_loss_weights` under this run's flags, built once (training options only: the weights
        are train flags)."""
        return weights_from(self.declare_loss_weights(), self.opt)

    @property
    def use_fp16(self) -> bool:
        """Mixed precision only where it exists: ``--fp16`` on a CUDA device."""
        return bool(self.opt.fp16) and self.device.type == "cuda"

    def autocast(self):
        """float16 autocast for ``--fp16`` on CUDA (the reference's apex O1); a no-op elsewhere."""
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_fp16)

    def add_optimizer(self, name: str, params, lr: float, betas: Optional[tuple[float, float]] = None
                      ) -> torch.optim.Adam:
        """Adam over ``params`` registered as ``name`` (replacing an earlier one): stepped by :meth:`optimize`,
        saved as ``optimizer_<name>`` in the training state.

        Args:
            name: The objective's name (``"G"``, ``"D"``, ``"D_T0"``, ...).
            params: The parameters it updates.
            lr: Learning rate.
            betas: Adam betas; default ``(--beta1, 0.999)``.
        """
        params = list(params)
        self.optimizers[name] = torch.optim.Adam(params, lr=lr, betas=betas or (self.opt.beta1, 0.999),
                                                 fused=fused_adam_applies(params) or None)
        return self.optimizers[name]

    def optimize(self, objectives: dict[str, Tensor], backward_first: tuple[str, ...] = ()) -> None:
        """One update per objective, in the given order, each by the optimizer of the same name.

        Each backward pass computes the gradients of its own optimizer's parameters only (``inputs=``): the
        others' would be discarded by their ``zero_grad`` anyway (the generator's objective reaches the
        discriminators' weights), so the updates are those of plain ``backward()`` calls without their cost.

        With ``--fp16`` the losses are scaled; gradients are averaged over processes before unscaling, so the
        inf check sees the same gradients in every process and all skip (or take) the same steps.

        Args:
            objectives: Optimizer name -> scalar loss, in the order of the updates.
            backward_first: Objectives whose backward pass runs before all the others', keeping the graph:
                for a graph shared with a later objective (a discriminator scored the generated sample once
                for its own loss and the generator's). Each objective's gradients come from the forward pass
                alone, so the updates are the same as in the given order.
        """
        for name in backward_first:
            self._backward(name, objectives[name], retain_graph=True)
        for name, loss in objectives.items():
            if name not in backward_first:
                self._backward(name, loss)
            self.scaler.unscale_(self.optimizers[name])
            self.scaler.step(self.optimizers[name])
        self.scaler.update()

    def _backward(self, name: str, loss: Tensor, retain_graph: bool = False) -> None:
        """Gradients of ``loss`` for the parameters of optimizer ``name`` (zeroed first), averaged over processes."""
        optimizer = self.optimizers[name]
        params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
        optimizer.zero_grad(set_to_none=True)
        if params:
            self.scaler.scale(loss).backward(inputs=params, retain_graph=retain_graph)
        average_gradients(params, self.dist)

    def set_learning_rate(self, lr: float, *names: str) -> None:
        """Set the learning rate of the optimizers ``names`` (all when none is named)."""
        for name in names or tuple(self.optimizers):
            for group in self.optimizers[name].param_groups:
                group["lr"] = lr

    # ------------------------------------------------------------------ resume state
    def schedule_state(self) -> dict:
        """The model's own schedule for an exact resume (plain numbers, strings, lists, dicts); the base has none."""
        return {}

    def load_schedule_state(self, state: dict) -> None:
        """Restore :meth:`schedule_state` from the whole training state (called before the optimizers are
        restored, so a model may rebuild one whose parameters depend on the schedule)."""

    def upgrade_training_state(self, state: dict) -> dict:
        """A training state written by older code, in today's keys. Before the base owned optimisation, a model
        with one optimizer (the template) saved it as ``optimizer``."""
        if "optimizer" in state and len(self.optimizers) == 1:
            state[f"optimizer_{next(iter(self.optimizers))}"] = state.pop("optimizer")
        return state

    def training_state(self) -> dict:
        """Optimizers (``optimizer_<name>``), the GradScaler, the RNG and :meth:`schedule_state`: plain tensors,
        numbers, strings, lists and dicts only (it is read back with a weights-only load)."""
        state = {f"optimizer_{name}": optimizer.state_dict() for name, optimizer in self.optimizers.items()}
        state.update(scaler=self.scaler.state_dict(), rng=get_rng_state(), **self.schedule_state())
        return state

    def load_training_state(self, state: dict) -> None:
        """Restore what :meth:`training_state` returned (or older code wrote, see :meth:`upgrade_training_state`)."""
        state = self.upgrade_training_state(dict(state))
        self.load_schedule_state(state)
        for name, optimizer in self.optimizers.items():
            load_optimizer_state(optimizer, state[f"optimizer_{name}"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])

    # ------------------------------------------------------------------ checkpoints
    def network_path(self, label: str, epoch: str, folder: Optional[str] = None) -> str:
        """``<folder>/<epoch>_net_<label>.pth`` (folder defaults to the experiment's checkpoint folder)."""
        return os.path.join(folder or self.save_dir, f"{epoch}_net_{label}.pth")

    def save(self, epochs: list[str], session: dict) -> None:
        """Write ``<epoch>_net_<label>.pth`` for every network (for each of ``epochs``), the train state (see
        :func:`train_state_labels`) and ``iter.txt`` as one unit: a resumed run sees either all of the new files
        or all of the old ones.

        Args:
            epochs: Checkpoint labels (``["latest"]``, or ``["latest", "5"]`` at the end of epoch 5).
            session: The training session's counters (epoch, epoch_iter, ...), saved in the train state.
        """
        unit = CheckpointSet(self.save_dir)
        states = {label: cpu_state_dict(net) for label, net in self.networks.items()}
        train_state = {"session": session, "model": self.training_state()}
        for epoch in epochs:
            for label, state in states.items():
                unit.add_tensors(os.path.basename(self.network_path(label, epoch)), state)
        for epoch in train_state_labels(epochs):
            unit.add_tensors(f"{epoch}_train_state.pth", train_state)
        unit.add_text("iter.txt", f"{session['epoch']}\n{session['epoch_iter']}\n")
        unit.commit()

    def read_training_state(self, epoch: str) -> Optional[dict]:
        """``<epoch>_train_state.pth`` loaded weights-only, or None when the run has none.

        Raises:
            CheckpointError: the file exists but cannot be read.
        """
        path = os.path.join(self.save_dir, f"{epoch}_train_state.pth")
        if not os.path.isfile(path):
            return None
        return load_file(path, map_location="cpu", what="training state",
                         hint="delete it to restart the schedule from iter.txt, or train without --continue_train")

    def load_network(self, label: str, epoch: str, folder: Optional[str] = None, required: bool = True) -> bool:
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

    def load_network_partially(self, label: str, path: str) -> int:
        """Copy the tensors of ``path`` whose name and shape exist in network ``label`` (pix2pixHD's and
        vid2vid's ``--load_pretrain``); log what is left at initialisation. Returns how many were copied.

        Raises:
            CheckpointError: the file is unreadable.
        """
        net = self.networks[label]
        own = net.state_dict()
        state = load_file(path, map_location=self.device, what=f"network {label}")
        fitting = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
        net.load_state_dict(fitting, strict=False)
        left = sorted({k.split(".")[0] for k in own if k not in fitting})
        if left:
            logger.warning("%s: %s loaded partially (%d of %d tensors); left at initialisation: %s", label, path,
                           len(fitting), len(own), ", ".join(left))
        return len(fitting)

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
