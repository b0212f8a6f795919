"""Loss functions of vid2vid: GAN (LSGAN or logistic), feature matching, VGG perceptual, masked L1.

``discriminator_losses`` gives the reference's ``compute_loss_D`` terms by name (``G_GAN``, ``G_GAN_Feat``,
``D_real``, ``D_fake``); weighting by ``lambda_*`` happens where the reference does it.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from util.checkpoint import load_file

logger = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
DOutput = Union[Sequence[Tensor], Sequence[Sequence[Tensor]]]


class GANLoss(nn.Module):
    """Adversarial loss on discriminator outputs.

    Args:
        mode: ``"ls"`` (MSE to constant targets, what the reference always uses) or ``"original"``
            (binary cross-entropy on logits).
        real_label: Target for real samples.
        fake_label: Target for fake samples.

    Raises:
        ValueError: for any other mode.
    """

    def __init__(self, mode: str = "ls", real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        if mode not in ("ls", "original"):
            raise ValueError(f"unknown GAN mode {mode!r}; choose 'ls' or 'original'")
        self.mode, self.real_label, self.fake_label = mode, real_label, fake_label

    def _single(self, pred: Tensor, target_is_real: bool) -> Tensor:
        """pred: (N, 1, h, w) scores -> scalar loss against a constant target on pred's device and dtype."""
        target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
        if self.mode == "ls":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)

    def forward(self, pred: DOutput, target_is_real: bool) -> Tensor:
        """pred: multiscale D output (list per scale of feature lists) or one feature list -> scalar.

        Multiscale outputs sum (not average) the loss of the LAST output of every scale.
        """
        if isinstance(pred[0], (list, tuple)):
            return sum(self._single(scale[-1], target_is_real) for scale in pred)
        return self._single(pred[-1], target_is_real)


def feature_matching_loss(pred_fake: Sequence[Sequence[Tensor]], pred_real: Sequence[Sequence[Tensor]], *,
                          num_D: int, n_layers_D: int, lambda_feat: float) -> Tensor:
    """pix2pixHD feature matching: ``sum_ij 1/num_D * 4/(n_layers_D+1) * L1(fake_ij, real_ij.detach()) * lambda``.

    All but the last (score) output of every scale count; real features are detached.

    Args:
        pred_fake: Multiscale D outputs on fakes, each scale a list of (N, C, h, w) features.
        pred_real: The same on reals.
        num_D: Discriminator scales (weights and caps the scales used).
        n_layers_D: PatchGAN depth.
        lambda_feat: Weight.
    """
    total = pred_fake[0][-1].new_zeros(())
    weight = (1.0 / num_D) * (4.0 / (n_layers_D + 1))
    for fake_scale, real_scale in zip(pred_fake[:num_D], pred_real[:num_D]):
        for fake_feat, real_feat in zip(fake_scale[:-1], real_scale[:-1]):
            total = total + weight * F.l1_loss(fake_feat, real_feat.detach()) * lambda_feat
    return total


def discriminator_losses(net_d: nn.Module, real_input: Tensor, fake_input: Tensor, gan_loss: GANLoss, *,
                         num_D: int, n_layers_D: int, lambda_feat: float = 10.0,
                         use_feat: bool = True, pred_real: Optional[list] = None,
                         shared_fake: bool = False) -> dict[str, Tensor]:
    """The reference's ``compute_loss_D``: D terms on a detached fake, G terms through the fake.

    Args:
        net_d: A multiscale discriminator returning per-scale feature lists.
        real_input: (N, C, H, W) real sample (condition already concatenated).
        fake_input: (N, C, H, W) generated sample, with gradient to the generator.
        gan_loss: The adversarial criterion.
        num_D: Scales of ``net_d`` (feature-matching weight).
        n_layers_D: PatchGAN depth (feature-matching weight).
        lambda_feat: Feature-matching weight.
        use_feat: Compute feature matching (False with --no_ganFeat; the term is then 0).
        pred_real: ``net_d(real_input)`` when the caller already has it (several fakes scored against the same
            real sample): the real side is then not computed again.
        shared_fake: Score the fake sample once, through the generator, for both the D and the G terms (the
            reference runs ``net_d`` on a detached copy for D's terms). The values are the same; D's terms then
            reach the generator, so the caller must take D's gradients for D's parameters only, before G's
            backward pass frees the shared graph (``BaseModel.optimize(..., backward_first=("D",))``).

    Returns:
        ``{"G_GAN", "G_GAN_Feat", "D_real", "D_fake"}`` scalars.
    """
    pred_real = net_d(real_input) if pred_real is None else pred_real
    pred_fake_d = None if shared_fake else net_d(fake_input.detach())
    pred_fake_g = net_d(fake_input)
    losses = {"D_real": gan_loss(pred_real, True), "D_fake": gan_loss(pred_fake_g if shared_fake else pred_fake_d, False)}
    losses["G_GAN"] = gan_loss(pred_fake_g, True)
    losses["G_GAN_Feat"] = torch.zeros_like(losses["G_GAN"])
    if use_feat:
        losses["G_GAN_Feat"] = feature_matching_loss(pred_fake_g, pred_real, num_D=num_D, n_layers_D=n_layers_D,
                                                     lambda_feat=lambda_feat)
    return losses


class MaskedL1Loss(nn.Module):
    """``mean(|input*m - target*m|)`` over ALL elements (the reference does not renormalise by the mask)."""

    def forward(self, input: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """input, target: (N, C, H, W); mask: (N, 1, H, W) expanded over C -> scalar."""
        mask = mask.expand(-1, input.shape[1], -1, -1)
        return F.l1_loss(input * mask, target * mask)


def default_vgg_path() -> str:
    """torchvision's cache location of the ImageNet VGG19 weights (``<torch hub>/checkpoints/<file>``)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", VGG19_FILE)


def load_vgg19_features(weights_path: Optional[str] = None) -> nn.Sequential:
    """torchvision VGG19 ``features`` (first 30 layers) with weights from a local file, never downloaded.

    Args:
        weights_path: A torchvision ``vgg19`` state dict; default: torchvision's cache (:func:`default_vgg_path`).

    Raises:
        CheckpointError: naming the missing or unreadable file, where to put it, and the --no_vgg alternative.
    """
    from torchvision.models import vgg19

    path = weights_path or default_vgg_path()
    hint = (f"The VGG loss needs torchvision's ImageNet VGG19 file {VGG19_FILE}: put it at {default_vgg_path()} "
            "(e.g. run torchvision.models.vgg19(weights='IMAGENET1K_V1') once on a machine with internet access) "
            "or pass its path with --vgg_weights; or train with --no_vgg to drop the VGG loss")
    state = load_file(path, map_location="cpu", what="VGG19 weights", hint=hint)
    with torch.device("meta"):  # no random init of 143M parameters that are overwritten anyway
        net = vgg19(weights=None)
    net.load_state_dict(state, assign=True)
    return net.features[:30]


class VGGLoss(nn.Module):
    """Perceptual loss: weighted L1 between VGG19 relu1_1..relu5_1 features, target detached.

    Images go in as they are ([-1, 1], no ImageNet normalisation), halved while wider than 1024, as the
    reference. VGG parameters are frozen.

    Args:
        weights_path: VGG19 state-dict file (default: torchvision's cache).
    """

    def __init__(self, weights_path: Optional[str] = None) -> None:
        super().__init__()
        features = load_vgg19_features(weights_path)
        self.slices = nn.ModuleList(features[a:b] for a, b in VGG_SLICES)
        for param in self.parameters():
            param.requires_grad_(False)

    def _features(self, x: Tensor) -> list[Tensor]:
        """x: (N, 3, H, W) -> relu1_1 .. relu5_1 feature maps."""
        feats = []
        for block in self.slices:
            x = block(x)
            feats.append(x)
        return feats

    def target_features(self, real: Tensor) -> list[Tensor]:
        """real: (N, 3, H, W) in [-1, 1] -> its detached features, to score several fakes against (``forward``)."""
        with torch.no_grad():
            return self._features(_halved(real))

    def forward(self, fake: Tensor, real: Tensor | None = None, real_features: list[Tensor] | None = None) -> Tensor:
        """fake, real: (N, 3, H, W) in [-1, 1] -> scalar; or ``real_features`` from :meth:`target_features`."""
        if real_features is None:
            real_features = self.target_features(real)
        total = fake.new_zeros(())
        for weight, f_fake, f_real in zip(VGG_WEIGHTS, self._features(_halved(fake)), real_features):
            total = total + weight * F.l1_loss(f_fake, f_real.detach())
        return total


def _halved(image: Tensor) -> Tensor:
    """(N, C, H, W) average-pooled by 2 while wider than 1024 pixels, as the reference's VGG loss."""
    while image.shape[3] > 1024:
        image = F.avg_pool2d(image, 2)
    return image


@dataclass(frozen=True)
class LossWeight:
    """How one loss term's weight follows from the flags: ``factor * opt.<flag>`` (``factor`` alone without a
    flag), halved once per unit of ``opt.<halved_per>`` above 1 (vid2vid's flow term per extra spatial scale).

    A model's table (:meth:`models.base_model.BaseModel.declare_loss_weights`) maps loss names to these: the
    same declaration gives the weights a run trains with (:func:`weights_from`) and the table ``train.py
    --model M --help`` shows (:func:`format_weight_help`).

    Attributes:
        flag: The weight flag's option name (``"lambda_feat"``), or None for a constant weight.
        factor: Multiplies the flag's value; the weight itself without a flag.
        halved_per: A count flag's option name (``"n_scales_spatial"``), or None.
    """

    flag: Optional[str] = None
    factor: float = 1.0
    halved_per: Optional[str] = None

    def flags(self) -> list[str]:
        """The option names the weight reads."""
        return [name for name in (self.flag, self.halved_per) if name]

    def value(self, opt: Any) -> float:
        """The weight under ``opt`` (parsed options, or any object with the flags as attributes)."""
        weight = self.factor * getattr(opt, self.flag) if self.flag else self.factor
        return weight / 2 ** (getattr(opt, self.halved_per) - 1) if self.halved_per else weight

    def describe(self) -> str:
        """The rule as help text: ``--lambda_feat``, ``2 x --lambda_feat``, ``constant``, ..."""
        text = "constant" if not self.flag else f"--{self.flag}" if self.factor == 1 else \
            f"{self.factor:g} x --{self.flag}"
        return f"{text} / 2**(--{self.halved_per} - 1)" if self.halved_per else text


#: A model's declaration: loss name -> how its weight follows from the flags.
LossTable = dict[str, LossWeight]


def weights_from(table: LossTable, opt: Any) -> dict[str, float]:
    """The table's weights under ``opt``: loss name -> weight, in the table's order."""
    return {name: rule.value(opt) for name, rule in table.items()}


def format_weight_help(model: str, table: LossTable, default: Callable[[str], Any]) -> str:
    """The table as ``--help`` shows it: one row per loss, its weight flag and its weight under the defaults.

    Args:
        model: The ``--model`` name (the heading).
        table: The model's declaration.
        default: Option name -> its default (``parser.get_default``).
    """
    if not table:
        return f"loss weights of --model {model}: none declared"
    defaults = argparse.Namespace(**{flag: default(flag) for rule in table.values() for flag in rule.flags()})
    rows = [(name, rule.describe(), f"{rule.value(defaults):g}") for name, rule in table.items()]
    widths = [max(len(row[i]) for row in rows + [("loss", "weight flag", "default")]) for i in range(2)]
    lines = [f"loss weights of --model {model} (the generator objective sums these terms, each times its weight):",
             f"  {'loss':<{widths[0]}}  {'weight flag':<{widths[1]}}  default"]
    lines += [f"  {name:<{widths[0]}}  {rule:<{widths[1]}}  {value}" for name, rule, value in rows]
    return "\n".join(lines)


def weigh(raw: dict[str, Tensor], weights: dict[str, float]) -> dict[str, Tensor]:
    """Each raw term multiplied by its weight in the model's table (imaginaire's name-keyed weights).

    Args:
        raw: Loss name -> unweighted scalar.
        weights: The model's table, loss name -> weight; every name of ``raw`` must be in it.

    Raises:
        KeyError: a term without a weight (a new loss must be declared in the table).
    """
    missing = sorted(set(raw) - set(weights))
    if missing:
        raise KeyError(f"loss term(s) without a weight in the model's table: {', '.join(missing)}")
    return {name: value * weights[name] for name, value in raw.items()}


def weighted_total(weighted: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """The objective: the sum of the (already weighted) terms the table names; other terms do not count.

    Raises:
        ValueError: no term of the table is present.
    """
    terms = [value for name, value in weighted.items() if name in weights]
    if not terms:
        raise ValueError(f"no loss term of the table ({', '.join(weights)}) in {', '.join(weighted)}")
    return sum(terms[1:], terms[0])


def format_weights(weights: dict[str, float]) -> str:
    """The table as one line for the log: ``G_GAN 1, G_GAN_Feat 10, ...`` in the table's order."""
    return ", ".join(f"{name} {value:g}" for name, value in weights.items())
