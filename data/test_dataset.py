"""Street-style test data: label (or image) videos streamed frame by frame.

Same layout as :mod:`data.temporal_dataset`; ``<phase>_B`` is read only with ``--use_real_img`` (real first
frames). ``test.py`` passes ``--dataset_mode temporal``, which the test options remap to ``test``.
"""

from __future__ import annotations

from data.temporal_dataset import TemporalDataset


class TestDataset(TemporalDataset):
    """Per-frame test items walking every sequence in order.

    Items (see :class:`data.base_dataset.BaseDataset`): ``"A"`` (1, C, H, W), ``"inst"`` (1, 1, H, W) with
    --use_instance, ``"B"`` (1, 3, H, W) in [-1, 1] with --use_real_img, ``"A_path"``, ``"A_paths"``,
    ``"seq_name"``, ``"frame_index"`` and ``"change_seq"`` (True on the first frame of each sequence). The
    transform parameters are drawn once per sequence, from its first ``A`` frame.
    """

    __test__ = False  # not a pytest test class despite its name

    def loads_real_images(self) -> bool:
        """``<phase>_B`` is read only with --use_real_img."""
        return bool(self.opt.use_real_img)
