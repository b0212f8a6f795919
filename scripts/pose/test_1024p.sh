#!/usr/bin/env bash
# pose-to-body, published setting pose/test_1024p.sh of the reference (same flags).
set -e
python test.py --name pose2body_1024p \
    --dataroot datasets/pose --dataset_mode pose --input_nc 6 \
    --n_scales_spatial 3 --resize_or_crop scaleHeight --loadSize 1024 --no_first_img
