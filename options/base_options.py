"""Options shared by training and testing.

Every flag of the reference vid2vid keeps its name, type and default, so the reference's shell scripts
parse unchanged. Flags this project adds are marked "(new)" in their help text.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from models import DEFAULT_MODEL
from models.networks import GENERATORS
from models.networks.flow import FLOW_BACKENDS
from options.validation import OptionError, validate, warn_ineffective
from util.device import resolve_devices

logger = logging.getLogger(__name__)

INF = float("inf")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Flags with their defaults; the epilog (the model's loss-weight table) keeps its rows."""


class BaseOptions:
    """Flags shared by train.py and test.py, parsed in two passes (model and dataset hooks)."""

    is_train: bool = False

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the shared flags to ``parser`` and return it."""
        g = parser.add_argument_group("experiment")
        g.add_argument("--name", type=str, default="experiment_name",
                       help="experiment name; checkpoints go to <checkpoints_dir>/<name>")
        g.add_argument("--gpu_ids", type=str, default="0",
                       help="comma-separated GPU ids, e.g. 0,1,2; -1 for CPU. Absent GPUs fall back to CPU")
        g.add_argument("--n_gpus_gen", type=int, default=-1,
                       help="how many of --gpu_ids run the generator; the rest run the discriminators. "
                            "-1: all devices, no split")
        g.add_argument("--checkpoints_dir", type=str, default="./checkpoints", help="where models are saved")
        g.add_argument("--model", type=str, default=DEFAULT_MODEL, help="model name (models/<model>_model.py)")
        g.add_argument("--debug", action="store_true",
                       help="load data in the main process (no --nThreads workers) and show full tracebacks "
                            "instead of one-line errors")
        g.add_argument("--fp16", action="store_true", help="mixed precision training with torch.amp (CUDA only)")
        g.add_argument("--local_rank", type=int, default=0,
                       help="kept for old launch scripts; torchrun's LOCAL_RANK is what is used")
        g.add_argument("--seed", type=int, default=None,
                       help="(new) seed for python, numpy and torch; unset means not seeded, as the reference")

        g = parser.add_argument_group("data")
        g.add_argument("--dataroot", type=str, default="datasets/Cityscapes/", help="dataset root folder")
        g.add_argument("--dataset_mode", type=str, default="temporal",
                       help="dataset mode (data/<mode>_dataset.py): temporal, test, face, pose")
        g.add_argument("--batchSize", type=int, default=1, help="sequences per batch")
        g.add_argument("--loadSize", type=int, default=512, help="scale images to this size (pixels)")
        g.add_argument("--fineSize", type=int, default=512, help="then crop to this size (pixels)")
        g.add_argument("--input_nc", type=int, default=3, help="input channels when --label_nc is 0")
        g.add_argument("--label_nc", type=int, default=0, help="number of label classes; 0 means RGB-like input")
        g.add_argument("--output_nc", type=int, default=3, help="output image channels")
        g.add_argument("--nThreads", type=int, default=2, help="data loader worker processes")
        g.add_argument("--serial_batches", action="store_true", help="take sequences in order, no shuffling")
        g.add_argument("--max_dataset_size", type=int, default=INF,
                       help="maximum number of sequences used from the dataset")
        g.add_argument("--skip_check", action="store_true",
                       help="(new) do not run the dataset checker (python -m data.check) before training or testing")
        g.add_argument("--resize_or_crop", type=str, default="scaleWidth",
                       help="resize_and_crop | crop | scaledCrop | scaleWidth | scaleWidth_and_crop | "
                            "scaleWidth_and_scaledCrop | scaleHeight | scaleHeight_and_scaledCrop | "
                            "randomScaleHeight | randomScaleHeight_and_scaledCrop | none")
        g.add_argument("--no_flip", action="store_true", help="no random horizontal flip in training")
        g.add_argument("--use_instance", action="store_true",
                       help="add the instance-boundary map as one extra input channel per frame")
        g.add_argument("--no_canny_edge", action="store_true", help="face: no Canny edges of the background")
        g.add_argument("--no_dist_map", action="store_true", help="face: no distance-transform channels")
        g.add_argument("--random_scale_points", action="store_true",
                       help="face, test only: deform the face parts with fixed ratios")
        g.add_argument("--densepose_only", action="store_true", help="pose: DensePose input only (input_nc 3)")
        g.add_argument("--openpose_only", action="store_true", help="pose: OpenPose input only (input_nc 3)")
        g.add_argument("--remove_face_labels", action="store_true",
                       help="pose: remove DensePose head labels and jitter OpenPose face points")
        g.add_argument("--random_drop_prob", type=float, default=0.05,
                       help="pose, training: probability of dropping each limb, hand, face or part")
        g.add_argument("--basic_point_only", action="store_true", help="pose: body limbs only")

        g = parser.add_argument_group("network")
        g.add_argument("--netG", type=str, default="composite", choices=sorted(GENERATORS),
                       help="generator type (models/networks/__init__.py GENERATORS)")
        g.add_argument("--ngf", type=int, default=128, help="generator filters in the first conv layer")
        g.add_argument("--ndf", type=int, default=64, help="discriminator filters in the first conv layer")
        g.add_argument("--n_blocks", type=int, default=9, help="residual blocks in the coarsest generator")
        g.add_argument("--n_downsample_G", type=int, default=3, help="stride-2 downsamplings in the generator")
        g.add_argument("--n_blocks_local", type=int, default=3, help="residual blocks in each finer scale")
        g.add_argument("--n_local_enhancers", type=int, default=1,
                       help="local enhancers of the single-frame 2048 generator")
        g.add_argument("--norm", type=str, default="batch", choices=["batch", "instance"],
                       help="normalisation layer: batch or instance")
        g.add_argument("--fg", action="store_true", help="separate foreground/background generation")
        g.add_argument("--fg_labels", type=str, default="26",
                       help="comma-separated foreground label ids (26 is Cityscapes car)")
        g.add_argument("--no_flow", action="store_true", help="no flow and weight heads; raw image only")
        g.add_argument("--student", action="store_true",
                       help="(new) --netG sr_mobile_composite: Fast-Vid2Vid's student, which reads the labels and "
                            "previous frames at 1/--student_scale resolution (the teacher when not set)")
        g.add_argument("--student_scale", type=int, default=2,
                       help="(new) input downsampling factor of the --student (a power of two, at most "
                            "2**--n_downsample_G)")
        g.add_argument("--label_feat", action="store_true", help="unused pix2pixHD leftover, kept for scripts")
        g.add_argument("--feat_num", type=int, default=3, help="unused pix2pixHD leftover, kept for scripts")
        g.add_argument("--nef", type=int, default=32, help="unused pix2pixHD leftover, kept for scripts")
        g.add_argument("--load_features", action="store_true",
                       help="unused pix2pixHD leftover, kept for scripts")
        g.add_argument("--netE", type=str, default="simple", help="unused pix2pixHD leftover, kept for scripts")
        g.add_argument("--n_downsample_E", type=int, default=3,
                       help="unused pix2pixHD leftover, kept for scripts")

        g = parser.add_argument_group("temporal")
        g.add_argument("--n_frames_G", type=int, default=3,
                       help="frames fed to the generator; n_frames_G-1 previous outputs are fed back")
        g.add_argument("--n_scales_spatial", type=int, default=1, help="coarse-to-fine generator scales")
        g.add_argument("--no_first_img", action="store_true",
                       help="the video generator also makes the first frame (from zeros)")
        g.add_argument("--use_single_G", action="store_true",
                       help="make the first frames with the single-frame generator (test)")
        g.add_argument("--add_face_disc", action="store_true", help="pose: add a face-crop discriminator")
        g.add_argument("--load_pretrain", type=str, default="",
                       help="folder of checkpoints to start from (coarse-to-fine training)")

        g = parser.add_argument_group("display")
        g.add_argument("--display_winsize", type=int, default=512,
                       help="image width on the HTML pages: training visuals and test.py's results page (px)")
        g.add_argument("--display_id", type=int, default=0, help="unused visdom leftover, kept for scripts")
        g.add_argument("--tf_log", action="store_true",
                       help="TensorBoard logs in <checkpoints_dir>/<name>/logs (torch.utils.tensorboard)")

        g = parser.add_argument_group("flow")
        g.add_argument("--flow_backend", type=str, default="flownet2", choices=list(FLOW_BACKENDS),
                       help="(new) optical flow of the real frames: FlowNet2 (needs its checkpoint) or "
                            "OpenCV's weights-free DIS / Farneback")
        g.add_argument("--flownet_checkpoint", type=str,
                       default=os.path.join("checkpoints", "flownet2", "FlowNet2_checkpoint.pth.tar"),
                       help="(new) path of the official FlowNet2_checkpoint.pth.tar")
        g.add_argument("--flow_cache", type=str, default="",
                       help="(new) folder caching the flow of real frame pairs across epochs")
        return parser

    # ------------------------------------------------------------------ parsing
    def gather(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        """Parse twice: first the base flags, then again with the model's and dataset's hooks applied.

        ``--help`` is added only for the last parse, so it lists the flags of the chosen ``--model`` and
        ``--dataset_mode`` too.
        """
        parser = argparse.ArgumentParser(formatter_class=HelpFormatter, add_help=False)
        parser = self.initialize(parser)
        argv = list(sys.argv[1:] if argv is None else argv)
        opt, _ = parser.parse_known_args(argv)

        from data import get_option_setter as dataset_option_setter
        from models import get_option_setter as model_option_setter

        parser = model_option_setter(opt.model)(parser, self.is_train)
        opt, _ = parser.parse_known_args(argv)
        parser = dataset_option_setter(self._dataset_mode(opt))(parser, self.is_train)
        parser.epilog = self.help_epilog(opt.model, parser)
        parser.add_argument("-h", "--help", action="help", help="show this help message and exit")
        self.parser = parser
        return parser.parse_args(argv)

    def help_epilog(self, model: str, parser: argparse.ArgumentParser) -> str | None:
        """What ``--help`` shows below the flags of ``--model model``; nothing here (training shows the loss
        weights)."""
        return None

    def _dataset_mode(self, opt: argparse.Namespace) -> str:
        """The dataset mode that will actually be loaded (test options remap it)."""
        return opt.dataset_mode

    def parse(self, argv: Sequence[str] | None = None, save: bool = True) -> argparse.Namespace:
        """Parse ``argv`` (default ``sys.argv[1:]``), derive lists and devices, validate, print and save.

        Raises:
            OptionError: flags that contradict each other, naming the flags and the fix.
        """
        opt = self.gather(argv)
        opt.isTrain = self.is_train
        self.derive(opt)
        validate(opt)
        warn_ineffective(opt)
        print(self.format_options(opt, only_changed=True))
        if save:
            self.save_options(opt)
        return opt

    def derive(self, opt: argparse.Namespace) -> None:
        """Fill the derived fields: integer id lists and torch devices."""
        opt.dataset_mode = self._dataset_mode(opt)
        opt.fg_labels = parse_int_list(opt.fg_labels, flag="--fg_labels")
        ids = [i for i in parse_int_list(opt.gpu_ids, flag="--gpu_ids") if i >= 0]
        opt.devices = resolve_devices(ids)
        opt.device = opt.devices[0]
        opt.gpu_ids = [d.index for d in opt.devices if d.type == "cuda"]
        if opt.n_gpus_gen == -1:
            opt.n_gpus_gen = len(opt.devices)
        elif len(ids) > len(opt.gpu_ids) and opt.n_gpus_gen > len(opt.devices):
            logger.warning("--n_gpus_gen %d: only %d device(s) available after the fallback; using all of them for "
                           "the generator and discriminators", opt.n_gpus_gen, len(opt.devices))
            opt.n_gpus_gen = len(opt.devices)

    def format_options(self, opt: argparse.Namespace, only_changed: bool = False) -> str:
        """Options as ``key: value`` lines; the default is shown beside changed values."""
        lines = ["----------------- Options ---------------"]
        for key, value in sorted(vars(opt).items()):
            default = self.parser.get_default(key)
            if only_changed and (value == default or key in DERIVED_KEYS):
                continue
            note = f"\t[default: {default}]" if value != default and default is not None else ""
            lines.append(f"{key:>25}: {value!s:<30}{note}")
        lines.append("----------------- End -------------------")
        return "\n".join(lines)

    def save_options(self, opt: argparse.Namespace) -> str:
        """Write every option to ``<checkpoints_dir>/<name>/<phase>_opt.txt`` and ``opt.txt``; return the path."""
        folder = os.path.join(opt.checkpoints_dir, opt.name)
        os.makedirs(folder, exist_ok=True)
        text = self.format_options(opt) + "\n"
        phase = "train" if self.is_train else "test"
        for file_name in (f"{phase}_opt.txt", "opt.txt") if self.is_train else (f"{phase}_opt.txt",):
            with open(os.path.join(folder, file_name), "w") as handle:
                handle.write(text)
        return os.path.join(folder, f"{phase}_opt.txt")


DERIVED_KEYS = ("devices", "device", "isTrain")


def parse_int_list(text: str | list, flag: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; a clear error naming ``flag`` otherwise."""
    if isinstance(text, list):
        return text
    try:
        return [int(part) for part in str(text).split(",") if part.strip() != ""]
    except ValueError as err:
        raise OptionError(f"{flag} expects comma-separated integers, got {text!r}") from err


def add_single_generator_flags(group) -> None:
    """The layout flags of the pix2pixHD single-frame generator: test.py (``--use_single_G``, ``--model single``)
    and ``train.py --model single`` share them, so a trained generator is loaded with the flags it was trained with.

    Args:
        group: An ``argparse`` parser or argument group.
    """
    group.add_argument("--single_G_size", type=int, default=0,
                       help="(new) which single-frame street generator layout: 512, 1024 (GlobalGenerator) or "
                            "2048 (LocalEnhancer); default: --loadSize, as the reference")
    group.add_argument("--single_G_ngf", type=int, default=0,
                       help="(new) first-layer filters of a single-frame generator trained with --model single; "
                            "0: the released width (64; 32 for the 2048 generator)")
    group.add_argument("--single_G_n_downsample", type=int, default=0,
                       help="(new) downsamplings of a single-frame generator trained with --model single "
                            "(of its global part for 2048); 0: the released number (3 for 512 and faces, else 4)")
