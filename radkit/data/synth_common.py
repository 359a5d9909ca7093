"""Small numpy helpers shared by the 2D and 3D phantoms (textures, soft shapes, curves)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np


_PARTIAL: dict = {}  # (coarse grid digest, shape) -> grid upsampled along every axis but 0 (slab rendering)


@lru_cache(maxsize=64)
def _lerp_table(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cached (lo, hi, w) of linear interpolation from n_in to n_out samples; w is float32 so the
    lerp stays in float32 (a float64 weight silently promotes every texture to float64)."""
    pos = np.linspace(0, n_in - 1, n_out, dtype=np.float32)
    lo = np.clip(np.floor(pos).astype(np.intp), 0, max(n_in - 2, 0))
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo).astype(np.float32)
    for t in (lo, hi, w):
        t.flags.writeable = False
    return lo, hi, w


def _upsample_axis(g: np.ndarray, n_out: int, axis: int, part: slice | None = None) -> np.ndarray:
    """Linear interpolation of ``g`` along ``axis`` to ``n_out`` samples (gather + lerp, no BLAS:
    tiny matrix products stall on busy machines in threaded BLAS); ``part`` keeps only those samples."""
    lo, hi, w = _lerp_table(g.shape[axis], n_out)
    if part is not None:
        lo, hi, w = lo[part], hi[part], w[part]
    w = w.reshape([-1 if i == axis else 1 for i in range(g.ndim)])
    out = np.take(g, hi, axis)
    out -= (g_lo := np.take(g, lo, axis))
    out *= w
    out += g_lo
    return out


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], cells: int | tuple[int, ...],
                 rows: slice | None = None) -> np.ndarray:
    """Band-limited noise: N(0,1) on a coarse grid of ``cells`` per axis, linearly upsampled to ``shape``.

    Linear upsampling of a coarse grid is cheap and gives textures whose feature size is
    shape/cells, independent of the output resolution. Returns float32 of ``shape`` with
    roughly unit variance. With ``rows`` (a slice of axis 0), only those rows of the same
    field are returned (slab rendering); the field is then normalised by the standard
    deviation of a sampling at about 4 points per cell (a full-size pass would defeat slabs),
    so slabs agree with each other and, statistically, with the full field.
    """
    cells = (cells,) * len(shape) if isinstance(cells, int) else tuple(cells)
    g = rng.standard_normal(tuple(c + 1 for c in cells)).astype(np.float32)
    ref = g  # the coarse grid, for the slab normalisation
    key = (hashlib.sha1(g.tobytes()).digest(), tuple(shape)) if rows is not None else None
    if key in _PARTIAL:  # later slabs of the same field reuse the upsampling of the other axes
        g = _PARTIAL[key]
    else:
        # last axis first: the final, full-size pass then gathers whole contiguous rows (fast)
        for ax in range(len(shape) - 1, 0, -1):
            g = _upsample_axis(g, shape[ax], ax)
        if key is not None:
            _PARTIAL[key] = g
            while len(_PARTIAL) > 4:
                _PARTIAL.pop(next(iter(_PARTIAL)))
    if rows is None:
        g = _upsample_axis(g, shape[0], 0)
        g /= max(float(g.std()), 1e-6)
        return g
    out = _upsample_axis(g, shape[0], 0, rows)
    out /= max(_upsampled_std(ref, shape), 1e-6)
    return out


def _upsampled_std(coarse: np.ndarray, shape: tuple[int, ...]) -> float:
    """Standard deviation of ``coarse`` linearly upsampled to ``shape``, without building it.

    The upsampled field is coarse x_0 W_0 x_1 W_1 ... (W_a: the (n_a, c_a) interpolation matrix), so
    its sum is coarse contracted with the column sums of each W_a and its sum of squares is coarse
    contracted with the Gram matrices W_a^T W_a: a few (c, c) products instead of a full-size pass.
    """
    letters = "abcdefgh"[:coarse.ndim]
    total, sq = coarse.astype(np.float64), coarse.astype(np.float64)
    for ax, n in enumerate(shape):
        lo, hi, w = _lerp_table(coarse.shape[ax], n)
        W = np.zeros((n, coarse.shape[ax]))
        np.add.at(W, (np.arange(n), lo), 1 - w.astype(np.float64))
        np.add.at(W, (np.arange(n), hi), w.astype(np.float64))
        gram, colsum = np.einsum("ni,nj->ij", W, W), W.sum(0)
        sub = letters.replace(letters[ax], "z")
        sq = np.einsum(f"{letters},{letters[ax]}z->{sub}", sq, gram)
        total = np.einsum(f"{letters},{letters[ax]}->{letters.replace(letters[ax], '')}", total, colsum)
        total = np.expand_dims(total, ax)
    count = float(np.prod(shape))
    mean = float(total.sum()) / count
    var = float(np.einsum(f"{letters},{letters}->", sq, coarse.astype(np.float64))) / count - mean * mean
    return float(np.sqrt(max(var, 0.0)))


def soft_step(x: np.ndarray, width: float) -> np.ndarray:
    """Smooth 0->1 ramp around x=0 with slope 1/(4*width) (the logistic's slope; a ramp is cheaper)."""
    y = x * np.float32(0.25 / max(width, 1e-6)) + np.float32(0.5)
    np.minimum(y, 1, out=y)
    np.maximum(y, 0, out=y)
    return y
