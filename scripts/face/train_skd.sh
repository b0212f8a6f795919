#!/usr/bin/env bash
# Fast-Vid2Vid stage B, edge-to-face 512x512: spatial distillation (--model skd) of the student (--student,
# half-resolution input) from the stage-A teacher (scripts/face/train_teacher.sh), which it starts from. The
# published scripts/face/train_skd.sh's flags (its train_skd.py is our --model skd; its --load_pretrain of the
# teacher is --teacher_dir), with --nThreads spelled out and no dangling backslash. Loss weights:
# --lambda_kd_l1 1 --lambda_kd_vgg 1, as published; --kd_published reproduces the published teacher and mask.
set -e
python train.py --model skd --name edge2face_512_student_skd \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 --loadSize 512 --num_D 3 \
    --gpu_ids 0 --n_gpus_gen -1 --n_frames_total 6 --batchSize 1 --nThreads 1 \
    --netG sr_mobile_composite --student --teacher_dir checkpoints/edge2face_512_teacher \
    --save_latest_freq 100 --save_epoch_freq 5 "$@"
