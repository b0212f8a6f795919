#!/usr/bin/env bash
# edge-to-face, published setting face/test_g1_512.sh of the reference (same flags).
set -e
python test.py --name edge2face_512_g1 \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 \
    --n_scales_spatial 2 --loadSize 512 --ngf 64 --use_single_G
