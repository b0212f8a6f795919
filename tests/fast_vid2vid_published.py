"""Stand-ins for Fast-Vid2Vid's published classes (``models.networks.*`` of fast-vid2vid/fast-vid2vid).

Written from the published layout (module names, Sequential indices, strides, what the generator keeps as
attributes), not from our modules, so tests can check that our generator takes the published weights and
computes what the published forward computes. :func:`register` makes them picklable under the published
class paths, as ``torch.save(net)`` wrote them.
"""

from __future__ import annotations

import argparse
import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

PUBLISHED_MODULE = "models.networks"


def _norm(width: int) -> nn.Module:
    return nn.BatchNorm2d(width)


class InvertedResidual(nn.Module):
    """The published block: expand ratio 1, an ``identity`` flag, the layers in ``conv``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.identity = True
        self.conv = nn.Sequential(
            nn.Conv2d(dim, dim, 1, 1, 0, bias=False), nn.BatchNorm2d(dim), nn.ReLU6(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=False), nn.BatchNorm2d(dim), nn.ReLU6(inplace=True),
            nn.Conv2d(dim, dim, 1, 1, 0, bias=False), nn.BatchNorm2d(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x)


def _encoder(in_nc: int, ngf: int, n_down: int, first_stride: int) -> list[nn.Module]:
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7, padding=0), _norm(ngf), nn.ReLU(True)]
    for i in range(n_down):
        stride = first_stride if i == 0 else 2
        layers += [nn.Conv2d(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, stride=stride, padding=1), _norm(ngf * 2 ** (i + 1)),
                   nn.ReLU(True)]
    return layers


def _decoder(ngf: int, n_down: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(n_down):
        mult = 2 ** (n_down - i)
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                   _norm(ngf * mult // 2), nn.ReLU(True)]
    return layers


def _head(ngf: int, out_nc: int, activation: nn.Module | None) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_nc, 7, padding=0),
                         *([activation] if activation is not None else []))


class SRMobileCompositeGenerator(nn.Module):
    """The published generator's layout and attributes; ``'teacher' in name`` picks the teacher, as published.

    The foreground branch's first downsampling has stride 1 whatever the mode (as published).
    """

    def __init__(self, *, input_nc: int, prev_nc: int, ngf: int, n_down: int, n_blocks: int, fg: bool, name: str,
                 small_size: tuple[int, int], label_nc: int = 4, use_instance: bool = True) -> None:
        super().__init__()
        self.opt = argparse.Namespace(name=name, label_nc=label_nc, use_instance=use_instance, input_nc=3,
                                      fg_labels=[1], dataset_mode="temporal", loadSize=64, gpu_ids=[0],
                                      fp16=False)
        self.n_downsampling, self.use_fg_model, self.no_flow = n_down, fg, False
        self.resize = torchvision.transforms.Resize(small_size, antialias=False)
        mult = 2 ** n_down
        if fg:
            ngf_fg = ngf // 2 if n_down > 2 else ngf
            self.indv_down = nn.Sequential(*_encoder(input_nc, ngf_fg, n_down, first_stride=1))
            self.indv_res = nn.Sequential(*[InvertedResidual(ngf_fg * mult) for _ in range(n_blocks)])
            self.indv_up = nn.Sequential(*_decoder(ngf_fg, n_down))
            self.indv_final = _head(ngf_fg, 3, nn.Tanh())
        down_seg = _encoder(input_nc, ngf, n_down, first_stride=2 if "teacher" in name else 1)
        down_seg += [InvertedResidual(ngf * mult) for _ in range(n_blocks - n_blocks // 2)]
        self.model_down_seg = nn.Sequential(*down_seg)
        self.model_down_img = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(prev_nc, ngf, 7, padding=0), _norm(ngf),
                                            nn.ReLU(True), *copy.deepcopy(down_seg[4:]))
        self.model_res_img = nn.Sequential(*[InvertedResidual(ngf * mult) for _ in range(n_blocks // 2)])
        self.model_up_img = nn.Sequential(*_decoder(ngf, n_down))
        self.model_final_img = _head(ngf, 3, nn.Tanh())
        self.model_res_flow = copy.deepcopy(self.model_res_img)
        self.model_up_flow = copy.deepcopy(self.model_up_img)
        self.model_final_flow = _head(ngf, 2, None)
        self.model_final_w = _head(ngf, 1, nn.Sigmoid())
        self.grid = torch.zeros(1, 2, 4, 4)  # the published warp caches its grid as a plain attribute

    def forward(self, labels: Tensor, prev: Tensor, mask: Tensor) -> Tensor:
        """The published student forward: resized inputs, full-resolution warp of the last previous frame."""
        small_labels, small_prev = self.resize(labels), self.resize(prev)
        trunk = self.model_down_seg(small_labels) + self.model_down_img(small_prev)
        raw = self.model_final_img(self.model_up_img(self.model_res_img(trunk)))
        flow_feat = self.model_up_flow(self.model_res_flow(trunk))
        flow, weight = self.model_final_flow(flow_feat) * 20, self.model_final_w(flow_feat)
        height, width = flow.shape[-2:]
        grid_x = torch.linspace(-1, 1, width).view(1, 1, width).expand(1, height, width)
        grid_y = torch.linspace(-1, 1, height).view(1, height, 1).expand(1, height, width)
        grid = torch.stack([grid_x + flow[:, 0] / ((width - 1) / 2), grid_y + flow[:, 1] / ((height - 1) / 2)], -1)
        warped = F.grid_sample(prev[:, -3:], grid, mode="bilinear", padding_mode="border", align_corners=True)
        image = raw * weight + warped * (1 - weight)
        if self.use_fg_model:
            fg = self.indv_final(self.indv_up(self.indv_res(self.indv_down(small_labels))))
            image = fg * mask + image * (1 - mask)
        return image


class MultiscaleDiscriminator(nn.Module):
    """The published discriminator's layout with intermediate features (``scale{i}_layer{j}``)."""

    def __init__(self, *, input_nc: int, ndf: int, n_layers: int, num_D: int) -> None:
        super().__init__()
        self.num_D, self.n_layers, self.getIntermFeat = num_D, n_layers, True
        for i in range(num_D):
            width = min(64, ndf * 2 ** (num_D - 1 - i))
            blocks = [[nn.Conv2d(input_nc, width, 4, 2, 2), nn.LeakyReLU(0.2, True)]]
            for n in range(1, n_layers + 1):
                prev, width = width, min(width * 2, 512)
                blocks.append([nn.Conv2d(prev, width, 4, 2 if n < n_layers else 1, 2), nn.BatchNorm2d(width),
                               nn.LeakyReLU(0.2, True)])
            blocks.append([nn.Conv2d(width, 1, 4, 1, 2)])
            for j, block in enumerate(blocks):
                setattr(self, f"scale{i}_layer{j}", nn.Sequential(*block))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)


PUBLISHED_CLASSES = (InvertedResidual, SRMobileCompositeGenerator, MultiscaleDiscriminator)


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the stand-ins picklable as ``models.networks.<Class>`` (the published paths) for this test."""
    import models.networks

    for cls in PUBLISHED_CLASSES:
        monkeypatch.setattr(cls, "__module__", PUBLISHED_MODULE)
        monkeypatch.setattr(models.networks, cls.__name__, cls, raising=False)
