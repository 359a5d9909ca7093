"""`radkit train`: a thin shell over `radkit.training.train`."""

from __future__ import annotations

import functools
import inspect

from radkit.training.train import train


@functools.wraps(train)
def train_command(*args, **kwargs) -> int:
    path = train(*args, **kwargs)
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank == 0:  # under DDP every rank returns here; rank 0 alone wrote the folder
        print(f"saved model folder: {path}")
    return 0


train_command.__signature__ = inspect.signature(train).replace(return_annotation=int)

COMMAND = train_command
