#!/usr/bin/env bash
# edge-to-face, published setting face/train_g1_512.sh of the reference (same flags).
set -e
python train.py --name edge2face_512_g1 \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 \
    --n_scales_spatial 2 --num_D 3 --loadSize 512 --ngf 64 --n_frames_total 6 --niter_step 2 --niter_fix_global 5 --load_pretrain checkpoints/edge2face_256_g1
