"""`DualEncoder`: image and text towers, projection heads, learnable logit scale and the
optional anatomy decoder. Satisfies `radkit.models.protocol.RetrievalModel`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from radkit.data.transforms import build_transform, validate_image
from radkit.models.anatomy_decoder import AnatomyDecoder
from radkit.models.config import ModelConfig
from radkit.models.image_towers import create_image_tower
from radkit.models.text_tower import TextTower


class DualEncoder(nn.Module):
    """RadIR-style dual encoder for one modality.

    Args:
        cfg: the resolved architecture config.
        saved_dir: a model folder to take the text config/tokenizer from (used by `load_model`).

    Attributes:
        logit_scale: θ, shape (1,); image-text logits are exp(θ)·cos (θ0 = cfg.init_logit_scale).
    """

    def __init__(self, cfg: ModelConfig, saved_dir: Path | None = None):
        super().__init__()
        self.cfg = cfg
        self.name, self.modality, self.embed_dim = cfg.name, cfg.modality, cfg.embed_dim
        self.image_tower = create_image_tower(cfg.image, load_weights=saved_dir is None)
        self.text_tower = TextTower(cfg.text, saved_dir=saved_dir)
        self.image_proj = nn.Linear(self.image_tower.width, cfg.embed_dim, bias=False)
        self.text_proj = nn.Linear(self.text_tower.width, cfg.embed_dim, bias=False)
        # shape (1,), not a 0-d scalar: FSDP refuses scalar parameters
        self.logit_scale = nn.Parameter(torch.full((1,), float(cfg.init_logit_scale)))
        d = cfg.decoder
        self.decoder = (AnatomyDecoder(self.image_tower.token_width, cfg.embed_dim, d.layers, d.heads, d.ffn_dim, d.dropout)
                        if d is not None else None)
        if d is not None and d.zero_init_output:  # conditional = global until stage 2 moves it
            nn.init.zeros_(self.decoder.out_proj.weight)
        self._transform = None

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def preprocess_image(self, image: Any) -> torch.Tensor:
        """One `radkit.io.Image` -> (1, H, W) CXR or (1, X, Y, Z) CT float32, per the stored preprocess config."""
        if self._transform is None:
            self._transform = build_transform(self.cfg.preprocess)
        return self._transform(validate_image(image, self.cfg.preprocess), getattr(image, "affine", None))

    def image_features(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
        """(B, C, ...) -> tokens (B, N, W), pooled (B, W), token grid."""
        return self.image_tower(pixels.to(self.device))

    def encode_image(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """(B, C, ...) preprocessed images -> (B, D) global embeddings, L2-normalised if ``normalize``."""
        _, pooled, _ = self.image_features(pixels)
        z = self.image_proj(pooled)
        return nn.functional.normalize(z, dim=-1) if normalize else z

    def encode_text(self, texts: Sequence[str] | dict[str, torch.Tensor], normalize: bool = True) -> torch.Tensor:
        """B strings (or a tokenised dict with input_ids/attention_mask (B, T)) -> (B, D) embeddings,
        L2-normalised if ``normalize``."""
        if isinstance(texts, dict):
            _, pooled = self.text_tower(texts["input_ids"].to(self.device), texts["attention_mask"].to(self.device))
        else:
            pooled = self.text_tower.pooled([texts] if isinstance(texts, str) else list(texts), self.device)
        z = self.text_proj(pooled)
        return nn.functional.normalize(z, dim=-1) if normalize else z

    def anatomy_queries(self, anatomies: Sequence[str]) -> torch.Tensor:
        """B anatomy names -> (B, D) decoder queries (projected, unnormalised text embeddings);
        each distinct name is encoded once."""
        names = list(dict.fromkeys(anatomies))
        q = self.encode_text(names, normalize=False)
        return q[torch.tensor([names.index(a) for a in anatomies], device=q.device)]

    def encode_image_anatomy(self, pixels: torch.Tensor, anatomies: Sequence[str]) -> torch.Tensor:
        """(B, C, ...) images and B anatomy names -> (B, D) L2-normalised anatomy-conditioned embeddings.

        Without a decoder (the clip baseline) this is the unconditional image embedding.
        """
        if isinstance(anatomies, str):
            anatomies = [anatomies] * pixels.shape[0]
        if len(anatomies) != pixels.shape[0]:
            raise ValueError(f"got {pixels.shape[0]} images but {len(anatomies)} anatomy names; pass one per image")
        if self.decoder is None:
            return self.encode_image(pixels)
        tokens, pooled, grid = self.image_features(pixels)
        return self.decoder(self.anatomy_queries(anatomies), tokens, grid, base=self._residual(pooled))

    def encode_image_anatomies(self, pixels: torch.Tensor, anatomies: Sequence[str]) -> dict[str, torch.Tensor]:
        """Every image conditioned on every anatomy, sharing one image-tower pass and one text pass.

        Returns:
            {anatomy: (B, D) L2-normalised}, equal to `encode_image_anatomy(pixels, [a] * B)` per anatomy.
        """
        names = list(dict.fromkeys(anatomies))
        if self.decoder is None:
            emb = self.encode_image(pixels)
            return {a: emb for a in names}
        tokens, pooled, grid = self.image_features(pixels)
        queries = self.encode_text(names, normalize=False) if names else None
        b, base = pixels.shape[0], self._residual(pooled)
        return {a: self.decoder(queries[i].expand(b, -1), tokens, grid, base=base) for i, a in enumerate(names)}

    def _residual(self, pooled: torch.Tensor) -> torch.Tensor | None:
        """(B, W) pooled features -> (B, D) L2-normalised global embedding when the decoder config asks for
        the global residual, else None."""
        if not self.cfg.decoder.global_residual:
            return None
        return nn.functional.normalize(self.image_proj(pooled), dim=-1)

    def forward(self, pixels: torch.Tensor, texts: Sequence[str] | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """-> dict(image_features (B, D), text_features (B, D), both L2-normalised, logit_scale = exp(θ))."""
        return {"image_features": self.encode_image(pixels), "text_features": self.encode_text(texts),
                "logit_scale": self.logit_scale.exp()}

    def fingerprint(self) -> str:
        """sha256 (first 16 hex) of architecture + preprocessing config + every weight's bytes."""
        h = hashlib.sha256(json.dumps(self.cfg.to_dict(), sort_keys=True).encode())
        for k, v in sorted(self.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()[:16]

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the model folder (see `radkit.models.checkpoint.save_pretrained`)."""
        from radkit.models.checkpoint import save_pretrained

        return save_pretrained(self, folder)
