"""Small numpy helpers shared by the 2D and 3D phantoms (textures, soft shapes, curves)."""

from __future__ import annotations

import numpy as np


def _upsample_axis(g: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``g`` along ``axis`` to ``n_out`` samples (gather + lerp, no BLAS:
    tiny matrix products stall on busy machines in threaded BLAS)."""
    n_in = g.shape[axis]
    pos = np.linspace(0, n_in - 1, n_out, dtype=np.float32)
    lo = np.clip(np.floor(pos).astype(np.intp), 0, max(n_in - 2, 0))
    w = (pos - lo).reshape([-1 if i == axis else 1 for i in range(g.ndim)])
    hi = np.minimum(lo + 1, n_in - 1)
    return np.take(g, lo, axis) * (1 - w) + np.take(g, hi, axis) * w


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
    """Smooth 0->1 transition around x=0 (logistic), ``width`` in the units of x."""
    return 1.0 / (1.0 + np.exp(-np.clip(x / max(width, 1e-6), -30, 30)))


def curve_distance(points: np.ndarray, coords: tuple[np.ndarray, ...]) -> np.ndarray:
    """Distance from each grid position to a polyline sampled densely as ``points`` (P, D).

    ``coords`` are D arrays of the same shape (grid coordinates). The polyline should
    be sampled finer than the pixel size; the result is the distance to the nearest sample.
    """
    flat = np.stack([c.ravel() for c in coords], 1).astype(np.float32)
    best = np.full(flat.shape[0], np.inf, np.float32)
    for i in range(0, len(points), 64):  # chunked to keep memory at N x 64
        d = ((flat[:, None, :] - points[None, i:i + 64, :].astype(np.float32)) ** 2).sum(-1).min(1)
        np.minimum(best, d, out=best)
    return np.sqrt(best).reshape(coords[0].shape)


def bezier(p0, p1, p2, n: int = 200) -> np.ndarray:
    """(n, D) points of the quadratic Bezier curve p0 -> p2 with control point p1."""
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float32) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def pick_point(rng: np.random.Generator, mask: np.ndarray, coords: tuple[np.ndarray, ...],
               margin_mask: np.ndarray | None = None) -> tuple[float, ...]:
    """Coordinates of a random position inside ``mask`` (prefer ``margin_mask`` when non-empty)."""
    m = margin_mask if margin_mask is not None and margin_mask.any() else mask
    idx = np.flatnonzero(m)
    if idx.size == 0:
        return tuple(float(c.mean()) for c in coords)
    j = idx[rng.integers(idx.size)]
    return tuple(float(c.ravel()[j]) for c in coords)
