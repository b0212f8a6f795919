"""Train any model: ``python train.py --name label2city_256_g1 --label_nc 35 --loadSize 256 ...``.

Several processes: ``torchrun --nproc_per_node N train.py ...`` (one sequence per process, gradients averaged).
"""

from __future__ import annotations

import logging
import sys
from typing import Sequence

from models.vid2vid.criterion import NonFiniteLossError
from options import TrainOptions
from training.trainer import Trainer


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, check the data, build the model and run every epoch."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = TrainOptions()
    opt = options.parse(argv, save=False)
    trainer = Trainer(opt)
    if trainer.dist.is_main:
        options.save_options(opt)
    try:
        for epoch in trainer.epochs():
            for batch in trainer.batches(epoch):
                try:
                    result = trainer.model.train_sequence(batch)
                except NonFiniteLossError as err:
                    raise NonFiniteLossError(trainer.describe_failure(err)) from None
                trainer.after_step(epoch, result)
            trainer.end_epoch(epoch)
    finally:
        trainer.close()


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
