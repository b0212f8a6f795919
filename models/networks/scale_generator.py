"""The per-scale generator interface every ``--netG`` entry implements.

A generator type builds one :class:`ScaleGenerator` per spatial scale, coarsest first (checkpoint labels
``G0``, ``G1``, ...). :class:`~models.networks.video_generator.VideoGenerator` calls them in turn for each
output frame with a :class:`ScaleInput` and passes each scale's :class:`CoarseFeatures` to the next finer one.
A network declares what it supports (``supports_sparse_stem``, :meth:`ScaleGenerator.label_stems`); nothing
outside it looks inside its modules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple, Optional, Sequence, Union

from torch import Tensor, nn

from models.networks.sparse_conv import OneHotInput, SparseLayers

SparseStack = Union[OneHotInput, SparseLayers]


@dataclass(frozen=True)
class GeneratorConfig:
    """What a generator type is built from (options translated by ``models.networks.define_G``).

    Attributes:
        input_nc: Channels per input frame (label_nc or input_nc, +1 with instance edges).
        output_nc: Output image channels.
        n_frames_G: Frames per generator input (tG); tG-1 previous outputs are fed back.
        ngf: Filters of the coarsest scale; scale s uses ``ngf // 2**s``.
        n_downsampling: Downsamplings of the coarsest scale.
        n_blocks: Residual blocks of the coarsest scale.
        n_blocks_local: Residual blocks of each finer scale.
        n_scales: Spatial scales.
        norm: ``"batch"`` or ``"instance"``.
        fg_labels: Foreground class ids; a non-empty list turns the foreground model on.
        no_flow: No flow/weight heads.
        student: Fast-Vid2Vid's spatially compressed student (read the inputs at 1/``student_scale``).
        student_scale: Input downsampling factor of the student.
    """

    input_nc: int
    output_nc: int = 3
    n_frames_G: int = 3
    ngf: int = 128
    n_downsampling: int = 3
    n_blocks: int = 9
    n_blocks_local: int = 3
    n_scales: int = 1
    norm: str = "batch"
    fg_labels: Sequence[int] = field(default_factory=tuple)
    no_flow: bool = False
    student: bool = False
    student_scale: int = 2

    @property
    def use_fg(self) -> bool:
        """Whether the foreground branch exists."""
        return bool(self.fg_labels)


class CoarseFeatures(NamedTuple):
    """Decoder features handed from a coarser scale: (B, C, H/2, W/2) each; flow/fg may be None."""

    img_feat: Tensor
    flow_feat: Optional[Tensor]
    fg_feat: Optional[Tensor]


class ScaleInput(NamedTuple):
    """Everything one scale reads to generate one frame.

    Attributes:
        labels: (B, tG*C, H, W) label stack of the tG input frames at this scale's resolution.
        prev: (B, (tG-1)*3, H, W) previous output frames of this scale, oldest first, in [-1, 1].
        mask: (B, 1, H, W) foreground mask in [0, 1] (required with the foreground model), else None.
        coarse: The coarser scale's features, None at the coarsest scale.
        use_raw_only: Skip the warp (the first frame synthesised from nothing, ``--no_first_img``).
        sparse: ``labels`` as one-hot ids or sparse layers for the exact embedding-bag first convolution;
            only given to networks with ``supports_sparse_stem``.
    """

    labels: Tensor
    prev: Tensor
    mask: Optional[Tensor] = None
    coarse: Optional[CoarseFeatures] = None
    use_raw_only: bool = False
    sparse: Optional[SparseStack] = None


class GeneratorOutput(NamedTuple):
    """What one generator scale produces for one frame.

    Attributes:
        image: (B, 3, H, W) final frame in [-1, 1] (blend of raw, warped previous and foreground).
        flow: (B, 2, H, W) flow to the previous frame in pixels of this scale, or None with no_flow.
        weight: (B, 1, H, W) occlusion weight in [0, 1] (1 = hallucinate), or None with no_flow.
        raw_image: (B, 3, H, W) hallucinated frame (with the foreground pasted in when fg is on).
        img_feat: (B, ngf, H', W') image decoder features, passed to the next finer scale.
        flow_feat: (B, ngf, H', W') flow decoder features, or None with no_flow.
        fg_feat: (B, ngf_fg, H', W') foreground decoder features, or None without the foreground model.
    """

    image: Tensor
    flow: Optional[Tensor]
    weight: Optional[Tensor]
    raw_image: Tensor
    img_feat: Tensor
    flow_feat: Optional[Tensor]
    fg_feat: Optional[Tensor]

    def coarse_features(self) -> CoarseFeatures:
        """The features the next finer scale reads."""
        return CoarseFeatures(self.img_feat, self.flow_feat, self.fg_feat)


class LabelStem(NamedTuple):
    """A label-reading branch split for the sparse path: its first convolution and what follows it."""

    conv: nn.Conv2d
    rest: nn.Module


class ScaleGenerator(nn.Module, ABC):
    """Base of the per-scale generators: ``forward(ScaleInput) -> GeneratorOutput``.

    Class attributes:
        supports_sparse_stem: Whether :meth:`label_stems` gives the label branches for the exact embedding-bag
            first convolution (a reflection-padded 7x7 convolution over the label stack).
    """

    supports_sparse_stem: ClassVar[bool] = False

    @abstractmethod
    def forward(self, inputs: ScaleInput) -> GeneratorOutput:
        """Generate one frame at this scale."""

    def label_stems(self) -> list[LabelStem]:
        """The branches reading ``labels``, split after their first convolution (networks with
        ``supports_sparse_stem`` only)."""
        raise NotImplementedError(f"{type(self).__name__} has no sparse label stem")
