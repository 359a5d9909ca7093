"""Training (the only area importing Lightning): `RetrievalModule`, `train()`."""

from radkit.training.module import RetrievalModule
from radkit.training.train import train  # the function shadows its module name on purpose

__all__ = ["RetrievalModule", "train"]
