"""Networks of vid2vid and the factories that build them from parsed options.

- ``scale_generator.py``: the per-scale generator interface (``ScaleInput`` -> ``GeneratorOutput``) and
  ``GeneratorConfig``, what every ``--netG`` entry is built from.
- ``composite.py``: ``--netG composite``, vid2vid's CompositeGenerator / CompositeLocalGenerator.
- ``sr_mobile.py``: ``--netG sr_mobile_composite``, Fast-Vid2Vid's teacher / student (``--student``).
- ``video_generator.py``: VideoGenerator (all scales, one frame at a time) and streaming inference.
- ``export.py``: the generator step as a plain module for ONNX export (norm layers with input statistics).
- ``input_encoding.py``: one-hot labels, instance edges, pyramids, foreground mask.
- ``pix2pixhd.py``: pix2pixHD single-frame generators (``--use_single_G``, ``--model single``).
- ``discriminators.py``: multiscale PatchGAN discriminators (image, temporal, face).
- ``blocks.py``: shared layers; ``warp.py``: flow warping; ``sparse_conv.py`` / ``memory_format.py`` /
  ``head_conv.py`` / ``fused_norm.py``: the CPU fast paths; ``flow/``: FlowNet2 and OpenCV flow.
- ``i3d.py``: the I3D video network (FVD, feature losses); ``metric_networks.py``: loaders of the evaluation
  networks' weights files (FID Inception, I3D, LPIPS).

Networks never read options: the factories below translate options into constructor arguments. To add a
generator type, write a file with a function ``(GeneratorConfig) -> list[ScaleGenerator]`` (coarsest first)
and add one line to ``GENERATORS``; its key becomes a ``--netG`` choice.
"""

from __future__ import annotations

import argparse
from typing import Callable

from torch import nn

from models.networks.blocks import init_weights
from models.networks.composite import composite_scales
from models.networks.discriminators import (
    FaceDiscriminator,
    ImageDiscriminator,
    MultiscaleDiscriminator,
    TemporalDiscriminator,
)
from models.networks.pix2pixhd import Encoder, Global_with_z, GlobalGenerator, LocalEnhancer
from models.networks.scale_generator import GeneratorConfig, ScaleGenerator
from models.networks.sr_mobile import sr_mobile_scales
from models.networks.video_generator import VideoGenerator

#: ``--netG`` choices: name -> builder of the per-scale generators, coarsest first.
GENERATORS: dict[str, Callable[[GeneratorConfig], list[ScaleGenerator]]] = {
    "composite": composite_scales,
    "sr_mobile_composite": sr_mobile_scales,
}
# The reference hard-codes the first-frame generators: (ngf, downsamplings) of label2city_single per loadSize.
STREET_SINGLE_G = {512: ("global", 64, 3), 1024: ("global", 64, 4), 2048: ("local", 32, 4)}
FACE_FEAT_NC = 16


def input_channels(opt: argparse.Namespace) -> int:
    """Per-frame network input channels: ``label_nc`` (or ``input_nc`` when 0), +1 with ``--use_instance``."""
    return (opt.label_nc if opt.label_nc != 0 else opt.input_nc) + int(bool(opt.use_instance))


def generator_config(opt: argparse.Namespace) -> GeneratorConfig:
    """The options a generator is built from. ``--openpose_only`` implies no flow, as the reference."""
    return GeneratorConfig(
        input_nc=input_channels(opt), output_nc=opt.output_nc, n_frames_G=opt.n_frames_G, ngf=opt.ngf,
        n_downsampling=opt.n_downsample_G, n_blocks=opt.n_blocks, n_blocks_local=opt.n_blocks_local,
        n_scales=opt.n_scales_spatial, norm=opt.norm, fg_labels=tuple(opt.fg_labels) if opt.fg else (),
        no_flow=bool(opt.no_flow or opt.openpose_only), student=bool(opt.student), student_scale=int(opt.student_scale))


def build_generator(net_g: str, config: GeneratorConfig) -> VideoGenerator:
    """The multi-scale sequential generator of type ``net_g`` (a ``GENERATORS`` key), reference initialisation.

    Raises:
        ValueError: for an unknown type.
    """
    if net_g not in GENERATORS:
        raise ValueError(f"unknown --netG {net_g!r}; choices: {sorted(GENERATORS)}")
    net = VideoGenerator(GENERATORS[net_g](config), n_frames_G=config.n_frames_G, output_nc=config.output_nc,
                         fg_labels=config.fg_labels)
    net.apply(init_weights)
    return net


def define_G(opt: argparse.Namespace) -> VideoGenerator:
    """The generator of ``--netG`` built from the options (``--ngf``, ``--n_scales_spatial``, ``--fg``, ...)."""
    return build_generator(opt.netG, generator_config(opt))


def define_single_G(opt: argparse.Namespace) -> nn.Module:
    """The pix2pixHD first-frame generator the reference loads for ``--use_single_G`` (instance norm).

    Street: GlobalGenerator (``--loadSize`` 512 / 1024) or LocalEnhancer (2048) over ``label_nc`` one-hot
    channels. Face (``--dataset_mode face``): Global_with_z over 15 edge channels + 16 feature channels;
    its encoder comes from :func:`define_single_E`. ``--single_G_ngf`` / ``--single_G_n_downsample`` (when set,
    for generators trained with ``--model single``) replace the released width and downsamplings.

    Raises:
        ValueError: for a street ``--loadSize`` without a released single generator.
    """
    ngf_set, n_down_set = getattr(opt, "single_G_ngf", 0), getattr(opt, "single_G_n_downsample", 0)
    if opt.dataset_mode == "face":
        net: nn.Module = Global_with_z(input_nc=15, output_nc=3, nz=FACE_FEAT_NC, ngf=ngf_set or 64,
                                       n_downsampling=n_down_set or 3, n_blocks=opt.n_blocks, norm="instance")
    elif opt.loadSize in STREET_SINGLE_G:
        kind, ngf, n_down = STREET_SINGLE_G[opt.loadSize]
        ngf, n_down = ngf_set or ngf, n_down_set or n_down
        label_nc = opt.label_nc or 35
        if kind == "global":
            net = GlobalGenerator(input_nc=label_nc, output_nc=3, ngf=ngf, n_downsampling=n_down,
                                  n_blocks=opt.n_blocks, norm="instance")
        else:
            net = LocalEnhancer(input_nc=label_nc, output_nc=3, ngf=ngf, n_downsample_global=n_down,
                                n_blocks_global=opt.n_blocks, n_local_enhancers=opt.n_local_enhancers,
                                n_blocks_local=opt.n_blocks_local, norm="instance")
    else:
        raise ValueError(f"no single-frame generator for --loadSize {opt.loadSize} (released: 512, 1024, 2048); "
                         "use --use_real_img or --no_first_img")
    net.apply(init_weights)
    return net


def define_single_E(opt: argparse.Namespace) -> Encoder:
    """The face feature encoder paired with the face single generator (checkpoint ``latest_net_E.pth``)."""
    net = Encoder(input_nc=3, output_nc=FACE_FEAT_NC, ngf=16, n_downsampling=4, norm="instance")
    net.apply(init_weights)
    return net


def define_D(opt: argparse.Namespace) -> dict[str, nn.Module]:
    """All discriminators by checkpoint label: ``D``, ``D_T0``..``D_T{n_scales_temporal-1}``, ``D_f`` (pose face).

    Input channels: ``D``/``D_f`` = per-frame input + output_nc; ``D_T`` = ``output_nc*tD + 2*(tD-1)``.
    """
    common = dict(ndf=opt.ndf, n_layers=opt.n_layers_D, norm=opt.norm,
                  get_interm_feat=not opt.no_ganFeat)
    frame_nc = input_channels(opt) + opt.output_nc
    nets: dict[str, MultiscaleDiscriminator] = {"D": ImageDiscriminator(input_nc=frame_nc, num_D=opt.num_D,
                                                                        **common)}
    temporal_nc = opt.output_nc * opt.n_frames_D + 2 * (opt.n_frames_D - 1)
    for s in range(opt.n_scales_temporal):
        nets[f"D_T{s}"] = TemporalDiscriminator(input_nc=temporal_nc, num_D=opt.num_D, **common)
    if opt.add_face_disc:
        nets["D_f"] = FaceDiscriminator(input_nc=frame_nc, num_D=max(1, opt.num_D - 2), **common)
    for net in nets.values():
        net.apply(init_weights)
    return nets


__all__ = ["GENERATORS", "GeneratorConfig", "input_channels", "generator_config", "build_generator", "define_G",
           "define_single_G", "define_single_E", "define_D", "VideoGenerator", "MultiscaleDiscriminator"]
