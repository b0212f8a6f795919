"""A template model: copy this file to ``models/<name>_model.py`` to add ``--model <name>``.

The registry finds the one ``BaseModel`` subclass whose lowercased name is ``<name>model`` (here
``TemplateModel`` for ``--model template``). Fill in:

- ``modify_commandline_options``: flags of this model, or changed defaults (``parser.set_defaults``);
- ``setup``: build networks with the factories in ``models/networks`` and register each under its checkpoint
  label in ``self.networks`` (files are then ``<epoch>_net_<label>.pth``); build optimizers when training;
- ``train_sequence``: one optimisation step on a batch from the dataset, returning losses by name;
- ``inference``: an object with ``step(frame_batch)`` returning a generated frame or None (see
  ``models/vid2vid_inference.py``), used by test.py.
"""

from __future__ import annotations

import argparse
from typing import NamedTuple

import torch
from torch import nn

from models.base_model import BaseModel


class TemplateResult(NamedTuple):
    """Losses by name (floats) and tensors to display."""

    losses: dict
    visuals: dict


class TemplateModel(BaseModel):
    """A per-frame L1 regression from the input to the real frame: the smallest complete model."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add a flag of this model (only parsed when ``--model template``)."""
        parser.add_argument("--lambda_template", type=float, default=1.0, help="weight of the L1 loss")
        return parser

    def setup(self) -> None:
        """One 3x3 convolution from the input channels to RGB, with Adam in training."""
        in_nc = self.opt.label_nc or self.opt.input_nc
        self.networks["G0"] = nn.Conv2d(in_nc, self.opt.output_nc, 3, padding=1).to(self.device)
        if self.opt.isTrain:
            self.optimizer = torch.optim.Adam(self.networks["G0"].parameters(), lr=self.opt.lr)

    def train_sequence(self, data: dict) -> TemplateResult:
        """data["A"]: (B, T, C, H, W) inputs, data["B"]: (B, T, 3, H, W) targets in [-1, 1]."""
        inputs = data["A"].to(self.device).flatten(0, 1)
        target = data["B"].to(self.device).flatten(0, 1)
        fake = torch.tanh(self.networks["G0"](inputs))
        loss = torch.nn.functional.l1_loss(fake, target) * self.opt.lambda_template
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return TemplateResult({"G_L1": float(loss)}, {"fake_image": fake[0].detach()})
