#!/usr/bin/env bash
# Fast-Vid2Vid stage A, edge-to-face 512x512: the teacher (--netG sr_mobile_composite, --student NOT set),
# trained with the plain vid2vid losses and schedule. The published scripts/face/train_teacher.sh's flags,
# with --nThreads spelled out (published: --nThread) and no dangling backslash. --save_latest_freq /
# --save_epoch_freq are Fast-Vid2Vid's changed defaults (vid2vid: 1000 / 1). Next: train_skd.sh.
set -e
python train.py --name edge2face_512_teacher \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 --loadSize 512 --num_D 3 \
    --gpu_ids 0 --n_gpus_gen -1 --n_frames_total 6 --batchSize 1 --nThreads 1 \
    --netG sr_mobile_composite --save_latest_freq 100 --save_epoch_freq 5 "$@"
