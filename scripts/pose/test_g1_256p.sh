#!/usr/bin/env bash
# pose-to-body, published setting pose/test_g1_256p.sh of the reference (same flags).
set -e
python test.py --name pose2body_256p_g1 \
    --dataroot datasets/pose --dataset_mode pose --input_nc 6 \
    --ngf 64 --resize_or_crop scaleHeight --loadSize 256 --no_first_img
