#!/usr/bin/env bash
# The first-frame generator of --use_single_G for 2048x1024 (layout of label2city_single/latest_net_G_2048.pth):
# pix2pixHD LocalEnhancer (ngf 32) whose global trunk starts from train_single_1024.sh's generator and stays fixed
# for the first 10 epochs, as pix2pixHD's 2048x1024 recipe.
# Use it with: python test.py ... --loadSize 2048 --use_single_G --single_G_dir checkpoints/label2city_single_2048
set -e
python train.py --model single --name label2city_single_2048 \
    --label_nc 35 --loadSize 2048 --num_D 3 --gpu_ids 0 \
    --load_pretrain checkpoints/label2city_single_1024 --niter_fix_global 10 \
    --niter 50 --niter_decay 50 "$@"
