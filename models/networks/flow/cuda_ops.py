"""The compiled CUDA implementation of Correlation, Resample2d and ChannelNorm.

The kernels (``csrc/flow_ops.cpp`` + ``csrc/flow_ops_kernel.cu``) are built once, just in time, by
``torch.utils.cpp_extension.load`` into a cache folder (``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/vid2vid_ext``).
:func:`load_extension` returns None when the build is impossible (no CUDA toolkit, compiler error); callers then
use the pure-PyTorch operators of :mod:`models.networks.flow.ops`.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

logger = logging.getLogger(__name__)

EXTENSION_NAME = "vid2vid_flow_ops"
_CSRC = Path(__file__).resolve().parent / "csrc"
_SOURCES = [_CSRC / "flow_ops.cpp", _CSRC / "flow_ops_kernel.cu"]
# Compiled without a GPU to detect: one architecture plus PTX, which the driver JIT-compiles for newer GPUs.
_DEFAULT_ARCH_LIST = "7.5+PTX"

_extension: ModuleType | None = None
_load_error: str | None = None


def build_directory() -> Path:
    """Folder of the compiled extension: ``$TORCH_EXTENSIONS_DIR/vid2vid_flow_ops`` or ``~/.cache/vid2vid_ext``."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "vid2vid_ext"
    return base / EXTENSION_NAME


def find_cuda_home() -> str | None:
    """The CUDA toolkit folder holding ``bin/nvcc`` and ``include/cuda_runtime.h``, or None.

    ``$CUDA_HOME`` / ``$CUDA_PATH`` win; otherwise the toolkit of the ``nvcc`` on PATH (following a wrapper
    script's symlink-free location to ``/usr/local/cuda`` when needed). Without this, torch may pick the
    pip CUDA runtime, which has no headers to compile against.
    """
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates += [str(Path(nvcc).parent.parent), str(Path(nvcc).resolve().parent.parent)]
    candidates.append("/usr/local/cuda")
    for home in candidates:
        if home and (Path(home) / "bin" / "nvcc").exists() and (Path(home) / "include" / "cuda_runtime.h").exists():
            return home
    return None


def _prepare_environment(cuda_home: str) -> None:
    """Point torch's extension builder at ``cuda_home`` and give it an architecture list when no GPU is seen."""
    os.environ["CUDA_HOME"] = cuda_home
    from torch.utils import cpp_extension

    # cpp_extension reads CUDA_HOME once at import; make sure it sees the toolkit chosen here.
    cpp_extension.CUDA_HOME = cuda_home
    if not torch.cuda.is_available() and not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        os.environ["TORCH_CUDA_ARCH_LIST"] = _DEFAULT_ARCH_LIST


def load_extension(verbose: bool = False, force: bool = False) -> ModuleType | None:
    """Build (first call only) and import the extension; None when that is impossible.

    Args:
        verbose: Show the compiler's output.
        force: Try again even if an earlier attempt failed in this process.

    Returns:
        The extension module with ``correlation_forward``/``_backward``, ``resample2d_forward``/``_backward``
        and ``channel_norm_forward``/``_backward``, or None (the reason is in :func:`load_error`).
    """
    global _extension, _load_error
    if _extension is not None or (_load_error is not None and not force):
        return _extension
    cuda_home = find_cuda_home()
    if cuda_home is None:
        _load_error = "no CUDA toolkit found (set CUDA_HOME to the folder holding bin/nvcc)"
        return None
    _prepare_environment(cuda_home)
    from torch.utils.cpp_extension import load

    folder = build_directory()
    folder.mkdir(parents=True, exist_ok=True)
    logger.info("loading the CUDA flow operators from %s (the first build takes a few minutes)", folder)
    try:
        _extension = load(name=EXTENSION_NAME, sources=[str(s) for s in _SOURCES], build_directory=str(folder),
                          extra_cflags=["-O3"], extra_cuda_cflags=["-O3"], verbose=verbose)
        _load_error = None
    except Exception as err:  # noqa: BLE001 - any build or import failure means "use the fallback"
        _load_error = f"{type(err).__name__}: {err}"
        logger.warning("CUDA flow operators could not be built (%s); using the pure-PyTorch operators",
                       _load_error.splitlines()[0])
    return _extension


def load_error() -> str | None:
    """Why the last :func:`load_extension` failed, or None."""
    return _load_error


def _as_kernel_dtype(*tensors: Tensor) -> tuple[list[Tensor], torch.dtype]:
    """Contiguous float32/float64 copies of ``tensors`` (half and bfloat16 run in float32), and the dtype to return."""
    dtype = tensors[0].dtype
    work = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    return [t.to(work).contiguous() for t in tensors], dtype


class CorrelationFunction(torch.autograd.Function):
    """Autograd wrapper of the CUDA correlation kernels."""

    @staticmethod
    def forward(ctx, input1: Tensor, input2: Tensor, params: tuple[int, int, int, int, int]) -> Tensor:
        (f1, f2), dtype = _as_kernel_dtype(input1, input2)
        ctx.save_for_backward(f1, f2)
        ctx.params = params
        return _extension.correlation_forward(f1, f2, *params).to(dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, Tensor, None]:
        f1, f2 = ctx.saved_tensors
        grad1, grad2 = _extension.correlation_backward(grad_out.to(f1.dtype).contiguous(), f1, f2, *ctx.params)
        return grad1.to(grad_out.dtype), grad2.to(grad_out.dtype), None


class Resample2dFunction(torch.autograd.Function):
    """Autograd wrapper of the CUDA bilinear warp kernels."""

    @staticmethod
    def forward(ctx, image: Tensor, flow: Tensor) -> Tensor:
        (image_k, flow_k), dtype = _as_kernel_dtype(image, flow)
        ctx.save_for_backward(image_k, flow_k)
        ctx.dtypes = (image.dtype, flow.dtype)
        return _extension.resample2d_forward(image_k, flow_k).to(dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, Tensor]:
        image, flow = ctx.saved_tensors
        grad_image, grad_flow = _extension.resample2d_backward(grad_out.to(image.dtype).contiguous(), image, flow)
        return grad_image.to(ctx.dtypes[0]), grad_flow.to(ctx.dtypes[1])


class ChannelNormFunction(torch.autograd.Function):
    """Autograd wrapper of the CUDA channel-norm kernels."""

    @staticmethod
    def forward(ctx, input1: Tensor) -> Tensor:
        (x,), dtype = _as_kernel_dtype(input1)
        out = _extension.channel_norm_forward(x)
        ctx.save_for_backward(x, out)
        return out.to(dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> Tensor:
        x, out = ctx.saved_tensors
        return _extension.channel_norm_backward(grad_out.to(x.dtype).contiguous(), x, out).to(grad_out.dtype)
