"""Test options: the reference's test flags plus this project's additions."""

from __future__ import annotations

import argparse

from options.base_options import INF, BaseOptions, add_single_generator_flags


class TestOptions(BaseOptions):
    """Flags of test.py."""

    is_train = False

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the base flags, then the test ones."""
        parser = super().initialize(parser)
        g = parser.add_argument_group("test")
        g.add_argument("--ntest", type=int, default=INF, help="maximum number of test sequences")
        g.add_argument("--results_dir", type=str, default="./results/", help="where results are saved")
        g.add_argument("--aspect_ratio", type=float, default=1.0,
                       help="width/height ratio applied to the saved frames (1 keeps them)")
        g.add_argument("--phase", type=str, default="test", help="dataset folder prefix: train, val, test")
        g.add_argument("--which_epoch", type=str, default="latest", help="checkpoint prefix to load")
        g.add_argument("--how_many", type=int, default=300, help="frames to generate, over all sequences")
        g.add_argument("--use_real_img", action="store_true",
                       help="take the first frames from the real images (<phase>_B)")
        g.add_argument("--start_frame", type=int, default=0, help="first frame of the first sequence")
        g.add_argument("--autocast", type=str, default="none", choices=["none", "bf16", "fp16"],
                       help="(new) reduced-precision inference: bf16 on CPU, fp16 or bf16 on CUDA")
        g.add_argument("--label_stem", type=str, default="auto", choices=["auto", "sparse", "conv"],
                       help="(new) how the generator's first convolution reads one-hot labels: sparse (exact "
                            "embedding-bag sums, faster on CPU), conv (the reference's convolution), auto (sparse "
                            "on CPU, conv elsewhere)")
        g.add_argument("--no_video", action="store_true", help="(new) do not write an mp4 per sequence")
        g.add_argument("--input_video", type=str, default="",
                       help="(new) read the input label video from this video file or frame folder; with "
                            "--dataset_mode face or pose: a raw video whose keypoints are detected on the fly")
        g.add_argument("--detector", type=str, default="auto", choices=["auto", "dlib", "mediapipe"],
                       help="(new) keypoint detector for --input_video in the face and pose modes; auto: dlib for "
                            "face, mediapipe for pose")
        g.add_argument("--canvas_size", type=str, default="1920x1080",
                       help="(new) pose with --input_video a folder of OpenPose BODY_25 JSON (no photos): WIDTHxHEIGHT "
                            "of the frame the keypoints are drawn in (pixels)")
        g.add_argument("--retarget", type=str, default="",
                       help="(new) pose with --input_video a folder of BODY_25 JSON: scale every limb to the median "
                            "limb lengths of this training sequence (a folder of the trained person's OpenPose JSON), "
                            "keeping the root (mid-hip) position")
        g.add_argument("--single_G_dir", type=str, default="",
                       help="(new) folder of the single-frame generator checkpoints; default "
                            "<checkpoints_dir>/label2city_single or edge2face_single")
        add_single_generator_flags(g)

        g = parser.add_argument_group("key frames")
        g.add_argument("--keyframes", type=str, default="off", choices=["off", "published", "interval"],
                       help="(new) Fast-Vid2Vid key-frame inference: generate only key frames and interpolate the "
                            "others (flow of --flow_backend between the generated keys, label-aware); published: "
                            "keys at the local maxima of the input's LUV change, interval: every --key_interval-th "
                            "frame; off: generate every frame")
        g.add_argument("--key_interval", type=int, default=0,
                       help="(new) --keyframes interval: frames from one key to the next (>= 1)")
        g.add_argument("--max_key_gap", type=int, default=0,
                       help="(new) with --keyframes: at most this many frames from one key to the next, keys "
                            "inserted where needed (0: no cap, as published)")
        # the generator predicts its own flow at test; only the key-frame interpolation estimates flow
        parser.set_defaults(flow_backend="dis")
        return parser

    def _dataset_mode(self, opt: argparse.Namespace) -> str:
        """test.py reads street data with the streaming ``test`` mode, as the reference does;
        ``--input_video`` reads one video file or frame folder (``video`` mode), or keeps a mode that reads raw
        video itself (face, pose: ``data/<mode>_video_dataset.py``, see :func:`data.loaded_mode`)."""
        from data import reads_raw_video

        if getattr(opt, "input_video", ""):
            return opt.dataset_mode if reads_raw_video(opt.dataset_mode) else "video"
        return "test" if opt.dataset_mode == "temporal" else opt.dataset_mode
