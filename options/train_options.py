"""Training options: the reference's training flags plus this project's additions."""

from __future__ import annotations

import argparse

from models import find_model_using_name
from models.losses import format_weight_help
from options.base_options import BaseOptions


class TrainOptions(BaseOptions):
    """Flags of train.py."""

    is_train = True

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the base flags, then the training ones."""
        parser = super().initialize(parser)
        g = parser.add_argument_group("logging")
        g.add_argument("--display_freq", type=int, default=100, help="steps (samples) between saved visuals")
        g.add_argument("--print_freq", type=int, default=100, help="steps (samples) between loss prints")
        g.add_argument("--save_latest_freq", type=int, default=1000, help="steps between latest checkpoints")
        g.add_argument("--save_epoch_freq", type=int, default=1, help="epochs between numbered checkpoints")
        g.add_argument("--no_html", action="store_true", help="do not write <checkpoints_dir>/<name>/web")

        g = parser.add_argument_group("training")
        g.add_argument("--continue_train", action="store_true", help="resume from --which_epoch and iter.txt")
        g.add_argument("--phase", type=str, default="train", help="dataset folder prefix: train, val, test")
        g.add_argument("--which_epoch", type=str, default="latest", help="checkpoint prefix to load")
        g.add_argument("--niter", type=int, default=10, help="epochs at the starting learning rate")
        g.add_argument("--niter_decay", type=int, default=10, help="epochs of linear decay to zero")
        g.add_argument("--beta1", type=float, default=0.5, help="Adam beta1")
        g.add_argument("--lr", type=float, default=0.0002, help="initial Adam learning rate")
        g.add_argument("--TTUR", action="store_true", help="two time-scale update rule (G lr/2, D lr*2)")
        g.add_argument("--gan_mode", type=str, default="ls", choices=["ls", "original"],
                       help="ls: least-squares GAN (the reference always uses it); original: BCE on logits")
        g.add_argument("--pool_size", type=int, default=1, help="unused image-pool size, kept for scripts")
        g.add_argument("--num_D", type=int, default=2, help="spatial scales of each discriminator")
        g.add_argument("--n_layers_D", type=int, default=3, help="layers of each PatchGAN discriminator")
        g.add_argument("--no_vgg", action="store_true", help="no VGG19 perceptual loss")
        g.add_argument("--no_ganFeat", action="store_true", help="no discriminator feature matching loss")
        g.add_argument("--lambda_feat", type=float, default=10.0,
                       help="weight of feature matching and of the VGG loss")
        g.add_argument("--sparse_D", action="store_true", help="memory-saving temporal frame collection")
        g.add_argument("--lambda_T", type=float, default=10.0, help="weight of the warp losses")
        g.add_argument("--lambda_F", type=float, default=10.0, help="weight of the flow L1 loss")
        g.add_argument("--vgg_weights", type=str, default="",
                       help="(new) path of torchvision's vgg19 ImageNet weights (vgg19-dcbb9e9d.pth); "
                            "default: torchvision's cache")

        g = parser.add_argument_group("temporal")
        g.add_argument("--n_frames_D", type=int, default=3, help="frames per temporal discriminator sample")
        g.add_argument("--n_scales_temporal", type=int, default=2,
                       help="temporal discriminators; scale s skips n_frames_D**s frames")
        g.add_argument("--max_frames_per_gpu", type=int, default=1, help="frames generated per chunk per device")
        g.add_argument("--autocast", type=str, default="none", choices=["none", "bf16"],
                       help="(new) bfloat16 mixed-precision training: forward passes under torch.autocast in bf16 "
                            "(weights, optimizer and losses stay float32, no loss scaling needed); faster on CPUs "
                            "with AVX-512 BF16/AMX and on CUDA GPUs with bf16 (Ampere and later). --fp16 is the "
                            "float16 alternative on CUDA")
        g.add_argument("--checkpoint_activations", action="store_true",
                       help="(new) recompute each generated frame's activations in the backward pass instead of "
                            "keeping them: less memory per chunk, so a longer --max_frames_per_gpu fits, for about "
                            "one more generator forward per frame; same losses and gradients")
        g.add_argument("--max_frames_backpropagate", type=int, default=1,
                       help="how many generated frames gradients may reach back through")
        g.add_argument("--max_t_step", type=int, default=1, help="largest random frame stride of a clip")
        g.add_argument("--n_frames_total", type=int, default=30,
                       help="starting clip length, doubled every --niter_step epochs")
        g.add_argument("--niter_step", type=int, default=5, help="epochs between clip-length doublings")
        g.add_argument("--niter_fix_global", type=int, default=0,
                       help="epochs during which only the finest generator scale is trained")
        return parser

    def help_epilog(self, model: str, parser: argparse.ArgumentParser) -> str:
        """The model's loss-weight table (:meth:`~models.base_model.BaseModel.declare_loss_weights`): each loss,
        the flag its weight follows and the weight under the defaults."""
        table = find_model_using_name(model).declare_loss_weights()
        return format_weight_help(model, table, parser.get_default)
