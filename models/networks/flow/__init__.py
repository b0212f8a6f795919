"""Optical flow of real frames: FlowNet2 (reference), OpenCV DIS / Farneback, and an on-disk flow cache.

- ``ops.py``: FlowNet2's Correlation, Resample2d and ChannelNorm, pure PyTorch or compiled CUDA
  (``cuda_ops.py`` + ``csrc/``, built just in time; ``impl="auto"`` falls back to PyTorch).
- ``flownet2.py``: the FlowNet2 network with the official checkpoint's parameter names.
- ``estimator.py``: :func:`create_flow_estimator` and the ``FlowEstimator`` interface used by training:
  ``flow, conf = estimator(current, previous, keys)``, with ``warp(previous, flow) ~= current``.
- ``opencv_flow.py``: weights-free back-ends; ``cache.py``: ``--flow_cache``.

A new back-end subclasses ``FlowEstimator`` (implement ``compute`` and ``identity``) and gets a branch in
:func:`create_flow_estimator` and a choice in ``--flow_backend``.
"""

from models.networks.flow.cache import FlowCache, pair_key
from models.networks.flow.estimator import BACKENDS, FlowEstimator, create_flow_estimator, warp_confidence

__all__ = ["BACKENDS", "FlowCache", "FlowEstimator", "create_flow_estimator", "pair_key", "warp_confidence"]
