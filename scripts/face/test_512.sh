#!/usr/bin/env bash
# edge-to-face, published setting face/test_512.sh of the reference (same flags).
set -e
python test.py --name edge2face_512 \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 \
    --loadSize 512 --use_single_G
