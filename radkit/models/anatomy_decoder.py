"""Anatomy-conditioned single-query cross-attention decoder (SPEC_RADIR §2.3).

The projected text embedding of an anatomy name is the one query; the image token
grid (projected to D) is the memory; fixed sinusoidal positions are added to the
keys only. Layers are DETR decoder layers without self-attention (one query has
nothing to attend to), pre-norm, with a final LayerNorm and a bias-free output Linear.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_positions(grid: tuple[int, ...], dim: int) -> torch.Tensor:
    """Fixed sin/cos encoding of an n-D grid -> (prod(grid), dim).

    The channels are split evenly across axes (as PositionalEncoding2D/3D do); each
    axis uses the Transformer frequencies 1 / 10000^(2i/d_axis). Leftover channels are zero.
    """
    n_ax = len(grid)
    d_ax = 2 * (dim // (2 * n_ax))
    inv = 1.0 / (10000 ** (torch.arange(0, d_ax, 2, dtype=torch.float64) / d_ax))
    coords = torch.stack(torch.meshgrid(*[torch.arange(g, dtype=torch.float64) for g in grid], indexing="ij"),
                         -1).reshape(-1, n_ax)
    out = torch.zeros(coords.shape[0], dim, dtype=torch.float64)
    for a in range(n_ax):
        ang = coords[:, a:a + 1] * inv  # (N, d_ax/2)
        out[:, a * d_ax:(a + 1) * d_ax] = torch.stack([ang.sin(), ang.cos()], -1).reshape(-1, d_ax)
    return out.float()


class CrossAttentionLayer(nn.Module):
    """x = x + Drop(CA(LN(x), mem + pos, mem)); x = x + Drop(FFN(LN(x)))  (pre-norm, ReLU FFN)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, memory, pos):
        a, w = self.attn(self.norm1(x), memory + pos, memory, need_weights=True)
        x = x + self.drop1(a)
        return x + self.drop2(self.ffn(self.norm2(x))), w


class AnatomyDecoder(nn.Module):
    """Single-query decoder: anatomy query (B, D) x image tokens (B, N, W) -> (B, D) L2-normalised.

    Args:
        token_dim: W, width of the image tower tokens (projected to D by a Linear).
        dim: D, the model's embed_dim.
        layers, heads, ffn_dim, dropout: decoder shape (RadIR: 4-6, 8, 2048, 0.1).
    """

    def __init__(self, token_dim: int, dim: int, layers: int = 4, heads: int = 8, ffn_dim: int = 2048,
                 dropout: float = 0.1):
        super().__init__()
        self.dim = dim
        self.memory_proj = nn.Linear(token_dim, dim)
        self.layers = nn.ModuleList(CrossAttentionLayer(dim, heads, ffn_dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out_proj = nn.Linear(dim, dim, bias=False)  # `to_fused_latent`
        self._pos_cache: dict[tuple[int, ...], torch.Tensor] = {}

    def _pos(self, grid: tuple[int, ...], n: int, like: torch.Tensor) -> torch.Tensor:
        if math.prod(grid) != n:
            grid = (n,)
        if grid not in self._pos_cache:
            self._pos_cache[grid] = sinusoidal_positions(grid, self.dim)
        return self._pos_cache[grid].to(device=like.device, dtype=like.dtype)

    def forward(self, query: torch.Tensor, tokens: torch.Tensor, grid: tuple[int, ...],
                return_attention: bool = False, base: torch.Tensor | None = None):
        """query (B, D), tokens (B, N, W) -> (B, D) L2-normalised [, list of (B, 1, N) attention maps].

        ``base`` (B, D), optional, is added to the output before the L2-norm (global residual).
        """
        memory = self.memory_proj(tokens)
        pos = self._pos(tuple(grid), memory.shape[1], memory).unsqueeze(0)
        x, maps = query.unsqueeze(1), []
        for layer in self.layers:
            x, w = layer(x, memory, pos)
            maps.append(w)
        out = self.out_proj(self.norm(x[:, 0]))
        out = nn.functional.normalize(out if base is None else out + base, dim=-1)
        return (out, maps) if return_attention else out
