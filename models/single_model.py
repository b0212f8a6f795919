"""``--model single``: trains the pix2pixHD single-frame generator that ``test.py --use_single_G`` loads.

Every frame is an independent sample (the frames of a training clip are flattened into the batch; clips hold
one frame unless ``--n_frames_total`` says more). pix2pixHD's objective: a multiscale PatchGAN conditioned on
the input (``--num_D``, ``--n_layers_D``, ``--ndf``, instance norm), LSGAN by default (``--gan_mode``),
feature matching (``--lambda_feat``, ``--no_ganFeat``) and VGG (``--no_vgg``); Adam (``--lr`` 0.0002,
``--beta1`` 0.5, 0.999) with linear decay to zero over ``--niter_decay`` epochs after ``--niter``.

- Street (label maps): the generator is the one :func:`models.networks.define_single_G` builds for
  ``--use_single_G``, chosen by ``--single_G_size`` (default ``--loadSize``): GlobalGenerator for 512 / 1024,
  LocalEnhancer for 2048. It reads the ``--label_nc`` one-hot channels only, never the instance edges: the
  released ``label2city_single`` files take 35 channels, and ``--use_single_G`` feeds exactly those.
  Checkpoint labels ``G_<size>`` and ``D``, so ``<epoch>_net_G_<size>.pth`` has the released layout (unless
  ``--single_G_ngf`` / ``--single_G_n_downsample`` change the width; test.py then needs the same two flags).
  LocalEnhancer coarse-to-fine as pix2pixHD: ``--load_pretrain DIR`` starts from ``G_<size>`` there or else the
  global generator ``G_<size / 2**n_local_enhancers>`` (its trunk), and ``--niter_fix_global N`` trains only
  the finest enhancer for the first N epochs.
- Face (``--dataset_mode face``, the 15 edge channels): ``Global_with_z`` and its feature ``Encoder``, trained
  jointly as pix2pixHD's feature encoder (instance-wise average pooling over the part map); labels ``G``,
  ``E``, ``D``. After the last epoch ``features.npy`` is written (see :mod:`models.single.features`): the run's
  folder then holds the three files of the released ``edge2face_single``.

``test.py --model single`` generates every frame on its own (faces: with the nearest training features, as
the face first frame of ``--use_single_G``).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Callable, NamedTuple, Optional

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from models.base_model import BaseModel, FrameGenerator, StepResult, output_frame
from models.losses import GANLoss, LossTable, LossWeight, VGGLoss, discriminator_losses, weigh, weighted_total
from models.networks import STREET_SINGLE_G, define_single_E, define_single_G
from models.networks.blocks import init_weights
from models.networks.discriminators import ImageDiscriminator
from models.networks.input_encoding import encode_input
from models.networks.pix2pixhd import LocalEnhancer
from models.single.face_first_frame import FaceFirstFrame, load_features
from models.single.features import FEATURES_FILE, write_features
from models.vid2vid.criterion import check_finite, report_losses
from models.vid2vid.inference import single_generator_size
from models.vid2vid.schedule import learning_rate
from options.base_options import add_single_generator_flags
from util.checkpoint import CheckpointError
from util.config import derive
from util.image import input_visual, tensor2im
from util.results_writer import OutputFrame

logger = logging.getLogger(__name__)

FACE_EDGE_NC = 15


class FrameInputs(NamedTuple):
    """One batch of independent frames (clips flattened: N = B*T)."""

    cond: Tensor  # (N, C, H, W) what G and D are conditioned on: one-hot labels, or the face edge channels
    shown: Tensor  # (N, C', H, W) the encoded input as displayed (with the instance edge under --use_instance)
    real: Optional[Tensor]  # (N, 3, H, W) real frames in [-1, 1]
    parts: Optional[Tensor]  # (N, 1, H, W) face part ids (face mode)


class SingleModel(BaseModel):
    """pix2pixHD on single frames, saving the released first-frame generator layouts."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """pix2pixHD defaults (instance-norm D, 100 + 100 epochs), one frame per clip, and this model's flags."""
        parser.set_defaults(norm="instance", n_frames_G=1, n_frames_total=1)
        if is_train:  # test.py already has --single_G_size
            parser.set_defaults(niter=100, niter_decay=100)
            add_single_generator_flags(parser)
            parser.add_argument("--n_feature_frames", type=int, default=0,
                                help="(new) face: frames per training sequence encoded into features.npy after "
                                     "the last epoch, evenly spaced; 0: every frame, as pix2pixHD")
        return parser

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        """Generator (and face encoder); in training the discriminator, losses and optimizers."""
        opt = self.opt
        self.face = opt.dataset_mode == "face"
        nets = single_networks(opt)
        self.networks.update({label: net.to(self.device) for label, net in nets.items()})
        self.g_label = next(iter(nets))
        self.generator, self.encoder = self.networks[self.g_label], self.networks.get("E")
        if not opt.isTrain:
            for label in self.networks:
                self.load_network(label, opt.which_epoch)
            return
        cond_nc = FACE_EDGE_NC if self.face else opt.label_nc
        net_d = ImageDiscriminator(input_nc=cond_nc + opt.output_nc, ndf=opt.ndf, n_layers=opt.n_layers_D,
                                   norm=opt.norm, num_D=opt.num_D, get_interm_feat=not opt.no_ganFeat)
        net_d.apply(init_weights)
        self.networks["D"] = net_d.to(self.device)
        self.gan_loss = GANLoss(opt.gan_mode)
        self.vgg = None if opt.no_vgg else VGGLoss(opt.vgg_weights or None).to(self.device)
        self.lr = opt.lr
        self.fix_global = opt.niter_fix_global > 0 and isinstance(self.generator, LocalEnhancer)
        self._load_for_training()
        self._make_optimizer_G()
        self.add_optimizer("D", net_d.parameters(), self.lr)

    # ------------------------------------------------------------------ loading
    def _load_for_training(self) -> None:
        """``--continue_train``: this run's networks (absent files keep their initialisation);
        ``--load_pretrain DIR``: the tensors of DIR's files that fit (pix2pixHD's partial load)."""
        opt = self.opt
        for label in self.networks:
            if opt.continue_train:
                self.load_network(label, opt.which_epoch, required=False)
            elif opt.load_pretrain:
                self._load_pretrained(label)
        if self.fix_global and not (opt.load_pretrain or opt.continue_train):
            logger.warning("--niter_fix_global %d without --load_pretrain: the global generator stays at its "
                           "random initialisation for those epochs", opt.niter_fix_global)

    def _pretrained_file(self, label: str) -> Optional[str]:
        """``<load_pretrain>/<epoch>_net_<label>.pth``, or for the LocalEnhancer the global generator's file."""
        names = [label]
        if label == self.g_label and isinstance(self.generator, LocalEnhancer):
            names.append(f"G_{single_generator_size(self.opt) // 2 ** self.generator.n_local_enhancers}")
        for name in names:
            path = self.network_path(name, self.opt.which_epoch, self.opt.load_pretrain)
            if os.path.isfile(path):
                return path
        return None

    def _load_pretrained(self, label: str) -> None:
        """Copy every tensor of the pretrained file whose name and shape exist in network ``label``."""
        path = self._pretrained_file(label)
        if path is None:
            logger.info("--load_pretrain: no file for %s in %s; it keeps its initialisation", label,
                        self.opt.load_pretrain)
            return
        logger.info("%s: %d tensors from %s", label, self.load_network_partially(label, path), path)

    def _make_optimizer_G(self) -> torch.optim.Adam:
        """Adam over the generator (only the finest enhancer while the global one is fixed) and the encoder."""
        prefix = f"model{getattr(self.generator, 'n_local_enhancers', 0)}_"
        params = []
        for name, param in self.generator.named_parameters():
            param.requires_grad_(not self.fix_global or name.startswith(prefix))
            if param.requires_grad:
                params.append(param)
        if self.face:
            params += list(self.encoder.parameters())
        return self.add_optimizer("G", params, self.lr)

    # ------------------------------------------------------------------ generation
    def frame_inputs(self, batch: dict) -> FrameInputs:
        """Batch of clips (``A``: (B, T, C, H, W), ``B``, ``inst``) -> independent frames on the device."""
        def flat(key: str) -> Optional[Tensor]:
            value = batch.get(key)
            ok = isinstance(value, Tensor) and value.dim() == 5
            return value.to(self.device, non_blocking=True).flatten(0, 1).unsqueeze(1) if ok else None

        labels, inst = flat("A"), flat("inst")
        street_inst = inst if self.opt.use_instance and not self.face else None
        shown = encode_input(labels, street_inst, self.opt.label_nc)[:, 0]
        cond = shown if self.face else shown[:, : self.opt.label_nc]
        real = flat("B")
        return FrameInputs(cond, shown, None if real is None else real[:, 0],
                           inst[:, 0] if self.face and inst is not None else None)

    def generate(self, inputs: FrameInputs) -> Tensor:
        """(N, 3, H, W) frames in [-1, 1]; faces through the encoder's part-averaged features of the real frame."""
        if self.face:
            return self.generator(inputs.cond, self.encoder(inputs.real, inputs.parts))
        return self.generator(inputs.cond)

    # ------------------------------------------------------------------ training
    def losses(self, inputs: FrameInputs, fake: Tensor) -> dict[str, Tensor]:
        """pix2pixHD's terms: ``G_GAN``, ``G_GAN_Feat``, ``G_VGG`` (weighted), ``D_real``, ``D_fake``."""
        opt = self.opt
        losses = discriminator_losses(
            self.networks["D"], torch.cat([inputs.cond, inputs.real], dim=1), torch.cat([inputs.cond, fake], dim=1),
            self.gan_loss, num_D=opt.num_D, n_layers_D=opt.n_layers_D, lambda_feat=1.0, use_feat=not opt.no_ganFeat)
        if self.vgg is not None:
            losses["G_VGG"] = self.vgg(fake, inputs.real)
        generator = weigh({k: v for k, v in losses.items() if k.startswith("G_")}, self.loss_weights)
        return {**losses, **generator}

    @classmethod
    def declare_loss_weights(cls) -> LossTable:
        """pix2pixHD's generator terms: adversarial, feature matching and VGG (both ``--lambda_feat``)."""
        return {"G_GAN": LossWeight(), "G_GAN_Feat": LossWeight("lambda_feat"), "G_VGG": LossWeight("lambda_feat")}

    def train_sequence(self, batch: dict) -> StepResult:
        """One G step then one D step on every frame of the batch's clips."""
        inputs = self.frame_inputs(batch)
        with self.autocast():
            fake = self.generate(inputs)
            losses = self.losses(inputs, fake)
        check_finite(losses, [])
        self.optimize({"G": weighted_total(losses, self.loss_weights), "D": (losses["D_real"] + losses["D_fake"]) * 0.5})
        visuals = {"input": inputs.shown[0], "fake_image": fake[0], "real_image": inputs.real[0]}
        return StepResult(report_losses(losses, []), {k: v.detach() for k, v in visuals.items()},
                          frames=fake.shape[0])

    def end_epoch(self, epoch: int, longest_sequence: int) -> None:
        """Release the global generator after ``--niter_fix_global`` epochs and decay the learning rate."""
        opt = self.opt
        if self.fix_global and epoch >= opt.niter_fix_global:
            self.fix_global = False
            self._make_optimizer_G()
            logger.info("epoch %d: the whole generator trains from now on", epoch)
        self.lr = learning_rate(opt.lr, epoch + 1, opt.niter, opt.niter_decay)
        self.set_learning_rate(self.lr)

    def finish_training(self, make_dataset: Callable[[argparse.Namespace], Dataset]) -> None:
        """Faces: encode the training frames (not flipped) into ``features.npy`` beside the checkpoints."""
        if self.face and self.dist.is_main:
            dataset = make_dataset(derive(self.opt, no_flip=True))
            logger.info("face features written to %s", write_features(self.opt, self.encoder, self.device, dataset))

    def schedule_state(self) -> dict:
        """The learning rate and the fixed-global phase."""
        return {"lr": self.lr, "fix_global": self.fix_global}

    def load_schedule_state(self, state: dict) -> None:
        """Both; the generator optimizer is rebuilt if the global phase has ended since."""
        self.lr = state["lr"]
        if self.fix_global != state["fix_global"]:
            self.fix_global = state["fix_global"]
            self._make_optimizer_G()

    def render_visuals(self, visuals: dict[str, Tensor]) -> dict[str, np.ndarray]:
        """Input map, generated and real frame as pictures."""
        opt = self.opt
        pictures = {"input_image": input_visual(visuals["input"], label_nc=opt.label_nc,
                                                dataset_mode=opt.dataset_mode, use_instance=opt.use_instance)}
        pictures.update({key: tensor2im(visuals[key]) for key in ("fake_image", "real_image")})
        return pictures

    # ------------------------------------------------------------------ test
    def make_inference(self) -> FrameGenerator:
        """Every test frame generated on its own (faces: nearest training features from ``features.npy``)."""
        face_first = None
        if self.face:
            path = os.path.join(self.save_dir, FEATURES_FILE)
            if not os.path.isfile(path):
                raise CheckpointError(f"{path} not found: it is written after the last training epoch; write it "
                                      "now with `python -m training.face_features <the run's train.py flags>`")
            face_first = FaceFirstFrame(self.generator, self.encoder, load_features(path))
        return SingleFrames(self, face_first)


def single_networks(opt: argparse.Namespace) -> dict[str, nn.Module]:
    """The generator under its checkpoint label (``G_<size>``; faces ``G``) and, for faces, the encoder ``E``.

    Raises:
        ValueError: face input other than the 15 edge channels, street input without label maps, or a street
            size without a released layout.
    """
    if opt.dataset_mode == "face":
        if opt.input_nc != FACE_EDGE_NC or opt.label_nc:
            raise ValueError(f"--model single for faces reads the {FACE_EDGE_NC} edge channels of the face dataset: "
                             f"pass --input_nc {FACE_EDGE_NC} (and neither --no_dist_map nor --label_nc)")
        return {"G": define_single_G(opt), "E": define_single_E(opt)}
    if opt.label_nc <= 0:
        raise ValueError("--model single trains the street generator on label maps (--label_nc, e.g. 35) or the "
                         "face generator (--dataset_mode face); other inputs have no single-frame model")
    size = single_generator_size(opt)
    if size not in STREET_SINGLE_G:
        raise ValueError(f"--model single: no released single-frame layout for size {size}; choose one with "
                         f"--single_G_size {' / '.join(map(str, sorted(STREET_SINGLE_G)))} (the training "
                         "resolution stays --loadSize)")
    return {f"G_{size}": define_single_G(derive(opt, loadSize=size))}


class SingleFrames(FrameGenerator):
    """One finished frame per test item.

    Args:
        model: The set-up model (weights loaded).
        face_first: Faces: the generator with the encoder and the training features; None for street scenes.
    """

    def __init__(self, model: SingleModel, face_first: Optional[nn.Module] = None) -> None:
        self.model, self.face_first = model, face_first

    @torch.no_grad()
    def step(self, item: dict) -> list[OutputFrame]:
        """One test item (``A``: (1, 1, C, H, W); faces also ``B`` and the part map ``inst``) -> its frame."""
        inputs = self.model.frame_inputs(item)
        if self.face_first is None:
            image = self.model.generate(inputs)
        else:
            if inputs.real is None or inputs.parts is None:
                raise ValueError("--model single for faces needs the real frames and part maps of the face dataset")
            image = self.face_first(inputs.cond, inputs.real, inputs.parts)
        return [output_frame(self.model.opt, item, image[0], inputs.shown[0])]
