"""The compiled FlowNet2 operators: they build with nvcc (slow) and, on a GPU, agree with the PyTorch ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.networks.flow import cuda_ops, ops

REPO = Path(__file__).resolve().parent.parent
GPU = torch.device("cuda", 0)  # only used by tests that skip without a GPU
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_toolkit = pytest.mark.skipif(cuda_ops.find_cuda_home() is None, reason="no CUDA toolkit (nvcc) found")


def test_build_directory_follows_torch_extensions_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert cuda_ops.build_directory() == tmp_path / cuda_ops.EXTENSION_NAME
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR")
    assert cuda_ops.build_directory() == Path.home() / ".cache" / "vid2vid_ext" / cuda_ops.EXTENSION_NAME


@needs_toolkit
def test_cuda_home_holds_nvcc_and_headers():
    home = Path(cuda_ops.find_cuda_home())
    assert (home / "bin" / "nvcc").exists() and (home / "include" / "cuda_runtime.h").exists()


@pytest.mark.slow
@needs_toolkit
def test_extension_compiles_from_scratch_and_imports(tmp_path):
    # A fresh build folder forces a real nvcc + c++ build (1-5 minutes on 2 cores); a subprocess keeps
    # the freshly built module out of this interpreter.
    script = ("from models.networks.flow import cuda_ops\n"
              "m = cuda_ops.load_extension()\n"
              "assert m is not None, cuda_ops.load_error()\n"
              "print(sorted(n for n in dir(m) if not n.startswith('_')))\n")
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'channel_norm_backward', 'channel_norm_forward', 'correlation_backward', 'correlation_forward', " \
           "'resample2d_backward', 'resample2d_forward'" in result.stdout
    assert (tmp_path / cuda_ops.EXTENSION_NAME / f"{cuda_ops.EXTENSION_NAME}.so").exists()


def _compare(fn_name: str, inputs: list[torch.Tensor], atol: float, **kwargs) -> None:
    """Forward values and input gradients of ops.<fn_name> with impl="cuda" vs impl="pytorch"."""
    results = {}
    for impl in ("pytorch", "cuda"):
        leaves = [x.detach().clone().requires_grad_() for x in inputs]
        out = getattr(ops, fn_name)(*leaves, impl=impl, **kwargs)
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out)
        grads = torch.autograd.grad(out, leaves, grad_out)
        results[impl] = (out, *grads)
    for cuda_value, torch_value in zip(results["cuda"], results["pytorch"]):
        torch.testing.assert_close(cuda_value, torch_value, rtol=1e-4, atol=atol)


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("setting", [(20, 1, 20, 1, 2), (4, 1, 4, 1, 1), (3, 1, 4, 2, 2), (2, 3, 2, 1, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_correlation_matches_pytorch(setting, dtype):
    pad, k, md, s1, s2 = setting
    f1, f2 = (torch.randn(2, 8, 13, 17, dtype=dtype, device=GPU) for _ in range(2))
    _compare("correlation", [f1, f2], 1e-5, pad_size=pad, kernel_size=k, max_displacement=md, stride1=s1,
             stride2=s2)


@needs_gpu
@pytest.mark.gpu
def test_cuda_correlation_flownetc_size():
    f1, f2 = (torch.randn(1, 256, 32, 64, device=GPU) for _ in range(2))
    _compare("correlation", [f1, f2], 1e-4)


@needs_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_resample2d_and_channel_norm_match_pytorch(dtype):
    image = torch.randn(2, 3, 10, 12, dtype=dtype, device=GPU)
    flow = (torch.randn(2, 2, 10, 12, dtype=dtype, device=GPU) * 4 + 0.31)  # off-integer, some outside
    _compare("resample2d", [image, flow], 1e-4)
    _compare("channel_norm", [torch.randn(2, 5, 6, 7, dtype=dtype, device=GPU) + 0.5], 1e-5)


@needs_gpu
@pytest.mark.gpu
def test_flownet2_cuda_and_pytorch_ops_agree():
    from models.networks.flow.flownet2 import FlowNet2

    torch.manual_seed(0)
    net = FlowNet2(ops_impl="pytorch").to(GPU).eval()
    image1, image2 = torch.rand(2, 1, 3, 128, 256, device=GPU).mul(2).sub(1).unbind(1)
    with torch.no_grad():
        reference = net(image1, image2)
        net.set_ops_impl("cuda")
        compiled = net(image1, image2)
    torch.testing.assert_close(compiled, reference, rtol=0, atol=1e-3)
