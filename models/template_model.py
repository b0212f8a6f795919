"""A template model: copy this file to ``models/<name>_model.py`` to add ``--model <name>``.

The registry finds the one ``BaseModel`` subclass whose lowercased name is ``<name>model`` (here
``TemplateModel`` for ``--model template``). It is complete: ``train.py --model template`` and
``test.py --model template`` run it end to end. Fill in:

- ``modify_commandline_options``: flags of this model, or changed defaults (``parser.set_defaults``);
- ``setup``: build networks with the factories in ``models/networks`` and register each under its checkpoint
  label in ``self.networks`` (files are then ``<epoch>_net_<label>.pth``); in training one optimizer per
  objective with ``self.add_optimizer(name, params, lr)``;
- ``train_sequence``: the losses of a batch from the dataset, weighted by name (``self.loss_weights``), then
  ``self.optimize({name: objective})``: the base runs the (mixed-precision) step; return a ``StepResult``;
- ``end_epoch``: schedule updates after each epoch (``self.set_learning_rate``);
- ``schedule_state`` / ``load_schedule_state``: only if the model keeps a schedule of its own (optimizers, the
  GradScaler and the RNG are saved by the base);
- ``make_inference``: a ``FrameGenerator`` whose ``step(item)`` returns the finished ``OutputFrame``s.
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

from models.base_model import BaseModel, FrameGenerator, StepResult, output_frame
from models.losses import LossTable, LossWeight, weigh, weighted_total
from models.networks import input_channels
from models.networks.input_encoding import encode_input
from models.vid2vid.schedule import learning_rate
from util.results_writer import OutputFrame


class TemplateModel(BaseModel):
    """A per-frame L1 regression from the encoded input to the real frame: the smallest complete model."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add a flag of this model (only parsed when ``--model template``)."""
        parser.add_argument("--lambda_template", type=float, default=1.0, help="weight of the L1 loss (new)")
        return parser

    @classmethod
    def declare_loss_weights(cls) -> LossTable:
        """The loss terms by name and the flag each weight follows (the weights are printed at the start of the
        training log; ``train.py --model template --help`` shows the table)."""
        return {"G_L1": LossWeight("lambda_template")}

    def setup(self) -> None:
        """One 3x3 convolution from the input channels to RGB; Adam in training; weights loaded at test."""
        opt = self.opt
        self.networks["G0"] = nn.Conv2d(input_channels(opt), opt.output_nc, 3, padding=1).to(self.device)
        if opt.isTrain:
            self.add_optimizer("G", self.networks["G0"].parameters(), opt.lr)
            if opt.continue_train:
                self.load_network("G0", opt.which_epoch, required=False)
        else:
            self.load_network("G0", opt.which_epoch)

    def encode(self, batch: dict) -> Tensor:
        """(B, T, C', H, W) network input: one-hot labels (or the images) plus instance edges."""
        inst = batch.get("inst") if self.opt.use_instance else None
        inst = inst.to(self.device) if isinstance(inst, Tensor) and inst.dim() == 5 else None
        return encode_input(batch["A"].to(self.device), inst, self.opt.label_nc)

    def generate(self, encoded: Tensor) -> Tensor:
        """(N, C', H, W) input -> (N, 3, H, W) frames in [-1, 1]."""
        return torch.tanh(self.networks["G0"](encoded))

    def train_sequence(self, batch: dict) -> StepResult:
        """``A``: (B, T, C, H, W) inputs, ``B``: (B, T, 3, H, W) targets in [-1, 1]; every frame is a sample."""
        encoded = self.encode(batch).flatten(0, 1)
        target = batch["B"].to(self.device).flatten(0, 1)
        with self.autocast():
            fake = self.generate(encoded)
            losses = weigh({"G_L1": torch.nn.functional.l1_loss(fake, target)}, self.loss_weights)
        self.optimize({"G": weighted_total(losses, self.loss_weights)})
        return StepResult({k: float(v.detach()) for k, v in losses.items()},
                          {"fake_image": fake[0].detach(), "real_image": target[0]}, frames=fake.shape[0])

    def end_epoch(self, epoch: int, longest_sequence: int) -> None:
        """Linear learning-rate decay after ``--niter`` epochs, as vid2vid."""
        self.set_learning_rate(learning_rate(self.opt.lr, epoch + 1, self.opt.niter, self.opt.niter_decay))

    def make_inference(self) -> FrameGenerator:
        """Every test frame generated on its own, as soon as it arrives."""
        return TemplateFrames(self)


class TemplateFrames(FrameGenerator):
    """Per-frame generation: one finished frame per test item."""

    def __init__(self, model: TemplateModel) -> None:
        self.model = model

    @torch.no_grad()
    def step(self, item: dict) -> list[OutputFrame]:
        """One test item (``A``: (1, 1, C, H, W)) -> its generated frame."""
        encoded = self.model.encode(item)[:, -1]
        image = self.model.generate(encoded)
        return [output_frame(self.model.opt, item, image[0], encoded[0])]
