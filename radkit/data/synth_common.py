"""Small numpy helpers shared by the 2D and 3D phantoms (textures, soft shapes, curves)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


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


def _upsample_axis(g: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``g`` along ``axis`` to ``n_out`` samples (gather + lerp, no BLAS:
    tiny matrix products stall on busy machines in threaded BLAS)."""
    lo, hi, w = _lerp_table(g.shape[axis], n_out)
    w = w.reshape([-1 if i == axis else 1 for i in range(g.ndim)])
    out = np.take(g, hi, axis)
    out -= (g_lo := np.take(g, lo, axis))
    out *= w
    out += g_lo
    return out


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], cells: int | tuple[int, ...]) -> np.ndarray:
    """Band-limited noise: N(0,1) on a coarse grid of ``cells`` per axis, linearly upsampled to ``shape``.

    Linear upsampling of a coarse grid is cheap (separable matrix products) and gives
    textures whose feature size is shape/cells, independent of the output resolution.
    Returns float32 of ``shape`` with roughly unit variance.
    """
    cells = (cells,) * len(shape) if isinstance(cells, int) else tuple(cells)
    g = rng.standard_normal(tuple(c + 1 for c in cells)).astype(np.float32)
    for ax, n in enumerate(shape):
        g = _upsample_axis(g, n, ax)
    return g / max(float(g.std()), 1e-6)


def soft_step(x: np.ndarray, width: float) -> np.ndarray:
    """Smooth 0->1 ramp around x=0 with slope 1/(4*width) (the logistic's slope; a ramp is cheaper)."""
    y = x * np.float32(0.25 / max(width, 1e-6)) + np.float32(0.5)
    np.minimum(y, 1, out=y)
    np.maximum(y, 0, out=y)
    return y
