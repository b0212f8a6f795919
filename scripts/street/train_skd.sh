#!/usr/bin/env bash
# Fast-Vid2Vid stage B, Cityscapes 512x256: spatial distillation (--model skd) of the student (--student, half-
# resolution input) from the stage-A teacher (scripts/street/train_teacher.sh), which it starts from. The
# published scripts/street/train_skd.sh's flags (its train_skd.py is our --model skd; its --load_pretrain of the
# teacher is --teacher_dir), with the teacher recipe's three changes: --nThreads spelled out, no dangling
# backslash, the default --dataroot datasets/Cityscapes/. Loss weights: --lambda_kd_l1 1 --lambda_kd_vgg 1, as
# published. Add --kd_published to run the teacher at half resolution with one mask, as the published code did.
set -e
python train.py --model skd --name label2city_512_student_skd \
    --label_nc 35 --loadSize 512 --use_instance --fg \
    --gpu_ids 0 --n_gpus_gen -1 --n_frames_total 6 --batchSize 1 --nThreads 1 \
    --netG sr_mobile_composite --student --teacher_dir checkpoints/label2city_512_teacher \
    --save_latest_freq 100 --save_epoch_freq 5 "$@"
