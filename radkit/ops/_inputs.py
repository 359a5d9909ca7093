"""Normalise user inputs (numpy or torch, single/batched/list) for the public ops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch


@dataclass
class CtItem:
    """Volumes sharing one geometry: (B, X, Y, Z) plus affine and rescale."""

    volume: torch.Tensor
    affine: np.ndarray
    slope: float
    intercept: float


def as_tensor(x: Any, name: str) -> torch.Tensor:
    """numpy array or tensor -> tensor (no copy when possible)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


def _resolve_affine(spacing_in, affine) -> np.ndarray:
    if affine is None:
        if spacing_in is None:
            raise ValueError("ct_preprocess needs the voxel geometry: pass spacing_in=(sx, sy, sz) mm "
                             "(RAS-ordered volume) or the 4x4 voxel-to-world affine=...")
        sp = np.asarray(spacing_in, dtype=np.float64).reshape(-1)
        if sp.shape != (3,) or np.any(sp <= 0):
            raise ValueError(f"spacing_in must be 3 positive mm values, got {spacing_in!r}")
        return np.diag([*sp, 1.0])
    aff = np.asarray(affine.cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)
    if aff.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got shape {aff.shape}")
    if spacing_in is not None:
        norms = np.linalg.norm(aff[:3, :3], axis=0)
        if not np.allclose(norms, np.asarray(spacing_in, dtype=np.float64), rtol=1e-3):
            raise ValueError(f"spacing_in {tuple(spacing_in)} disagrees with the affine's voxel sizes "
                             f"{tuple(np.round(norms, 4))}; pass only one of them")
    return aff


def _split(value, n: int, elem_ndim: int, name: str) -> list:
    """One value per volume: ``value`` is either shared or a length-n sequence of them."""
    if value is None:
        return [None] * n
    ndim = np.ndim(value[0]) + 1 if isinstance(value, (list, tuple)) and len(value) else np.ndim(value)
    if ndim == elem_ndim:
        return [value] * n
    if ndim == elem_ndim + 1 and len(value) == n:
        return list(value)
    raise ValueError(f"{name} must be one value for all {n} volumes or a list of {n}, got {value!r}")


def ct_items(volume, spacing_in, affine, slope, intercept) -> tuple[list[CtItem], bool]:
    """Group the input into CtItems; the flag says the input was one (X, Y, Z) volume."""
    if isinstance(volume, (list, tuple)):
        vols = [as_tensor(v, "volume") for v in volume]
        n = len(vols)
        if n == 0:
            raise ValueError("volume list is empty")
        affs = _split(affine, n, 2, "affine")
        sps = _split(spacing_in, n, 1, "spacing_in")
        slopes, inters = _split(slope, n, 0, "slope"), _split(intercept, n, 0, "intercept")
        items = []
        for v, a, s, sl, ic in zip(vols, affs, sps, slopes, inters):
            if v.dim() != 3:
                raise ValueError(f"each volume in the list must be (X, Y, Z), got shape {tuple(v.shape)}")
            items.append(CtItem(v[None], _resolve_affine(s, a), float(sl), float(ic)))
        return items, False
    v = as_tensor(volume, "volume")
    if v.dim() not in (3, 4):
        raise ValueError(f"volume must be (X, Y, Z), (B, X, Y, Z) or a list of (X, Y, Z); got shape {tuple(v.shape)}")
    single = v.dim() == 3
    return [CtItem(v[None] if single else v, _resolve_affine(spacing_in, affine), float(slope),
                   float(intercept))], single


def topk_inputs(queries, database, k: int, mask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool]:
    """Checked (Q, D) queries, (N, D) database, mask as None/(N,)/(Q, N) bool; flag: 1-D query."""
    q = as_tensor(queries, "queries")
    db = as_tensor(database, "database")
    single = q.dim() == 1
    if single:
        q = q[None]
    if q.dim() != 2 or db.dim() != 2 or q.shape[1] != db.shape[1]:
        raise ValueError(f"queries must be (Q, D) and database (N, D) with the same D; got "
                         f"{tuple(q.shape)} and {tuple(db.shape)}")
    if not (q.is_floating_point() and db.is_floating_point()):
        raise ValueError(f"queries/database must be floating point, got {q.dtype} and {db.dtype}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if q.device != db.device:
        raise ValueError(f"queries on {q.device} but database on {db.device}; move both to one device")
    n = db.shape[0]
    if mask is None:
        return q, db, None, single
    if isinstance(mask, (list, tuple, range)):  # an empty list of ids would become float64
        mask = np.asarray(mask, dtype=np.int64 if len(mask) == 0 else None)
    m = as_tensor(mask, "mask")
    if m.dtype != torch.bool:
        if m.is_floating_point() or m.dim() != 1:
            raise ValueError(f"mask must be bool (N,)/(Q, N) or a 1-D integer tensor of allowed ids, got {m.dtype} "
                             f"shape {tuple(m.shape)}")
        ids = m.long()
        if ids.numel():
            lo, hi = torch.aminmax(ids)  # one reduction and one device sync for both bounds
            lo, hi = int(lo), int(hi)
            if lo < 0 or hi >= n:
                raise ValueError(f"allowed ids must lie in [0, {n}), got range [{lo}, {hi}]")
        m = torch.zeros(n, dtype=torch.bool, device=ids.device)
        m[ids] = True
    if single and m.dim() == 2 and m.shape[0] == 1:
        m = m[0]
    if not (m.shape == (n,) or m.shape == (q.shape[0], n)):
        raise ValueError(f"bool mask must be (N,)={n} or (Q, N)=({q.shape[0]}, {n}), got {tuple(m.shape)}")
    return q, db, m.to(q.device), single


def window(hu_window: Sequence[float]) -> tuple[float, float]:
    """Checked (lo, hi) HU window."""
    lo, hi = (float(v) for v in hu_window)
    if not hi > lo:
        raise ValueError(f"hu_window must be (lo, hi) with hi > lo, got {tuple(hu_window)}")
    return lo, hi
