#!/usr/bin/env bash
# The first check on a GPU, in one command: the doctor's full table, then `pytest -m gpu`, each under a timeout.
# Writes environment.txt, doctor.txt, doctor.json, pytest_gpu.txt and summary.txt to OUT_DIR.
#
#   bash scripts/gpu_check.sh [OUT_DIR]      OUT_DIR: default $OUT when set, else gpu_check/
#
# Environment: PYTHON (default python3), DOCTOR_TIMEOUT (seconds, default 300), PYTEST_TIMEOUT (default 240),
# TORCH_EXTENSIONS_DIR (where the compiled operators are built; default /tmp/vid2vid_ext). Wheels in .whl/
# (packages the machine lacks, see docs/gpu.md) are installed into /tmp/site first.
# Exit code 0 only when neither the doctor nor the GPU tests failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_check}}"
py="${PYTHON:-python3}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-/tmp/vid2vid_ext}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  command -v nvcc >/dev/null && nvcc --version | tail -2
  "$py" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPUs', torch.cuda.device_count())"
  for module in dominate imageio_ffmpeg cv2 onnx onnxruntime pytest; do
    "$py" -c "import $module" 2>/dev/null && echo "$module: ok" || echo "$module: MISSING"
  done
} > "$out/environment.txt" 2>&1
cat "$out/environment.txt"

timeout "${DOCTOR_TIMEOUT:-300}" "$py" -m doctor --json "$out/doctor.json" 2>&1 | tee "$out/doctor.txt"
doctor_rc=${PIPESTATUS[0]}
# Collection errors (test modules importing packages this machine lacks) must not stop the GPU tests.
timeout "${PYTEST_TIMEOUT:-240}" "$py" -m pytest -m gpu -q -rs -p no:cacheprovider --continue-on-collection-errors \
  2>&1 | tee "$out/pytest_gpu.txt"
pytest_rc=${PIPESTATUS[0]}
echo "doctor exit $doctor_rc, pytest -m gpu exit $pytest_rc (124: timed out)" | tee "$out/summary.txt"
[ "$doctor_rc" = 0 ] && [ "$pytest_rc" = 0 ]
