"""The encoder interface shared by training, retrieval and the demo.

Training (`radkit.models`) produces objects satisfying `RetrievalModel`; retrieval
(`radkit.retrieval`) consumes only this interface, so either side can change its
internals without breaking the other.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch


@runtime_checkable
class RetrievalModel(Protocol):
    """A dual image/report encoder with optional anatomy conditioning.

    Attributes:
        name: model name (config name or folder name).
        modality: "cxr" or "ct".
        embed_dim: D, the dimension of every returned embedding.
    """

    name: str
    modality: str
    embed_dim: int

    def preprocess_image(self, image) -> torch.Tensor:
        """One `radkit.io.Image` -> model input tensor: (C, H, W) for CXR, (C, D, H, W) for CT,
        using the preprocessing config stored with the model."""

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, C, ...) preprocessed images -> (B, D) L2-normalised global embeddings."""

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """B report strings -> (B, D) L2-normalised embeddings."""

    def encode_image_anatomy(self, pixels: torch.Tensor, anatomies: Sequence[str]) -> torch.Tensor:
        """(B, C, ...) images and B anatomy names -> (B, D) L2-normalised anatomy-conditioned embeddings."""

    def fingerprint(self) -> str:
        """A hash of weights + architecture + preprocessing config (indexes record it)."""
