"""Training under torchrun, for tests/test_ddp.py.

- ``python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py DATAROOT OUT_DIR``: one training step,
  each rank on the sequence of its rank;
- ``... tests/ddp_worker.py DATAROOT OUT_DIR train [train.py flags]``: a whole ``train.main`` run; each rank then
  writes its weights.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

DDP_FLAGS = ["--label_nc", "35", "--use_instance", "--fg", "--loadSize", "64", "--ngf", "8", "--ndf", "8",
             "--n_downsample_G", "2", "--n_blocks", "2", "--num_D", "1", "--n_frames_D", "2", "--no_vgg",
             "--flow_backend", "dis", "--n_frames_total", "4", "--max_frames_per_gpu", "4", "--gpu_ids", "-1",
             "--nThreads", "0", "--no_flip", "--serial_batches"]


def batch_of(dataset, index: int) -> dict:
    """Dataset item ``index`` as a batch of one."""
    return {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in dataset[index].items()}


def build(root: str, dist_ctx=None):
    """The tiny model (seeded identically on every rank) and its dataset."""
    from data import create_dataset
    from models import create_model
    from options import TrainOptions

    opt = TrainOptions().parse(["--dataroot", root, *DDP_FLAGS], save=False)
    torch.manual_seed(0)
    model = create_model(opt, dist_ctx=dist_ctx)
    return model, create_dataset(opt)


def _dump(model, out_dir: str, rank: int) -> None:
    params = {f"{label}.{name}": p.detach().clone() for label, net in model.networks.items()
              for name, p in net.named_parameters()}
    torch.save(params, os.path.join(out_dir, f"rank{rank}.pt"))


def run_train(root: str, out_dir: str, flags: list[str]) -> None:
    """``train.main`` on this rank, then this rank's weights to ``OUT_DIR/rank<r>.pt``."""
    import train
    from training.trainer import Trainer

    trainers = []
    original = Trainer.close

    def keep(self):
        trainers.append(self)
        original(self)

    Trainer.close = keep
    train.main(["--dataroot", root, *DDP_FLAGS, *flags])
    _dump(trainers[0].model, out_dir, int(os.environ["RANK"]))


def main(root: str, out_dir: str) -> None:
    from util.distributed import broadcast_parameters, cleanup_distributed, init_distributed

    ctx = init_distributed(use_cuda=False)
    model, dataset = build(root, ctx)
    broadcast_parameters(model.networks.values(), ctx)
    model.train_sequence(batch_of(dataset, ctx.rank))
    _dump(model, out_dir, ctx.rank)
    cleanup_distributed(ctx)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[3] == "train":
        run_train(sys.argv[1], sys.argv[2], sys.argv[4:])
    else:
        main(sys.argv[1], sys.argv[2])
