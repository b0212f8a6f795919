#!/usr/bin/env bash
# edge-to-face, published setting face/test_g1_256.sh of the reference (same flags).
set -e
python test.py --name edge2face_256_g1 \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 \
    --loadSize 256 --ngf 64 --use_single_G
