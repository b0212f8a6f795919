"""Key-frame inference (Fast-Vid2Vid): the generator makes the key frames, interpolation fills the rest.

:class:`KeyframeInference` wraps any model's per-frame :class:`~models.base_model.FrameGenerator`
(``test.py --keyframes published|interval``). For every test item it

1. feeds the input picture to a :class:`~models.fast_vid2vid.keyframe_selection.StreamingKeyframeSelector`, which decides each frame
   with a bounded lookahead (one frame for the published rule);
2. hands the key items, and only those, to the wrapped generator. The wrapped generator keeps its own window
   of the last ``n_frames_G`` items it was given and of its own last outputs, so each key is conditioned on
   the label maps and generated images of the previous *keys*, as temporal distillation trains the student
   and as the published inference restricts the frame list;
3. fills the frames between two generated keys with :class:`~models.fast_vid2vid.interpolation.GapInterpolator` at their
   true time stamps (frame indices): bidirectional flow between the keys (``--flow_backend``) and, for label
   input, the label maps of the in-between frames (label-aware rule).

With ``overlap`` (test.py sets it when the generator runs on an accelerator), a closed gap is interpolated on one worker thread while the caller goes
on (writing frames, reading and generating the next key); its frames are returned by a later call, or by
:meth:`KeyframeInference.flush`, in the same order and with the same content. At most two gaps are in flight
(a third waits for the oldest), so memory stays bounded. On the CPU the generator already uses every core:
there overlapping measured 0.95-1.04x (bench/fast.py --sections overlap), so test.py leaves it off.

Memory: per sequence it holds the items the selector has not decided yet (the lookahead), the items of the
current gap (label maps only: the real frames ``B`` are dropped from frames that are not keys) and the two
keys of :class:`GapInterpolator`. A gap is bounded by ``--max_key_gap`` when set; without it, by the longest
stretch of the input without a local maximum of change (the published rule has no cap). Nothing grows with
the length of the sequence.

The first ``n_frames_G - 1`` frames are keys that only condition the generator (real frames, the
single-frame generator or zeros); like every-frame inference, the results start at frame ``n_frames_G - 1``.
Every later frame is written, as ``"key"`` or ``"interpolated"`` on the results page.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import Tensor

from models.base_model import FrameGenerator, output_frame
from models.fast_vid2vid.interpolation import FlowFn, GapInterpolator, InterpolationConfig
from models.fast_vid2vid.keyframe_selection import (
    FrameDecision,
    KeyframePolicy,
    StreamingKeyframeSelector,
    input_picture,
)
from models.networks.input_encoding import encode_input
from util.results_writer import OutputFrame
from util.visualizer import frame_names

KEY, INTERPOLATED = "key", "interpolated"
#: Label search radius of the interpolation at 512 px width; scaled with the frame width.
SEARCH_RADIUS_AT_512 = 8
#: Offset of the interpolation's neighbouring trajectories at 512 px width; scaled with the frame width.
TRAJECTORY_OFFSET_AT_512 = 4
#: Gaps interpolated on the worker at once with ``overlap`` (one running, one queued)
MAX_GAPS_IN_FLIGHT = 2


@dataclass
class _Entry:
    """A decided frame waiting for its output: a key (sent to the wrapped generator) or an in-between frame."""

    index: int          # frame index in the sequence (the item's ``frame_index``)
    is_key: bool
    item: dict          # the test item (without ``B`` for in-between frames)


@dataclass
class _Sequence:
    """What one sequence holds while it is generated."""

    selector: StreamingKeyframeSelector
    undecided: deque = field(default_factory=deque)   # items pushed to the selector, not decided yet
    timeline: deque = field(default_factory=deque)    # decided _Entry objects, not emitted yet
    outputs: dict = field(default_factory=dict)       # frame index -> OutputFrame of a generated key
    interpolator: Optional[GapInterpolator] = None
    finished: bool = False


def keyframe_policy(opt: argparse.Namespace) -> KeyframePolicy:
    """The :class:`KeyframePolicy` of ``--keyframes``, ``--key_interval``, ``--max_key_gap`` and ``--n_frames_G``."""
    return KeyframePolicy(mode=opt.keyframes, n_frames_G=opt.n_frames_G, key_interval=opt.key_interval,
                          max_key_gap=opt.max_key_gap)


def strip_real_frames(item: dict) -> dict:
    """The test item without its real frame ``B`` (an in-between frame needs only its input and names)."""
    return {key: value for key, value in item.items() if key != "B"}


def item_labels(item: dict, label_nc: int) -> Optional[Tensor]:
    """(H, W) int64 label ids of a test item (``A``: (1, 1, 1, H, W)), or None for non-label input."""
    if label_nc <= 0:
        return None
    label = item["A"]
    return label.reshape(label.shape[-2:]).round().long()


class KeyframeInference(FrameGenerator):
    """Generates key frames with a wrapped frame generator and interpolates the frames between them.

    Args:
        opt: Test options (``label_nc``, ``dataset_mode``, ``use_instance`` for the input pictures and visuals).
        frames: The model's per-frame generator (:meth:`BaseModel.make_inference`); it sees only key items.
        flow_fn: ``flow_fn(current, previous)`` -> flow ``current -> previous`` (N, 2, H, W) in pixels (or a
            (flow, confidence) pair) for (N, 3, H, W) frames in [-1, 1], e.g. a
            :func:`~models.networks.flow.estimator.create_flow_estimator` back-end.
        policy: Which frames are keys.
        config: Interpolation constants; the label search radius is scaled to the frame width when None.
        overlap: Interpolate each closed gap on a worker thread while generation goes on (same frames, same
            order, returned later).
    """

    def __init__(self, opt: argparse.Namespace, frames: FrameGenerator, flow_fn: FlowFn, policy: KeyframePolicy,
                 config: Optional[InterpolationConfig] = None, overlap: bool = False) -> None:
        self.opt, self.frames, self.flow_fn, self.policy, self.config = opt, frames, flow_fn, policy, config
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interpolation") if overlap else None
        self.pending: deque[tuple[Future, int]] = deque()  # (gap on the worker, frames it returns), oldest first
        self.sequences: dict[str, _Sequence] = {}
        self.active: Optional[str] = None
        self.generated = 0      # key items handed to the wrapped generator
        self.interpolated = 0   # frames made by interpolation

    # ------------------------------------------------------------------ the contract
    @torch.no_grad()
    def step(self, item: dict) -> list[OutputFrame]:
        """Feed one test item (``A``: (1, 1, C, H, W)); return the frames finished now (keys and in-betweens)."""
        name = frame_names(item["A_path"][0])[0]
        change = bool(item.get("change_seq", torch.tensor([False])).any())
        if self.active is not None and (change or name != self.active):
            self._finish(self.active)
        if name not in self.sequences or change:
            self.sequences[name] = _Sequence(StreamingKeyframeSelector(self.policy))
        self.active = name
        sequence = self.sequences[name]
        sequence.undecided.append(item)
        picture = input_picture(item["A"], label_nc=self.opt.label_nc, dataset_mode=self.opt.dataset_mode)
        self._apply(sequence, sequence.selector.push(picture))
        return self._collect_all()

    @torch.no_grad()
    def flush(self) -> list[OutputFrame]:
        """End of the input: decide and generate the rest of the current sequence, then flush the generator."""
        if self.active is not None:
            self._finish(self.active)
        self.active = None
        self._route(self.frames.flush())
        emitted = self._collect_all()
        while self.pending:
            emitted += self.pending.popleft()[0].result()
        self.sequences = {}  # what is left are conditioning keys the generator makes no frame for
        return emitted

    # ------------------------------------------------------------------ bookkeeping
    def held_frames(self) -> int:
        """Frames held now over all sequences: undecided items, decided ones not yet emitted, keys kept by the
        interpolators and (with ``overlap``) the frames of gaps on the worker (the wrapped generator's own
        window not included)."""
        total = 0
        for sequence in self.sequences.values():
            keys = len(sequence.interpolator.keys) if sequence.interpolator is not None else 0
            total += len(sequence.undecided) + len(sequence.timeline) + keys
        return total + sum(count for _, count in self.pending)

    def _finish(self, name: str) -> None:
        """The sequence ``name`` has ended: decide its last frames (the last one is a key)."""
        sequence = self.sequences[name]
        if not sequence.finished:
            sequence.finished = True
            self._apply(sequence, sequence.selector.finish())

    def _apply(self, sequence: _Sequence, decisions: list[FrameDecision]) -> None:
        """Move decided items to the timeline; send the keys to the wrapped generator."""
        for decision in decisions:
            item = sequence.undecided.popleft()
            index = int(item["frame_index"][0])
            if decision.is_key:
                sequence.timeline.append(_Entry(index, True, item))
                self.generated += 1
                self._route(self.frames.step(item))
            else:
                sequence.timeline.append(_Entry(index, False, strip_real_frames(item)))

    def _route(self, outputs: list[OutputFrame]) -> None:
        """Keep the wrapped generator's key outputs with their sequences."""
        for frame in outputs:
            self.sequences[frame.sequence].outputs[frame.index] = frame

    def _collect_all(self) -> list[OutputFrame]:
        """Frames every sequence can finish now; finished sequences with nothing left are forgotten."""
        emitted: list[OutputFrame] = []
        for name, sequence in list(self.sequences.items()):
            emitted += self._collect(sequence)
            if sequence.finished and not sequence.timeline and name != self.active:
                del self.sequences[name]
        return emitted + self._done_gaps()

    def _done_gaps(self) -> list[OutputFrame]:
        """The frames of the finished gaps at the head of the worker's queue, oldest first (without waiting)."""
        emitted: list[OutputFrame] = []
        while self.pending and self.pending[0][0].done():
            emitted += self.pending.popleft()[0].result()
        return emitted

    def _gap_frames(self, job: Callable[[], list[OutputFrame]], count: int) -> list[OutputFrame]:
        """Run a gap's ``job`` (making ``count`` frames) now, or with ``overlap`` queue it on the worker and
        return what is done already (waiting for the oldest gap when :data:`MAX_GAPS_IN_FLIGHT` are queued)."""
        if self.worker is None:
            return job()
        emitted: list[OutputFrame] = []
        if len(self.pending) >= MAX_GAPS_IN_FLIGHT:
            emitted += self.pending.popleft()[0].result()
        self.pending.append((self.worker.submit(_without_grad, job), count))
        return emitted + self._done_gaps()

    def _collect(self, sequence: _Sequence) -> list[OutputFrame]:
        """Emit, in order, every gap whose closing key has been generated.

        Keys the generator made no frame for (the conditioning frames before its first output) are dropped
        once a later frame has come back.
        """
        emitted: list[OutputFrame] = []
        while sequence.outputs:
            first_done = min(sequence.outputs)
            gap: list[_Entry] = []
            while sequence.timeline and sequence.timeline[0].index < first_done:
                entry = sequence.timeline.popleft()
                if not entry.is_key:
                    gap.append(entry)
            key_entry = sequence.timeline.popleft() if sequence.timeline else None
            if key_entry is None or key_entry.index != first_done or not key_entry.is_key:
                raise RuntimeError(f"the generator returned frame {first_done}, which is not a key frame it was given")
            key = dataclasses.replace(sequence.outputs.pop(first_done), kind=KEY)
            emitted += self._close_gap(sequence, gap, key, key_entry)
        return emitted

    def _close_gap(self, sequence: _Sequence, gap: list[_Entry], key: OutputFrame,
                   key_entry: _Entry) -> list[OutputFrame]:
        """The ``gap`` frames before the generated ``key``, then the key (now, or later with ``overlap``)."""
        self.interpolated += len(gap)
        return self._gap_frames(lambda: self._interpolate_gap(sequence, gap, key, key_entry), len(gap) + 1)

    def _interpolate_gap(self, sequence: _Sequence, gap: list[_Entry], key: OutputFrame,
                         key_entry: _Entry) -> list[OutputFrame]:
        """Push the generated ``key`` to the interpolator and make the ``gap`` frames before it."""
        image = key.image.reshape(1, 3, *key.image.shape[-2:])
        if sequence.interpolator is None:
            sequence.interpolator = GapInterpolator(self.flow_fn, self.config or scaled_config(image.shape[-1]))
        sequence.interpolator.push_key(image, key.index, item_labels(key_entry.item, self.opt.label_nc))
        if gap and len(sequence.interpolator.keys) < 2:
            raise RuntimeError(f"sequence {key.sequence}: frames {[e.index for e in gap]} lie before the first "
                               "generated key and cannot be interpolated")
        return [self._interpolated(sequence.interpolator, entry) for entry in gap] + [key]

    def _interpolated(self, interpolator: GapInterpolator, entry: _Entry) -> OutputFrame:
        """The interpolated frame of an in-between entry, named and shown like a generated one."""
        labels = item_labels(entry.item, self.opt.label_nc)
        image = interpolator.frame_at(entry.index, labels).image
        return output_frame(self.opt, entry.item, image, self._encoded(entry.item), kind=INTERPOLATED)

    def _encoded(self, item: dict) -> Tensor:
        """(C, H, W) network-ready input of one item, shown beside its frame."""
        inst = item.get("inst")
        use_inst = self.opt.use_instance and isinstance(inst, Tensor) and inst.dim() == 5
        return encode_input(item["A"], inst if use_inst else None, self.opt.label_nc)[0, -1]


def _without_grad(job: Callable[[], list[OutputFrame]]) -> list[OutputFrame]:
    """``job()`` with autograd off (grad mode is per thread: the worker's starts on)."""
    with torch.no_grad():
        return job()


def scaled_config(width: int) -> InterpolationConfig:
    """Interpolation constants with the label search radius (8 px) and the trajectory offsets (4 px) scaled from
    512 px width."""
    radius = max(1, round(SEARCH_RADIUS_AT_512 * width / 512))
    step = max(1, round(TRAJECTORY_OFFSET_AT_512 * width / 512))
    offsets = ((0, 0), (step, 0), (-step, 0), (0, step), (0, -step))
    return InterpolationConfig(label_search_radius=radius, trajectory_offsets=offsets)


def with_keyframes(opt: argparse.Namespace, frames: FrameGenerator) -> FrameGenerator:
    """``frames`` itself, or wrapped in :class:`KeyframeInference` when ``--keyframes`` is not ``off``.

    The flow back-end (``--flow_backend``) is built here, so a missing FlowNet2 checkpoint is reported before
    any frame is read.

    Raises:
        CheckpointError: ``--flow_backend flownet2`` without its checkpoint.
    """
    if opt.keyframes == "off":
        return frames
    from models.networks.flow.estimator import create_flow_estimator

    flow = create_flow_estimator(opt.flow_backend, opt.flownet_checkpoint, opt.device)
    overlap = opt.device.type != "cpu"  # interpolation (CPU) beside generation (accelerator); no gain on CPU alone
    return KeyframeInference(opt, frames, flow, keyframe_policy(opt), overlap=overlap)
