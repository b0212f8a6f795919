"""Every vid2vid training loss, by the reference's names, and the three objectives (G, D, D_T per scale).

Per-frame terms (frames flattened to a batch): ``G_VGG``, ``G_GAN``, ``G_GAN_Feat``, ``D_real``, ``D_fake``,
``G_Warp``, ``F_Flow``, ``F_Warp``, ``W`` (+ ``G_f_GAN``, ``G_f_GAN_Feat``, ``D_f_real``, ``D_f_fake`` with the
face discriminator). Temporal terms per scale: ``G_T_GAN``, ``G_T_GAN_Feat``, ``D_T_real``, ``D_T_fake``,
``G_T_Warp``. Values are already weighted, as the reference reports them: every generator term is computed
unweighted and multiplied once by its weight in the model's table (:data:`VID2VID_LOSS_WEIGHTS`, name ->
weight flag, evaluated on the ``lambda_*`` flags); the generator objective is the sum of the terms the table names.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

from models.losses import (
    GANLoss,
    LossTable,
    LossWeight,
    MaskedL1Loss,
    VGGLoss,
    discriminator_losses,
    weigh,
    weighted_total,
)
from models.networks.discriminators import temporal_input
from models.networks.warp import warp

FaceBoxFn = Callable[[Tensor], Optional[tuple[int, int, int, int]]]


#: vid2vid's generator terms and how their weights follow from the flags: the one table the objective is summed
#: from. ``F_Flow`` is divided by 2 per extra spatial scale and the face discriminator's generator terms count
#: twice, as in the reference. With ``--no_vgg`` / ``--no_ganFeat`` those terms are 0 and keep their weight.
VID2VID_LOSS_WEIGHTS: LossTable = {
    "G_GAN": LossWeight(), "G_GAN_Feat": LossWeight("lambda_feat"), "G_VGG": LossWeight("lambda_feat"),
    "G_Warp": LossWeight("lambda_T"), "F_Flow": LossWeight("lambda_F", halved_per="n_scales_spatial"),
    "F_Warp": LossWeight("lambda_T"), "W": LossWeight(), "G_f_GAN": LossWeight(factor=2.0),
    "G_f_GAN_Feat": LossWeight("lambda_feat", factor=2.0),
    "G_T_GAN": LossWeight(), "G_T_GAN_Feat": LossWeight("lambda_feat"), "G_T_Warp": LossWeight("lambda_T"),
}


#: Discriminator terms: reported unweighted; each D objective is the mean of its real and fake terms.
D_TERMS = ("D_real", "D_fake", "D_f_real", "D_f_fake", "D_T_real", "D_T_fake")


class FrameBatch(NamedTuple):
    """One chunk's tensors, frames flattened into the batch axis ``N = B * T``."""

    real: Tensor  # (N, 3, H, W) current real frames
    fake: Tensor  # (N, 3, H, W) generated frames
    fake_raw: Tensor  # (N, 3, H, W) hallucinated frames before blending
    label: Tensor  # (N, C, H, W) encoded input of the current frames
    real_prev: Tensor  # (N, 3, H, W) previous real frames
    fake_prev: Tensor  # (N, 3, H, W) previous generated frames
    flow: Optional[Tensor]  # (N, 2, H, W) generator flow in pixels, None with --no_flow
    weight: Optional[Tensor]  # (N, 1, H, W) occlusion weight, None with --no_flow
    flow_ref: Tensor  # (N, 2, H, W) reference flow, current -> previous
    conf_ref: Tensor  # (N, 1, H, W) its confidence


class Vid2VidCriterion(nn.Module):
    """Holds the discriminators and computes the reference's losses.

    Args:
        opt: Parsed training options (lambdas, ``num_D``, ``n_layers_D``, ``no_vgg``, ``no_first_img``, ...).
        discriminators: ``{"D": ..., "D_T0": ..., "D_f": ...}`` as built by ``define_D``.
        weights: The model's table of generator terms (:data:`VID2VID_LOSS_WEIGHTS` and a subclass's additions,
            evaluated on the flags).
        face_box: Finds the face box in an encoded input, for ``--add_face_disc``.
    """

    def __init__(self, opt: argparse.Namespace, discriminators: dict[str, nn.Module], weights: dict[str, float],
                 face_box: FaceBoxFn | None = None) -> None:
        super().__init__()
        self.opt = opt
        self.weights = weights
        self.nets = nn.ModuleDict(discriminators)
        self.gan = GANLoss(opt.gan_mode)
        self.masked_l1 = MaskedL1Loss()
        self.vgg = None if opt.no_vgg else VGGLoss(weights_path=opt.vgg_weights or None)
        self.face_box = face_box

    #: Each discriminator scores a generated sample once for its own terms and the generator's (see
    #: ``discriminator_losses(shared_fake=True)``): the discriminators' objectives must then be
    #: back-propagated before the generator's (:meth:`Vid2VidModel.step_chunk` does).
    shared_fake = True

    def _adversarial(self, net: nn.Module, cond: Optional[Tensor], real: Tensor, fake: Tensor,
                     pred_real: Optional[list] = None) -> dict[str, Tensor]:
        """D and G terms of ``net`` on (cond, real) and (cond, fake); ``pred_real``: ``net`` on the real side if
        already computed."""
        opt = self.opt
        real_in = real if cond is None else torch.cat([cond, real], dim=1)
        fake_in = fake if cond is None else torch.cat([cond, fake], dim=1)
        return discriminator_losses(net, real_in, fake_in, self.gan, num_D=opt.num_D, n_layers_D=opt.n_layers_D,
                                    lambda_feat=1.0, use_feat=not opt.no_ganFeat, pred_real=pred_real,
                                    shared_fake=self.shared_fake)

    def weighted(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        """Generator terms times their weights in the table; discriminator terms as they are."""
        generator = weigh({k: v for k, v in raw.items() if k not in D_TERMS}, self.weights)
        return {name: generator.get(name, value) for name, value in raw.items()}

    def perceptual(self, fake: Tensor, target: Tensor) -> Optional[Tensor]:
        """The unweighted VGG distance of two batches of frames (N, 3, H, W) in [-1, 1], on the criterion's
        device; None with ``--no_vgg``. Also the distillation's perceptual term."""
        if self.vgg is None:
            return None
        device = next(self.vgg.parameters()).device
        return self.vgg(fake.to(device), target.to(device, fake.dtype))

    def frame_losses(self, batch: FrameBatch) -> dict[str, Tensor]:
        """The per-frame terms of one chunk (section 5.2 of the reference notes)."""
        zero = batch.real.new_zeros(())
        losses: dict[str, Tensor] = {"F_Flow": zero, "F_Warp": zero, "W": zero}
        if batch.flow is not None:
            losses["F_Flow"] = self.masked_l1(batch.flow, batch.flow_ref, batch.conf_ref)
            warped_real = warp(batch.real_prev, batch.flow)
            losses["F_Warp"] = self.masked_l1(warped_real, batch.real, batch.conf_ref)
            if self.opt.no_first_img:
                losses["W"] = self.masked_l1(batch.weight, torch.zeros_like(batch.weight), batch.conf_ref)
        losses["G_VGG"] = zero
        if self.vgg is not None:
            target = self.vgg.target_features(batch.real)  # the real side once for both fakes
            losses["G_VGG"] = self.vgg(batch.fake, real_features=target) + self.vgg(batch.fake_raw, real_features=target)
        # The blended and the raw frame are scored against the same real sample: D runs on it once.
        pred_real = self.nets["D"](torch.cat([batch.label, batch.real], dim=1))
        blended = self._adversarial(self.nets["D"], batch.label, batch.real, batch.fake, pred_real)
        raw = self._adversarial(self.nets["D"], batch.label, batch.real, batch.fake_raw, pred_real)
        losses.update({name: blended[name] + raw[name] for name in blended})
        warped_fake = warp(batch.fake_prev, batch.flow_ref).detach()
        losses["G_Warp"] = self.masked_l1(batch.fake, warped_fake, batch.conf_ref)
        if "D_f" in self.nets:
            losses.update(self._face_losses(batch))
        return self.weighted(losses)

    def _face_losses(self, batch: FrameBatch) -> dict[str, Tensor]:
        """Face-crop discriminator terms (pose), unweighted (the table counts the generator terms twice)."""
        box = self.face_box(batch.label) if self.face_box is not None else None
        names = ("G_f_GAN", "G_f_GAN_Feat", "D_f_real", "D_f_fake")
        if box is None:
            return {name: batch.real.new_zeros(()) for name in names}
        y0, y1, x0, x1 = box
        crop = (slice(None), slice(None), slice(y0, y1), slice(x0, x1))
        face = self._adversarial(self.nets["D_f"], batch.label[crop], batch.real[crop], batch.fake[crop])
        return {"G_f_GAN": face["G_GAN"], "G_f_GAN_Feat": face["G_GAN_Feat"],
                "D_f_real": face["D_real"], "D_f_fake": face["D_fake"]}

    def temporal_losses(self, scale: int, real: Tensor, fake: Tensor, flow_ref: Tensor) -> dict[str, Tensor]:
        """Temporal terms at one scale.

        Args:
            scale: Temporal scale (selects ``D_T<scale>``).
            real: (G, tD, 3, H, W) real frame groups.
            fake: (G, tD, 3, H, W) generated frame groups.
            flow_ref: (G, tD-1, 2, H, W) reference flows of the groups, in pixels.
        """
        real_in, fake_in = temporal_input(real, flow_ref), temporal_input(fake, flow_ref)
        terms = self._adversarial(self.nets[f"D_T{scale}"], None, real_in, fake_in)
        return self.weighted({"G_T_GAN": terms["G_GAN"], "G_T_GAN_Feat": terms["G_GAN_Feat"],
                              "D_T_real": terms["D_real"], "D_T_fake": terms["D_fake"], "G_T_Warp": real.new_zeros(())})


def total_losses(frame: dict[str, Tensor], temporal: list[dict[str, Tensor]],
                 weights: dict[str, float]) -> tuple[Tensor, Tensor, list[Tensor]]:
    """The reference's objectives from weighted terms: the generator total (every term the table names, frame
    and temporal), the frame-D total, and one total per active temporal scale.

    Args:
        frame: Weighted frame terms of a chunk (and a subclass's extra generator terms).
        temporal: Weighted terms per active temporal scale.
        weights: The model's table of generator terms.
    """
    loss_g = weighted_total(frame, weights)
    for terms in temporal:
        loss_g = loss_g + weighted_total(terms, weights)
    loss_d = (frame["D_fake"] + frame["D_real"]) * 0.5
    if "D_f_real" in frame:
        loss_d = loss_d + (frame["D_f_fake"] + frame["D_f_real"]) * 0.5
    loss_d_t = [(terms["D_T_fake"] + terms["D_T_real"]) * 0.5 for terms in temporal]
    return loss_g, loss_d, loss_d_t


def report_losses(frame: dict, temporal: list) -> dict[str, float]:
    """Plain floats by reference names; temporal names get the scale index appended (``G_T_GAN0``). All terms
    are copied to the host at once (one synchronisation with an accelerator, not one per term)."""
    named = {**frame, **{f"{k}{s}": v for s, terms in enumerate(temporal) for k, v in terms.items()}}
    tensors = {k: v for k, v in named.items() if isinstance(v, Tensor)}
    if tensors:
        device = next(iter(tensors.values())).device
        stacked = torch.stack([v.detach().reshape(()).to(device, torch.float32) for v in tensors.values()])
        named.update(zip(tensors, stacked.tolist()))
    return {k: float(v) for k, v in named.items()}


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite."""


def check_finite(frame: dict, temporal: list) -> dict[str, float]:
    """Raise :class:`NonFiniteLossError` naming the first NaN or infinite loss term; else return the terms as
    :func:`report_losses` does (one host copy serves both)."""
    values = report_losses(frame, temporal)
    for name, value in values.items():
        if not math.isfinite(value):
            raise NonFiniteLossError(f"loss {name} is {value}")
    return values
