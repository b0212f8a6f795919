#!/usr/bin/env bash
# Fast-Vid2Vid stage A, Cityscapes 512x256: the teacher (--netG sr_mobile_composite, --student NOT set),
# trained with the plain vid2vid losses and schedule. The published scripts/street/train_teacher.sh's flags,
# with three changes: --nThreads spelled out (published: --nThread), no dangling backslash, and the default
# --dataroot datasets/Cityscapes/ (published: ../cityscape/, in Fast-Vid2Vid's A/<phase> layout; ours is
# <phase>_A, see datasets/README.md). --save_latest_freq / --save_epoch_freq are Fast-Vid2Vid's changed
# defaults (vid2vid: 1000 / 1). Next: train_skd.sh.
set -e
python train.py --name label2city_512_teacher \
    --label_nc 35 --loadSize 512 --use_instance --fg \
    --gpu_ids 0 --n_gpus_gen -1 --n_frames_total 6 --batchSize 1 --nThreads 1 \
    --netG sr_mobile_composite --save_latest_freq 100 --save_epoch_freq 5 "$@"
