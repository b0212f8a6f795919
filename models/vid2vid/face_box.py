"""Where the face is in a pose input: the square the face discriminator (``--add_face_disc``) looks at.

Lives with the models (not the pose dataset mode) because the model computes it from the encoded input.
"""

from __future__ import annotations

import torch

#: OpenPose colour of the nose-neck limb (153, 0, 51) in [-1, 1]: where the face is with ``--openpose_only``.
OPENPOSE_FACE_COLOR = (0.2, -1.0, -0.6)


def face_box(encoded_input: torch.Tensor, fine_size: int, openpose_only: bool
                ) -> tuple[int, int, int, int] | None:
    """Square around the face for the face discriminator (``--add_face_disc``), over the whole batch.

    Face pixels are DensePose head parts (part channel > 0.9, i.e. ids 23 and 24) or, with
    ``--openpose_only``, pixels of the OpenPose nose-neck colour. The square's side is ``fine_size // 32 * 8``,
    centred on the face pixels' bounding box and clamped inside the frame.

    Args:
        encoded_input: (B, C, H, W) pose input in [-1, 1] (DensePose first, as the dataset builds it).
        fine_size: ``--fineSize``.
        openpose_only: Whether the input is the OpenPose map alone.

    Returns:
        (y0, y1, x0, x1) pixel bounds (end exclusive), or None when no face pixel is found.
    """
    if openpose_only:
        r, g, b = encoded_input[:, 0], encoded_input[:, 1], encoded_input[:, 2]
        (cr, cg, cb), tol = OPENPOSE_FACE_COLOR, 0.01
        mask = ((r - cr).abs() < tol) & (g < cg + tol) & ((b - cb).abs() < tol)
    else:
        mask = encoded_input[:, 2] > 0.9
    found = mask.nonzero()
    if found.shape[0] == 0:
        return None
    h, w = encoded_input.shape[-2:]
    side = fine_size // 32 * 8
    ys, xs = found[:, 1], found[:, 2]
    yc = max(side // 2, min(h - 1 - side // 2, int(ys.min() + ys.max()) // 2))
    xc = max(side // 2, min(w - 1 - side // 2, int(xs.min() + xs.max()) // 2))
    return yc - side // 2, yc + side // 2, xc - side // 2, xc + side // 2
