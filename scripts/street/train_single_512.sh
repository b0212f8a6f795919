#!/usr/bin/env bash
# The first-frame generator of --use_single_G for 512x256 (layout of label2city_single/latest_net_G_512.pth):
# pix2pixHD GlobalGenerator (ngf 64, 3 downsamplings) on the 35 one-hot label channels, no instance edges.
# Use it with: python test.py ... --loadSize 512 --use_single_G --single_G_dir checkpoints/label2city_single_512
set -e
python train.py --model single --name label2city_single_512 \
    --label_nc 35 --loadSize 512 --gpu_ids 0 \
    --niter 100 --niter_decay 100 "$@"
