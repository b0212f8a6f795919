#!/usr/bin/env bash
# Fast-Vid2Vid stage A for pose-to-body: the teacher (--netG sr_mobile_composite, --student NOT set).
# The authors released no pose recipe and no pose model (privacy, per their README): these are vid2vid's
# pose/train_512p.sh settings, made single-scale because the Fast-Vid2Vid generator is (no
# --n_scales_spatial 2, --niter_fix_global or --load_pretrain of a 256p run), trained from scratch with the
# plain vid2vid losses and schedule, at the default --lr 0.0002 of vid2vid's from-scratch pose recipe
# (train_256p.sh; 512p's 0.0001 is for fine-tuning). --save_latest_freq / --save_epoch_freq are
# Fast-Vid2Vid's changed defaults (vid2vid: 1000 / 1).
set -e
python train.py --name pose2body_512p_teacher \
    --dataroot datasets/pose --dataset_mode pose --input_nc 6 --num_D 3 \
    --resize_or_crop randomScaleHeight_and_scaledCrop --loadSize 768 --fineSize 512 \
    --gpu_ids 0,1,2,3,4,5,6,7 --batchSize 8 --no_first_img --n_frames_total 12 --max_t_step 4 --add_face_disc \
    --niter 5 --niter_decay 5 \
    --netG sr_mobile_composite --save_latest_freq 100 --save_epoch_freq 5 "$@"
