#!/usr/bin/env bash
# The first-frame generator of --use_single_G for 1024x512 (layout of label2city_single/latest_net_G_1024.pth):
# pix2pixHD GlobalGenerator (ngf 64, 4 downsamplings) on the 35 one-hot label channels, no instance edges.
# Use it with: python test.py ... --loadSize 1024 --use_single_G --single_G_dir checkpoints/label2city_single_1024
set -e
python train.py --model single --name label2city_single_1024 \
    --label_nc 35 --loadSize 1024 --gpu_ids 0 \
    --niter 100 --niter_decay 100 "$@"
