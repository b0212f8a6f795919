#!/usr/bin/env bash
# Fast-Vid2Vid stage B for pose-to-body: spatial distillation (--model skd) of the student (--student,
# half-resolution input) from the stage-A teacher (scripts/pose/train_teacher.sh), which it starts from. The
# authors released no pose recipe: these are the pose teacher's settings (vid2vid's pose/train_512p.sh at one
# scale) with the published spatial-distillation weights (--lambda_kd_l1 1 --lambda_kd_vgg 1).
set -e
python train.py --model skd --name pose2body_512p_student_skd \
    --dataroot datasets/pose --dataset_mode pose --input_nc 6 --num_D 3 \
    --resize_or_crop randomScaleHeight_and_scaledCrop --loadSize 768 --fineSize 512 \
    --gpu_ids 0,1,2,3,4,5,6,7 --batchSize 8 --no_first_img --n_frames_total 12 --max_t_step 4 --add_face_disc \
    --niter 5 --niter_decay 5 \
    --netG sr_mobile_composite --student --teacher_dir checkpoints/pose2body_512p_teacher \
    --save_latest_freq 100 --save_epoch_freq 5 "$@"
