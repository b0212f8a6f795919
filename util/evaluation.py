"""Scoring generated videos against the real ones: per frame, per sequence and over the whole set.

Frames are read pair by pair (generated, real), the real frame resized to the generated size; one sequence is
held in memory only as 224x224 copies, and only when I3D is used. Networks come in as callables
(:class:`Scorers`), so this module needs no network code:

- per frame: PSNR, SSIM, LPIPS (optional), warping error of the generated and of the real video;
- per set: FID (Inception pool3 of every frame), FVD (I3D logits of 16-frame clips at 224x224) and
  Fast-Vid2Vid's I3D-feature distance (Mixed_5c averaged over t, h, w, one vector per whole video).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from util import metrics

FRAME_MEASURES = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS", "warp_error": "warp err",
                  "warp_error_real": "warp err (real)"}
SET_MEASURES = {
    "fid": "FID (Inception pool3 of every frame)",
    "fvd": "FVD (I3D logits of {clip_length}-frame clips at {clip_size}x{clip_size})",
    "i3d_feature_distance_fast_vid2vid": "Fast-Vid2Vid I3D-feature distance (Mixed_5c mean, one per video, "
                                         "{clip_size}x{clip_size})",
}


@dataclass(frozen=True)
class FramePair:
    """A generated frame and the real frame with the same stem."""

    stem: str
    fake: str
    real: str


@dataclass(frozen=True)
class SequencePairs:
    """The paired frames of one video, in frame order: ``name`` in the results, ``real_name`` its real folder."""

    name: str
    real_name: str
    pairs: list[FramePair]


class VideoNet(Protocol):
    """What the set measures need of I3D (:class:`models.networks.i3d.InceptionI3d`)."""

    def features(self, clip: Tensor) -> Tensor: ...  # (B, 3, T, H, W) in [-1, 1] -> (B, 1024)

    def class_logits(self, clip: Tensor) -> Tensor: ...  # (B, 3, T, H, W) in [-1, 1] -> (B, classes)


@dataclass
class Scorers:
    """The measuring tools.

    Attributes:
        flow: Flow on real frames (:data:`util.metrics.FlowFn`).
        warp: The warp (:data:`util.metrics.WarpFn`).
        device: Where frames are scored.
        inception: (N, 3, H, W) in [0, 1] -> (N, 2048) FID features, or None.
        i3d: The video network, or None.
        lpips: (N, 3, H, W), (N, 3, H, W) in [-1, 1] -> (N,) or (N, 1, 1, 1) distances, or None.
        clip_length: Frames per FVD clip.
        clip_size: Side of the square frames I3D sees.
    """

    flow: metrics.FlowFn
    warp: metrics.WarpFn
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    inception: Optional[Callable[[Tensor], Tensor]] = None
    i3d: Optional[VideoNet] = None
    lpips: Optional[Callable[[Tensor, Tensor], Tensor]] = None
    clip_length: int = 16
    clip_size: int = 224


@dataclass
class FrameScores:
    """The scores of one frame (warping errors belong to the pair (t-1, t); None for the first frame)."""

    stem: str
    fake: str
    real: str
    psnr: float
    ssim: float
    lpips: Optional[float] = None
    warp_error: Optional[float] = None
    warp_error_real: Optional[float] = None


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    """Mean of the values that are not None or NaN (inf propagates); None if there are none."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else None


@dataclass
class SequenceScores:
    """The frames of one video and their sizes, (width, height)."""

    name: str
    real_name: str
    frames: list[FrameScores]
    generated_size: tuple[int, int]
    real_size: tuple[int, int]

    def mean(self, key: str) -> Optional[float]:
        """Mean of a per-frame measure over this sequence (None if never measured)."""
        return _mean(getattr(frame, key) for frame in self.frames)


@dataclass
class Evaluation:
    """Everything measured: per sequence, set-level distances (None where not computed), notes, and the
    description of each set measure."""

    sequences: list[SequenceScores]
    set_scores: dict[str, Optional[float]]
    notes: list[str]
    set_labels: dict[str, str] = field(default_factory=dict)

    def overall(self, key: str) -> Optional[float]:
        """Mean of a per-frame measure over every frame of every sequence."""
        return _mean(getattr(frame, key) for seq in self.sequences for frame in seq.frames)


def load_frame(path: str, size: Optional[tuple[int, int]] = None) -> tuple[Tensor, tuple[int, int]]:
    """An RGB frame as a (3, H, W) float tensor in [0, 1], resized (PIL bicubic) to ``size`` = (W, H) if given.

    Returns:
        The frame and its size on disk, (width, height).
    """
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    file_size = rgb.size
    if size is not None and rgb.size != tuple(size):
        rgb = rgb.resize(tuple(size), Image.BICUBIC)
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float().div(255.0), file_size


class FeatureBank:
    """Features of generated and real samples per set measure, and their Frechet distances."""

    def __init__(self) -> None:
        self.fake: dict[str, list[np.ndarray]] = {}
        self.real: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, fake: Tensor, real: Tensor) -> None:
        """fake, real: (N, D) features of N samples each."""
        self.fake.setdefault(name, []).append(fake.detach().double().cpu().numpy())
        self.real.setdefault(name, []).append(real.detach().double().cpu().numpy())

    def distance(self, name: str) -> tuple[Optional[float], str]:
        """The Frechet distance of measure ``name`` and an explanation when it cannot be computed."""
        if name not in self.fake:
            return None, ""
        fake, real = np.concatenate(self.fake[name]), np.concatenate(self.real[name])
        if len(fake) < 2:
            return None, f"{name}: not computed, it needs at least 2 samples and there {_count(len(fake))}"
        return metrics.frechet_distance(fake, real), f"{name}: {len(fake)} samples per side"


def _count(n: int) -> str:
    return "is 1" if n == 1 else f"are {n}"


@torch.no_grad()
def _score_frame(fake: Tensor, real: Tensor, scorers: Scorers, bank: FeatureBank) -> dict[str, float]:
    """PSNR, SSIM and LPIPS of one frame; its FID features go to ``bank``.

    Args:
        fake: (3, H, W) generated frame in [0, 1].
        real: (3, H, W) real frame in [0, 1], same size.
    """
    fake, real = fake.unsqueeze(0), real.unsqueeze(0)
    scores = {"psnr": float(metrics.psnr(fake, real)[0]), "ssim": float(metrics.ssim(fake, real)[0])}
    if scorers.lpips is not None:
        scores["lpips"] = float(scorers.lpips(fake * 2 - 1, real * 2 - 1).flatten()[0])
    if scorers.inception is not None:
        bank.add("fid", scorers.inception(fake), scorers.inception(real))
    return scores


@torch.no_grad()
def temporal_errors(fake_prev: Tensor, fake: Tensor, real_prev: Tensor, real: Tensor,
                    scorers: Scorers) -> tuple[float, float]:
    """Warping error of the generated pair (t-1, t) and of the real pair, both with the real frames' flow.

    The flow t -> t-1 warps frame t-1 onto t; the flow t -> t-1 and t-1 -> t of the real frames give the
    visibility mask (:func:`util.metrics.visibility_mask`).

    Args:
        fake_prev: (3, H, W) generated frame t-1 in [0, 1].
        fake: (3, H, W) generated frame t.
        real_prev: (3, H, W) real frame t-1.
        real: (3, H, W) real frame t.

    Returns:
        (generated, real) warping errors; NaN where no pixel is visible.
    """
    current = torch.stack([real, real_prev]) * 2 - 1
    previous = torch.stack([real_prev, real]) * 2 - 1
    flows = scorers.flow(current, previous).to(real.device, torch.float32)
    flow_back = flows[:1].expand(2, -1, -1, -1)
    mask = metrics.visibility_mask(flows[:1], flows[1:], scorers.warp).expand(2, -1, -1, -1)
    errors = metrics.warping_error(torch.stack([fake, real]), torch.stack([fake_prev, real_prev]), flow_back, mask,
                                   scorers.warp)
    return float(errors[0]), float(errors[1])


def i3d_input(frame: Tensor, size: int) -> Tensor:
    """frame: (3, H, W) in [0, 1] -> (3, size, size) in [-1, 1], bilinear without antialiasing (as TF's FVD)."""
    small = F.interpolate(frame.unsqueeze(0), size=(size, size), mode="bilinear", align_corners=False)
    return small[0] * 2 - 1


@torch.no_grad()
def add_video_features(fake_frames: list[Tensor], real_frames: list[Tensor], scorers: Scorers,
                       bank: FeatureBank) -> int:
    """I3D features of one video: its whole-video Mixed_5c mean and the logits of each full clip.

    Args:
        fake_frames: T generated frames, each (3, S, S) in [-1, 1] (:func:`i3d_input`).
        real_frames: T real frames, likewise.

    Returns:
        The number of non-overlapping ``clip_length``-frame clips scored.
    """
    fake = torch.stack(fake_frames, dim=1).unsqueeze(0)
    real = torch.stack(real_frames, dim=1).unsqueeze(0)
    both = scorers.i3d.features(torch.cat([fake, real]))
    bank.add("i3d_feature_distance_fast_vid2vid", both[:1], both[1:])
    length, clips = scorers.clip_length, 0
    for start in range(0, fake.shape[2] - length + 1, length):
        logits = scorers.i3d.class_logits(torch.cat([fake, real])[:, :, start:start + length])
        bank.add("fvd", logits[:1], logits[1:])
        clips += 1
    return clips


def load_pair(pair: FramePair, size: Optional[tuple[int, int]]) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """The generated and real frames of ``pair``, the real one resized to the generated size.

    Args:
        pair: The two files.
        size: The size, (width, height), every generated frame of the sequence must have (None: any).

    Returns:
        (3, H, W) generated and real frames in [0, 1], and the real frame's size on disk.

    Raises:
        ValueError: the generated frame is not ``size``.
    """
    fake, generated_size = load_frame(pair.fake)
    if size is not None and generated_size != size:
        raise ValueError(f"{pair.fake} is {generated_size[0]}x{generated_size[1]} but the sequence's first "
                         f"generated frame is {size[0]}x{size[1]}")
    real, real_size = load_frame(pair.real, size=generated_size)
    return fake, real, real_size


def score_sequence(sequence: SequencePairs, scorers: Scorers, bank: FeatureBank,
                   progress: Optional[Callable[[], None]] = None) -> SequenceScores:
    """Every measure of one video (at least one pair); set-level features go to ``bank``.

    Args:
        sequence: The paired frames, in order.
        scorers: The tools.
        bank: Collects FID and I3D features.
        progress: Called after each frame.

    Raises:
        ValueError: the generated frames of the sequence differ in size.
    """
    frames: list[FrameScores] = []
    small: tuple[list[Tensor], list[Tensor]] = ([], [])
    sizes: Optional[tuple[tuple[int, int], tuple[int, int]]] = None
    prev: Optional[tuple[Tensor, Tensor]] = None
    for pair in sequence.pairs:
        fake, real, real_size = load_pair(pair, sizes[0] if sizes else None)
        sizes = sizes or ((fake.shape[2], fake.shape[1]), real_size)
        fake, real = fake.to(scorers.device), real.to(scorers.device)
        scores = FrameScores(pair.stem, pair.fake, pair.real, **_score_frame(fake, real, scorers, bank))
        if prev is not None:
            scores.warp_error, scores.warp_error_real = temporal_errors(prev[0], fake, prev[1], real, scorers)
        if scorers.i3d is not None:
            small[0].append(i3d_input(fake, scorers.clip_size))
            small[1].append(i3d_input(real, scorers.clip_size))
        frames.append(scores)
        prev = (fake, real)
        if progress is not None:
            progress()
    if sizes is None:
        raise ValueError(f"sequence {sequence.name} has no frame pairs")
    if scorers.i3d is not None:
        add_video_features(small[0], small[1], scorers, bank)
    return SequenceScores(sequence.name, sequence.real_name, frames, sizes[0], sizes[1])


def set_distances(bank: FeatureBank, scorers: Scorers) -> tuple[dict[str, Optional[float]], list[str]]:
    """The set measures the scorers allow, and a note on each (samples used, or why it is missing)."""
    wanted = (["fid"] if scorers.inception is not None else []) + (
        ["fvd", "i3d_feature_distance_fast_vid2vid"] if scorers.i3d is not None else [])
    scores: dict[str, Optional[float]] = {}
    notes = []
    for name in wanted:
        if name in bank.fake:
            scores[name], note = bank.distance(name)
        else:
            scores[name], note = None, f"{name}: not computed, no sequence has {scorers.clip_length} paired frames"
        notes.append(note)
    return scores, notes


def resize_notes(sequences: list[SequenceScores]) -> list[str]:
    """One note listing the sequences whose real frames were resized to the generated size."""
    resized = [f"{s.name} ({s.real_size[0]}x{s.real_size[1]} -> {s.generated_size[0]}x{s.generated_size[1]})"
               for s in sequences if s.real_size != s.generated_size]
    if not resized:
        return []
    return ["real frames resized to the generated size (PIL bicubic) for: " + ", ".join(resized)]


def evaluate(sequences: list[SequencePairs], scorers: Scorers, progress: bool = False) -> Evaluation:
    """Score every sequence and the set (with a tqdm bar over frames when ``progress``)."""
    from util.progress import progress as progress_bar

    bank = FeatureBank()
    scored = []
    with progress_bar(total=sum(len(s.pairs) for s in sequences), desc="scoring", unit="frame",
              disable=not progress) as bar:
        for sequence in sequences:
            bar.set_postfix_str(sequence.name, refresh=False)
            scored.append(score_sequence(sequence, scorers, bank, progress=lambda: bar.update(1)))
    set_scores, notes = set_distances(bank, scorers)
    labels = {name: SET_MEASURES[name].format(clip_length=scorers.clip_length, clip_size=scorers.clip_size)
              for name in set_scores}
    return Evaluation(scored, set_scores, resize_notes(scored) + notes, labels)
