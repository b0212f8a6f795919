#!/usr/bin/env bash
# pose-to-body from OpenPose keypoints alone (no DensePose: it has no installable back-end), one GPU, 256p.
# The dataset is what scripts/prepare_video.py --mode pose writes: <dataroot>/train_img and train_openpose only.
#   python scripts/prepare_video.py --mode pose --input dance.mp4 --dataroot datasets/mydance
# (new) not a published setting: the reference's pose_256p recipe with --openpose_only --input_nc 3, one GPU.
set -e
python train.py --name pose2body_256p_openpose_only \
    --dataroot datasets/mydance --dataset_mode pose --openpose_only --input_nc 3 \
    --ngf 64 --num_D 2 --resize_or_crop randomScaleHeight_and_scaledCrop --loadSize 384 --fineSize 256 --niter 5 --niter_decay 5 --no_first_img --n_frames_total 12 --max_frames_per_gpu 4 --max_t_step 4 "$@"
