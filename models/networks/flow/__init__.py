"""Optical flow of real frames: FlowNet2 (reference), OpenCV DIS / Farneback, and an on-disk flow cache.

- ``ops.py``: FlowNet2's Correlation, Resample2d and ChannelNorm, pure PyTorch or compiled CUDA
  (``cuda_ops.py`` + ``csrc/``, built just in time; ``impl="auto"`` falls back to PyTorch).
- ``flownet2.py``: the FlowNet2 network with the official checkpoint's parameter names.
- ``interface.py``: the ``FlowEstimator`` interface used by training:
  ``flow, conf = estimator(current, previous, keys)``, with ``warp(previous, flow) ~= current``.
- ``estimator.py``: the back-end registry ``FLOW_BACKENDS`` (name -> factory), :func:`create_flow_estimator`
  and FlowNet2's estimator; ``opencv_flow.py``: weights-free back-ends; ``cache.py``: ``--flow_cache``.

A new back-end subclasses ``FlowEstimator`` (implement ``compute`` and ``identity``) and adds one entry to
``FLOW_BACKENDS``; ``--flow_backend`` takes its choices from that dict.
"""

from models.networks.flow import ops_check  # noqa: F401 - installs the compiled operators' first-use check
from models.networks.flow.cache import FlowCache, pair_key
from models.networks.flow.estimator import BACKENDS, FLOW_BACKENDS, create_flow_estimator
from models.networks.flow.interface import FlowEstimator, warp_confidence

__all__ = ["BACKENDS", "FLOW_BACKENDS", "FlowCache", "FlowEstimator", "create_flow_estimator", "pair_key", "warp_confidence"]
