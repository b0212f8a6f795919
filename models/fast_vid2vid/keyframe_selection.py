"""Key-frame selection for Fast-Vid2Vid inference: which frames the generator makes, which are interpolated.

Three rules, chosen with :class:`KeyframePolicy`:

- ``"published"`` (Fast-Vid2Vid ``util/keyframes.py``): from the input label/edge/pose video,
  ``d[k] = sum over pixels and channels of |LUV(frame k+1) - LUV(frame k)|`` (8-bit OpenCV LUV of the RGB
  picture), smoothed with a Hanning window of ``window`` samples (3 as published) and reflect-style padding;
  every strict local maximum ``k`` of the smoothed curve (first and last sample excluded) makes frame ``k + 1``
  a key: the first frame after a locally largest change of the input.
- ``"interval"``: every ``key_interval``-th frame from the first generated one.
- either one with ``max_key_gap = N``: no two consecutive keys more than ``N`` frames apart (keys inserted).

Always keys: frames ``0 .. n_frames_G - 1`` (the ``n_frames_G - 1`` conditioning frames, real or from the
single-frame generator, and frame ``n_frames_G - 1``, the first one the video generator makes) and the last
frame. Interpolation therefore only happens between generated frames, from frame ``n_frames_G - 1`` on.

What the published code does, and where this module differs on purpose:

- Its smoothing pads the curve with ``2 d[0] - d[w], ..., 2 d[0] - d[2]`` on the left and
  ``2 d[-1] - d[-1], ..., 2 d[-1] - d[-(w-1)]`` on the right (an odd reflection shifted by one sample),
  convolves with ``hanning(w) / sum`` ("same" mode) and crops back; curves shorter than ``w`` stay unchanged.
  We do the same. ``np.hanning(3)`` is ``[0, 1, 0]``, so the published smoothing is the identity (the keys are
  the local maxima of the raw curve); ``window=5`` gives ``[0.25, 0.5, 0.25]``.
- With a curve of exactly ``w`` samples its left pad loses one value and the result is shifted by one sample
  and one sample short; we clamp the missing index instead (same length, no shift). Only windows > 3 notice.
- It reads the label PNGs with ``cv2.imread`` (ids become grey ``(id, id, id)`` pictures, so the difference
  follows the numeric distance of the ids) and resizes pictures whose path contains ``B`` to 512x512. We
  colour label ids with the project's palette (:func:`label_picture`; ``grey=True`` gives the published
  pictures) so the criterion measures visible change for label maps, edge maps and poses alike, and we use the
  frames at the size they are given.
- It builds the generated list as first ``n_frames_G`` frames + keys + last frame without removing repeats
  (a key at frame ``n_frames_G - 1`` is generated twice); keys here are a sorted set.
- Even windows (off-centre "same" convolution) are refused.

:func:`select_keyframes` works on a whole sequence; :class:`StreamingKeyframeSelector` decides frame by frame
with bounded lookahead and gives the same keys (``tests/test_keyframe_selection.py`` checks it).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Optional, Sequence

import cv2
import numpy as np
from torch import Tensor

from util.image import colorize_labels, input_visual

MODES = ("published", "interval")


@dataclass(frozen=True)
class KeyframePolicy:
    """Which frames are keys.

    Attributes:
        mode: ``"published"`` (local maxima of the LUV difference curve) or ``"interval"``.
        n_frames_G: Generator input frames (``--n_frames_G``): frames ``0 .. n_frames_G - 1`` are always keys.
        key_interval: ``"interval"`` mode: keys at ``n_frames_G - 1 + i * key_interval``.
        max_key_gap: If > 0, the largest allowed distance (in frames) between consecutive keys.
        window: Hanning window length of the ``"published"`` smoothing (odd, >= 3; 3 as published).
    """

    mode: str = "published"
    n_frames_G: int = 3
    key_interval: int = 0
    max_key_gap: int = 0
    window: int = 3

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown key-frame mode {self.mode!r}; choose one of {MODES}")
        if self.mode == "interval" and self.key_interval < 1:
            raise ValueError(f"interval mode needs key_interval >= 1, got {self.key_interval}")
        if self.n_frames_G < 1 or self.max_key_gap < 0:
            raise ValueError(f"need n_frames_G >= 1 and max_key_gap >= 0, got {self.n_frames_G}, "
                             f"{self.max_key_gap}")
        if self.window < 3 or self.window % 2 == 0:
            raise ValueError(f"the smoothing window must be odd and >= 3, got {self.window}")


class FrameDecision(NamedTuple):
    """The decision for one frame: its index in the sequence and whether it is a key (generated)."""

    index: int
    is_key: bool


# ---------------------------------------------------------------------------------------------- the curve
def label_picture(label_ids: np.ndarray, label_nc: int, grey: bool = False) -> np.ndarray:
    """The RGB picture of a label map that the difference criterion compares.

    Args:
        label_ids: (H, W) integer class ids.
        label_nc: Number of classes (``--label_nc``; chooses the palette of :func:`util.image.label_colormap`).
        grey: Give the published picture instead: the id as a grey level in all three channels.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    if grey:
        return np.repeat(np.clip(label_ids, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return colorize_labels(label_ids, label_nc)


def input_picture(frame: Tensor, *, label_nc: int, dataset_mode: str = "", grey: bool = False) -> np.ndarray:
    """The picture of one test input frame (a test item's ``"A"``) that the criterion compares.

    Args:
        frame: (C, H, W), or the loader's (1, 1, C, H, W): label ids (C = 1) when ``label_nc > 0``, else the
            network input (edge maps, DensePose + OpenPose, RGB).
        label_nc: ``--label_nc``.
        dataset_mode: ``--dataset_mode`` (``pose`` shows DensePose with OpenPose on top).
        grey: Label ids as grey levels, as the published code reads them (see :func:`label_picture`).

    Returns:
        (H, W, 3) uint8 RGB, as :func:`util.image.input_visual` shows the input.
    """
    frame = frame.detach().reshape(-1, *frame.shape[-2:]).cpu()
    if label_nc > 0:
        return label_picture(frame[0].round().long().numpy(), label_nc, grey=grey)
    return input_visual(frame, label_nc=0, dataset_mode=dataset_mode)


def luv_difference(previous: np.ndarray, current: np.ndarray) -> int:
    """``sum |LUV(current) - LUV(previous)|`` over pixels and the three 8-bit LUV channels.

    Args:
        previous: (H, W, 3) uint8 RGB picture.
        current: (H, W, 3) uint8 RGB picture of the same size.
    """
    if previous.shape != current.shape or previous.ndim != 3 or previous.shape[2] != 3:
        raise ValueError(f"expected two (H, W, 3) pictures of one size, got {previous.shape} and {current.shape}")
    luv_prev = cv2.cvtColor(np.ascontiguousarray(previous, dtype=np.uint8), cv2.COLOR_RGB2LUV)
    luv_cur = cv2.cvtColor(np.ascontiguousarray(current, dtype=np.uint8), cv2.COLOR_RGB2LUV)
    return int(cv2.absdiff(luv_cur, luv_prev).sum(dtype=np.int64))


def difference_curve(pictures: Iterable[np.ndarray]) -> np.ndarray:
    """``d[k] = luv_difference(picture k, picture k+1)`` for a stream of pictures (only one is held).

    Args:
        pictures: (H, W, 3) uint8 RGB pictures in frame order.

    Returns:
        (max(T - 1, 0),) float64 curve for T pictures.
    """
    curve, previous = [], None
    for picture in pictures:
        if previous is not None:
            curve.append(luv_difference(previous, picture))
        previous = picture
    return np.asarray(curve, dtype=np.float64)


def _hanning_kernel(window: int) -> np.ndarray:
    """Normalised ``np.hanning(window)``: (window,) weights summing to 1."""
    kernel = np.hanning(window)
    return kernel / kernel.sum()


def reach(window: int) -> int:
    """How many samples on each side a smoothed value depends on (the Hanning ends are exact zeros)."""
    nonzero = np.flatnonzero(_hanning_kernel(window))
    return int(nonzero[-1] - (window - 1) // 2)


def smooth_curve(curve: np.ndarray, window: int = 3) -> np.ndarray:
    """The published Hanning smoothing (see the module docstring for the padding).

    Args:
        curve: (N,) difference curve.
        window: Odd window length >= 3.

    Returns:
        (N,) smoothed curve; a copy of ``curve`` when N < window (as published).
    """
    curve = np.asarray(curve, dtype=np.float64)
    n = curve.size
    if n < window:
        return curve.copy()
    left = 2 * curve[0] - curve[[min(i, n - 1) for i in range(window, 1, -1)]]
    right = 2 * curve[-1] - curve[[n - 1 - i for i in range(window - 1)]]
    padded = np.concatenate([left, curve, right])
    smoothed = np.convolve(padded, _hanning_kernel(window), mode="same")
    return smoothed[window - 1: window - 1 + n]


def strict_local_maxima(curve: np.ndarray) -> np.ndarray:
    """Indices ``k`` with ``curve[k-1] < curve[k] > curve[k+1]`` (first and last sample never count), as
    ``scipy.signal.argrelextrema(curve, np.greater)``.

    Args:
        curve: (N,) values.

    Returns:
        (M,) int64 indices, increasing.
    """
    if curve.size < 3:
        return np.zeros(0, dtype=np.int64)
    inner = curve[1:-1]
    return np.flatnonzero((inner > curve[:-2]) & (inner > curve[2:])) + 1


# ---------------------------------------------------------------------------------------------- the keys
def published_keys(curve: np.ndarray, window: int = 3) -> list[int]:
    """Frames whose change from the previous frame is a strict local maximum of the smoothed curve.

    Args:
        curve: (T - 1,) difference curve of a T-frame sequence.
        window: Smoothing window.

    Returns:
        Frame indices (``maximum + 1``), increasing.
    """
    return [int(k) + 1 for k in strict_local_maxima(smooth_curve(curve, window))]


def interval_keys(n_frames: int, n_frames_G: int, interval: int) -> list[int]:
    """Frames ``n_frames_G - 1 + i * interval`` below ``n_frames``."""
    return list(range(max(n_frames_G - 1, 0), n_frames, interval))


def always_keys(n_frames: int, n_frames_G: int) -> list[int]:
    """Frames ``0 .. n_frames_G - 1`` (conditioning frames and the first generated one) and the last."""
    if n_frames <= 0:
        return []
    return sorted(set(range(min(n_frames_G, n_frames))) | {n_frames - 1})


def split_gap(start: int, end: int, max_gap: int) -> list[int]:
    """Keys to insert strictly between consecutive keys ``start < end`` so that no gap exceeds ``max_gap``.

    A gap of at most ``2 * max_gap`` frames gets one key in its middle; a longer one gets a key every
    ``max_gap`` frames from ``start`` until the rest is that short. (Evenly spread keys over an arbitrarily
    long gap would need the whole gap before deciding its first frame; this rule needs ``2 * max_gap``.)
    """
    inserted = []
    while end - start > 2 * max_gap:
        start += max_gap
        inserted.append(start)
    if end - start > max_gap:
        inserted.append(start + (end - start) // 2)
    return inserted


def cap_key_gaps(keys: Sequence[int], max_gap: int) -> list[int]:
    """``keys`` (increasing) with :func:`split_gap` keys added in every gap longer than ``max_gap`` (0: none)."""
    if max_gap <= 0 or not keys:
        return list(keys)
    capped = [keys[0]]
    for key in keys[1:]:
        capped += split_gap(capped[-1], key, max_gap)
        capped.append(key)
    return capped


def mode_keys(curve: np.ndarray, policy: KeyframePolicy) -> list[int]:
    """The keys of ``policy.mode`` alone (no always-keys, no cap) for a ``len(curve) + 1``-frame sequence.

    Args:
        curve: (T - 1,) difference curve (only its length matters in ``"interval"`` mode).
        policy: The selection rule.
    """
    if policy.mode == "interval":
        return interval_keys(len(curve) + 1, policy.n_frames_G, policy.key_interval)
    return published_keys(curve, policy.window)


def keys_from_curve(curve: np.ndarray, policy: KeyframePolicy) -> list[int]:
    """The keys of a ``len(curve) + 1``-frame sequence under ``policy``.

    Args:
        curve: (T - 1,) difference curve (only its length matters in ``"interval"`` mode).
        policy: The selection rule.

    Returns:
        Increasing frame indices, always including :func:`always_keys`.
    """
    keys = set(mode_keys(curve, policy)) | set(always_keys(len(curve) + 1, policy.n_frames_G))
    return cap_key_gaps(sorted(keys), policy.max_key_gap)


def select_keyframes(pictures: Iterable[np.ndarray], policy: KeyframePolicy = KeyframePolicy()) -> list[int]:
    """Key frames of a whole sequence of input pictures (held one at a time).

    Args:
        pictures: (H, W, 3) uint8 RGB pictures of the input frames in order (:func:`input_picture` of each
            test item's ``"A"``, or :func:`label_picture` of label ids).
        policy: The selection rule.

    Returns:
        Increasing frame indices of the key frames (empty for an empty sequence).
    """
    pictures = iter(pictures)
    first = next(pictures, None)
    if first is None:
        return []
    return keys_from_curve(difference_curve(itertools.chain([first], pictures)), policy)


# ---------------------------------------------------------------------------------------------- streaming
class StreamingKeyframeSelector:
    """Frame-by-frame key decisions with bounded lookahead; the same keys as :func:`select_keyframes`.

    Feed each input picture with :meth:`push` (or its difference to the previous one with
    :meth:`push_difference`); both return the frames decided by then, in frame order, each exactly once.
    :meth:`finish` decides the rest at the end of the sequence (the last frame is a key). Frame ``j`` is
    decided once frame ``j + 1 + reach(window)`` has arrived (``j + 1`` for the published window of 3), later
    only while a ``max_key_gap`` rule waits for the next key (at most ``2 * max_key_gap`` frames). It holds the
    previous picture and one number per frame (each push re-smooths that curve: negligible next to a frame).

    Args:
        policy: The selection rule.
    """

    def __init__(self, policy: KeyframePolicy = KeyframePolicy()) -> None:
        self.policy = policy
        self.curve: list[float] = []
        self.n_frames = 0
        self._previous: Optional[np.ndarray] = None
        self._last_key = -1       # highest frame decided as a key (-1: none yet)
        self._decided = 0         # frames 0 .. _decided - 1 have been returned
        self._finished = False

    def push(self, picture: np.ndarray) -> list[FrameDecision]:
        """Add the next frame's (H, W, 3) uint8 RGB picture; return the frames decided now."""
        difference = None if self._previous is None else luv_difference(self._previous, picture)
        self._previous = picture
        return self.push_difference(difference)

    def push_difference(self, difference: Optional[float]) -> list[FrameDecision]:
        """Add the next frame by its difference to the previous one (None for the first frame)."""
        if self._finished:
            raise RuntimeError("the sequence is finished; make a new selector for the next one")
        if (difference is None) != (self.n_frames == 0):
            raise ValueError("the first frame has no difference, every later frame needs one")
        if difference is not None:
            self.curve.append(float(difference))
        self.n_frames += 1
        return self._advance(final=False)

    def finish(self) -> list[FrameDecision]:
        """End of the sequence: decide every remaining frame."""
        self._finished = True
        return self._advance(final=True)

    def _known_keys(self, final: bool) -> tuple[set[int], int]:
        """Keys of the mode rule and the always-keys known so far, and the highest frame whose status is final."""
        policy = self.policy
        if final:
            curve = np.asarray(self.curve)
            return set(mode_keys(curve, policy)) | set(always_keys(self.n_frames, policy.n_frames_G)), \
                self.n_frames - 1
        first_generated = min(policy.n_frames_G, self.n_frames) - 1
        keys = set(range(first_generated + 1))
        if policy.mode == "interval":
            return keys | set(interval_keys(self.n_frames, policy.n_frames_G, policy.key_interval)), \
                self.n_frames - 2
        margin = reach(policy.window)
        if margin > 0 and len(self.curve) < policy.window + 1:  # the left padding is not final yet
            return keys, first_generated
        keys |= set(published_keys(np.asarray(self.curve), policy.window))
        return keys, max(len(self.curve) - 1 - margin, first_generated)

    def _advance(self, final: bool) -> list[FrameDecision]:
        """Decide the frames whose status can no longer change (gaps capped as :func:`split_gap` does)."""
        keys, known = self._known_keys(final)
        cap = self.policy.max_key_gap
        decisions: list[FrameDecision] = []
        while self._decided <= known:
            nxt = min((k for k in keys if self._decided <= k <= known), default=None)
            if cap > 0 and self._last_key >= 0:
                limit = self._last_key + 2 * cap
                if nxt is not None and nxt <= limit:
                    decisions += self._emit_until(nxt, split_gap(self._last_key, nxt, cap))
                elif known >= limit:
                    decisions += self._emit_until(self._last_key + cap, [])
                else:
                    break  # the next key may still fall within 2 * cap and move the inserted one
            elif nxt is None:
                decisions += [FrameDecision(i, False) for i in range(self._decided, known + 1)]
                self._decided = known + 1
            else:
                decisions += self._emit_until(nxt, [])
        return decisions

    def _emit_until(self, key: int, inserted: list[int]) -> list[FrameDecision]:
        """Decisions for frames ``_decided .. key``: ``key`` and ``inserted`` are keys, the others not."""
        marked = set(inserted) | {key}
        decisions = [FrameDecision(i, i in marked) for i in range(self._decided, key + 1)]
        self._decided, self._last_key = key + 1, key
        return decisions
