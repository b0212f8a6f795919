"""``--retarget``: give a pose sequence the trained person's proportions (motion that no camera filmed).

Every BODY_25 limb (a joint and its parent in the tree rooted at the mid-hip) is scaled by the ratio of the trained
person's median length of that limb (over a training sequence of OpenPose JSON) to the input sequence's median
length, so the input's foreshortening and motion are kept while its proportions become the trained person's. The
root (mid-hip) stays where it is; every joint moves with its parent. The face follows the nose and the hands their
wrists, scaled about them by the head (neck-nose) and forearm ratios. A missing joint passes its parent's
displacement on to its children.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from data import keypoints as kp

ROOT = 8  # mid-hip
#: BODY_25 joint -> parent, in an order where parents come first.
PARENTS = {1: 8, 0: 1, 15: 0, 16: 0, 17: 15, 18: 16, 2: 1, 3: 2, 4: 3, 5: 1, 6: 5, 7: 6,
           9: 8, 10: 9, 11: 10, 12: 8, 13: 12, 14: 13, 19: 14, 20: 19, 21: 14, 22: 11, 23: 22, 24: 11}
#: Attached point sets: person key -> (anchor joint, limb whose ratio scales the set about the anchor).
ATTACHED = {"face": (0, 0), "hand_left": (7, 7), "hand_right": (4, 4)}

Person = dict[str, np.ndarray]


def limb_medians(people: Iterable[Person]) -> dict[int, float]:
    """Median length (pixels) of each limb, keyed by its child joint, over the frames where both ends exist."""
    lengths: dict[int, list[float]] = {joint: [] for joint in PARENTS}
    for person in people:
        body = person["pose"]
        for joint, parent in PARENTS.items():
            if body[joint, 2] > 0 and body[parent, 2] > 0:
                lengths[joint].append(float(np.linalg.norm(body[joint, :2] - body[parent, :2])))
    return {joint: float(np.median(values)) for joint, values in lengths.items() if values}


def limb_ratios(source: dict[int, float], target: dict[int, float]) -> dict[int, float]:
    """Target / source median length per limb (1 where either side never saw the limb)."""
    return {joint: target[joint] / source[joint] if joint in source and joint in target and source[joint] > 0
            else 1.0 for joint in PARENTS}


def retarget_person(person: Person, ratios: dict[int, float]) -> Person:
    """Scale every limb of one person by ``ratios``, keeping the root; returns a new person dict.

    Args:
        person: ``pose`` (25, 3), ``face`` (70, 3), ``hand_left`` / ``hand_right`` (21, 3): x, y, confidence.
        ratios: Child joint -> length ratio (:func:`limb_ratios`).
    """
    old = person["pose"]
    new = old.copy()
    shift = np.zeros((len(old), 2))  # displacement of each joint, passed on through missing joints
    for joint, parent in PARENTS.items():
        if old[joint, 2] > 0 and old[parent, 2] > 0:
            new[joint, :2] = new[parent, :2] + (old[joint, :2] - old[parent, :2]) * ratios[joint]
        else:
            new[joint, :2] = old[joint, :2] + shift[parent]
        shift[joint] = new[joint, :2] - old[joint, :2]
    new[old[:, 2] <= 0] = 0  # missing joints stay missing
    out = {"pose": new}
    for key, (anchor, limb) in ATTACHED.items():
        points = person[key].copy()
        seen = points[:, 2] > 0
        points[seen, :2] = new[anchor, :2] + (points[seen, :2] - old[anchor, :2]) * ratios[limb]
        if old[anchor, 2] <= 0:
            points[seen, :2] = person[key][seen, :2] + shift[anchor]
        out[key] = points
    return out


def first_people(paths: Iterable[str | os.PathLike]) -> list[Person]:
    """The first person of each OpenPose JSON file that has one."""
    people = (kp.read_openpose_json(path) for path in paths)
    return [found[0] for found in people if found]
