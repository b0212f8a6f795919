#!/usr/bin/env bash
# pose-to-body from OpenPose keypoints alone, on a dataset written by
#   python scripts/prepare_video.py --mode pose --input dance2.mp4 --dataroot datasets/mydance --phase test
# Straight from a raw video instead (keypoints detected on the fly): replace --dataroot ... by --input_video dance2.mp4;
# from generated motion: --input_video <folder of BODY_25 JSON> [--retarget datasets/mydance/train_openpose/<seq>].
# (new) not a published setting: the model of train_256p_g1_openpose_only.sh.
set -e
python test.py --name pose2body_256p_openpose_only \
    --dataroot datasets/mydance --dataset_mode pose --openpose_only --input_nc 3 \
    --ngf 64 --resize_or_crop scaleHeight --loadSize 256 --no_first_img "$@"
