"""models/fast_vid2vid/keyframe_inference.py on synthetic streams: the generator sees only key frames, conditioned on the
previous keys; every later frame comes out once, in order, named after its input; memory does not grow with
the sequence length."""

from __future__ import annotations

import argparse

import pytest
import torch
from torch import Tensor

from models.base_model import FrameGenerator, output_frame
from models.fast_vid2vid.interpolation import GapInterpolator, InterpolationConfig
from models.fast_vid2vid.keyframe_inference import INTERPOLATED, KEY, KeyframeInference
from models.fast_vid2vid.keyframe_selection import KeyframePolicy, input_picture, select_keyframes
from util.results_writer import OutputFrame

H, W, LABEL_NC, T_G = 16, 24, 4, 3
OPT = argparse.Namespace(label_nc=LABEL_NC, dataset_mode="test", use_instance=False)
CONFIG = InterpolationConfig(label_search_radius=2)


def zero_flow(current: Tensor, previous: Tensor) -> Tensor:
    """No motion: (N, 2, H, W) zeros."""
    return current.new_zeros(current.shape[0], 2, *current.shape[-2:])


def make_item(sequence: str, index: int, labels: Tensor) -> dict:
    """A test item as the loader batches it: ``A`` (1, 1, 1, H, W) label ids, names, index, sequence start."""
    return {"A": labels.reshape(1, 1, 1, H, W).float(), "B": torch.zeros(1, 1, 3, H, W),
            "A_path": [f"/data/test_A/{sequence}/{sequence}_{index:06d}.png"],
            "frame_index": torch.tensor([index]), "change_seq": torch.tensor([index == 0])}


def stream(sequence: str, length: int, change_every: int = 0) -> list[dict]:
    """``length`` items; the label map moves one step right every ``change_every`` frames (0: never)."""
    items = []
    for t in range(length):
        shift = t // change_every if change_every else 0
        labels = (torch.arange(W).expand(H, W) // 4 + shift) % LABEL_NC
        items.append(make_item(sequence, t, labels))
    return items


class RecordingGenerator(FrameGenerator):
    """A stand-in for vid2vid's streaming generator: a window of the last T_G items it was given; nothing
    for the first T_G - 1 (they condition it); then one frame per item whose value encodes the frame index."""

    def __init__(self) -> None:
        self.given: list[tuple[str, int]] = []
        self.windows: list[list[int]] = []
        self.window: list[int] = []

    def step(self, item: dict) -> list[OutputFrame]:
        if bool(item["change_seq"].any()):
            self.window = []
        index = int(item["frame_index"][0])
        self.given.append((item["A_path"][0].split("/")[-2], index))
        self.window = (self.window + [index])[-T_G:]
        if len(self.window) < T_G:
            return []
        self.windows.append(list(self.window))
        image = torch.linspace(-1, 1, W).expand(3, H, W) * 0.5 + (index % 5) * 0.1
        return [output_frame(OPT, item, image, torch.zeros(LABEL_NC, H, W))]


def run(items: list[dict], policy: KeyframePolicy, overlap: bool = False, flow=zero_flow
        ) -> tuple[list[OutputFrame], RecordingGenerator, list[int]]:
    """Feed ``items`` through the wrapper; the frames it emits, the stand-in and the held-frame counts."""
    inner = RecordingGenerator()
    wrapper = KeyframeInference(OPT, inner, flow, policy, CONFIG, overlap=overlap)
    frames, held = [], []
    for item in items:
        frames += wrapper.step(item)
        held.append(wrapper.held_frames())
    frames += wrapper.flush()
    assert wrapper.held_frames() == 0
    assert wrapper.generated == len(inner.given) and wrapper.interpolated == sum(f.kind == INTERPOLATED
                                                                              for f in frames)
    return frames, inner, held


def test_generator_runs_on_key_frames_only_conditioned_on_previous_keys():
    policy = KeyframePolicy(mode="interval", n_frames_G=T_G, key_interval=3)
    frames, inner, _ = run(stream("seq", 12), policy)
    keys = [0, 1, 2, 5, 8, 11]
    assert inner.given == [("seq", k) for k in keys]
    assert inner.windows == [[0, 1, 2], [1, 2, 5], [2, 5, 8], [5, 8, 11]]  # each key sees the previous keys
    assert [f.index for f in frames] == list(range(T_G - 1, 12))
    assert [f.kind for f in frames] == [KEY if f.index in keys else INTERPOLATED for f in frames]
    assert [f.stem for f in frames] == [f"seq_{i:06d}" for i in range(T_G - 1, 12)]
    assert all(f.sequence == "seq" and f.input_visual.shape == (H, W, 3) for f in frames)


def test_interpolated_frames_are_the_gap_interpolation_at_their_time():
    policy = KeyframePolicy(mode="interval", n_frames_G=T_G, key_interval=4)
    items = stream("seq", 7, change_every=2)
    frames, _, _ = run(items, policy)
    by_index = {f.index: f for f in frames}
    gap = GapInterpolator(zero_flow, CONFIG)
    for key in (2, 6):
        gap.push_key(by_index[key].image, key, items[key]["A"].reshape(H, W).long())
    for t in (3, 4, 5):
        expected = gap.frame_at(t, items[t]["A"].reshape(H, W).long()).image
        torch.testing.assert_close(by_index[t].image, expected)
        assert by_index[t].kind == INTERPOLATED
    assert not torch.equal(by_index[3].image, by_index[5].image)  # the frames differ with their time and labels


def test_published_keys_match_the_whole_sequence_selection():
    policy = KeyframePolicy(mode="published", n_frames_G=T_G)
    items = stream("seq", 20, change_every=3)
    pictures = [input_picture(item["A"], label_nc=LABEL_NC) for item in items]
    expected = select_keyframes(pictures, policy)
    assert 3 < len(expected) < 20  # the changes every third frame make keys, not every frame
    _, inner, _ = run(items, policy)
    assert [index for _, index in inner.given] == expected


# (policy, bound on held frames: the two keys of the gap, its in-between frames, the lookahead)
HELD = [(KeyframePolicy(mode="interval", n_frames_G=T_G, key_interval=4), 2 + 3 + 2),
        (KeyframePolicy(mode="published", n_frames_G=T_G, max_key_gap=5), 2 + 4 + 2 * 5 + 1)]


@pytest.mark.parametrize("policy,bound", HELD, ids=["interval", "published_capped"])
def test_held_frames_do_not_grow_with_the_sequence_length(policy, bound):
    _, _, short = run(stream("seq", 15, change_every=7), policy)
    _, _, long = run(stream("seq", 90, change_every=7), policy)
    assert max(long) == max(short) <= bound


def test_sequences_in_a_row_are_finished_in_order():
    policy = KeyframePolicy(mode="interval", n_frames_G=T_G, key_interval=3)
    frames, inner, _ = run(stream("a", 8) + stream("b", 6), policy)
    assert [(f.sequence, f.index) for f in frames] == [("a", i) for i in range(2, 8)] + [("b", i) for i in range(2, 6)]
    assert ("a", 7) in inner.given and ("b", 5) in inner.given  # each sequence's last frame is a key
    assert all(f.kind == KEY for f in frames if f.index in (2, 5) or (f.sequence, f.index) == ("a", 7))


def test_real_frames_are_dropped_from_frames_between_keys():
    policy = KeyframePolicy(mode="interval", n_frames_G=T_G, key_interval=5)
    inner = RecordingGenerator()
    wrapper = KeyframeInference(OPT, inner, zero_flow, policy, CONFIG)
    for item in stream("seq", 6):
        wrapper.step(item)
    held = [entry for seq in wrapper.sequences.values() for entry in seq.timeline if not entry.is_key]
    assert held and all("B" not in entry.item for entry in held)


def shift_flow(current: Tensor, previous: Tensor) -> Tensor:
    """A uniform motion of 1.5 px right and 0.5 px up, (N, 2, H, W): the interpolated frames depend on it."""
    flow = current.new_zeros(current.shape[0], 2, *current.shape[-2:])
    flow[:, 0], flow[:, 1] = 1.5, -0.5
    return flow


@pytest.mark.parametrize("policy", [KeyframePolicy(mode="published", n_frames_G=T_G),
                                    KeyframePolicy(mode="interval", n_frames_G=T_G, key_interval=4)],
                         ids=["published", "interval"])
def test_overlap_gives_the_same_frames_in_the_same_order(policy):
    """Interpolating gaps on the worker thread changes when frames come back, not which or in what order."""
    items = stream("a", 17, change_every=3) + stream("b", 9, change_every=2)
    plain, plain_inner, _ = run(items, policy, overlap=False, flow=shift_flow)
    overlapped, inner, held = run(items, policy, overlap=True, flow=shift_flow)
    assert inner.given == plain_inner.given
    assert [(f.sequence, f.index, f.kind, f.stem) for f in overlapped] == \
        [(f.sequence, f.index, f.kind, f.stem) for f in plain]
    assert sum(f.kind == INTERPOLATED for f in plain) >= 4
    for ours, theirs in zip(overlapped, plain):
        assert torch.equal(ours.image, theirs.image) and (ours.input_visual == theirs.input_visual).all()
