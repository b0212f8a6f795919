"""vid2vid's training visuals: which tensors of a chunk are shown, and how they become pictures."""

from __future__ import annotations

import argparse

import numpy as np
from torch import Tensor

from util.image import input_visual, tensor2flow, tensor2im


def visual_tensors(chunk, refs: tuple, previous: dict, first: bool) -> dict:
    """Batch 0, last frame of the chunk (and the sequence's first generated frame).

    Args:
        chunk: The chunk's ``models.vid2vid.chunks.ChunkOutput``.
        refs: (flow_ref (B, T, 2, H, W), conf_ref (B, T, 1, H, W)) of the chunk.
        previous: The visuals of the previous chunk (keeps the sequence's first generated frame).
        first: Whether this is the first chunk of the sequence.
    """
    flow_ref, conf_ref = refs
    visuals = {"input": chunk.label[0, -1], "fake_image": chunk.fake[0, -1], "fake_raw_image": chunk.fake_raw[0, -1],
               "real_image": chunk.real_with_prev[0, -1], "flow_ref": flow_ref[0, -1], "conf_ref": conf_ref[0, -1],
               "fake_first_image": chunk.fake[0, 0] if first else previous.get("fake_first_image")}
    if chunk.flow is not None:
        visuals.update(flow=chunk.flow[0, -1], weight=chunk.weight[0, -1])
    return {k: v.detach() for k, v in visuals.items() if v is not None}


def render_visuals(visuals: dict[str, Tensor], opt: argparse.Namespace) -> dict[str, np.ndarray]:
    """The last chunk's tensors -> pictures: input, frames, flows and confidences."""
    pictures = {"input_image": input_visual(visuals["input"], label_nc=opt.label_nc,
                                            dataset_mode=opt.dataset_mode, use_instance=opt.use_instance)}
    for key in ("fake_image", "fake_first_image", "fake_raw_image", "real_image"):
        if key in visuals:
            pictures[key] = tensor2im(visuals[key])
    pictures["flow_ref"] = tensor2flow(visuals["flow_ref"])
    pictures["conf_ref"] = tensor2im(visuals["conf_ref"], normalize=False)
    if "flow" in visuals:
        pictures["flow"] = tensor2flow(visuals["flow"])
        pictures["weight"] = tensor2im(visuals["weight"], normalize=False)
    return pictures
