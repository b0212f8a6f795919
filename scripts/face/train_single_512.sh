#!/usr/bin/env bash
# The face first-frame models of --use_single_G (layout of edge2face_single): pix2pixHD Global_with_z on the 15 edge
# channels with its feature encoder trained jointly; after the last epoch features.npy is written beside them.
# Use them with: python test.py ... --dataset_mode face --use_single_G --single_G_dir checkpoints/edge2face_single_512
set -e
python train.py --model single --name edge2face_single_512 \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 \
    --loadSize 512 --gpu_ids 0 \
    --niter 100 --niter_decay 100 "$@"
