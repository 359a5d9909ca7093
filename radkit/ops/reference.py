"""Pure-torch definitions of radkit's fused ops: the spec and the fallback backend.

Both take numpy or torch input and return torch tensors on the input's device.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from radkit.ops._geometry import CtPlan, plan_ct
from radkit.ops._inputs import ct_items, topk_inputs, window


def _resample_axis(x: torch.Tensor, dim: int, start: int, stop: int, scale: float) -> torch.Tensor:
    """Linear resampling along ``dim``: resampled index i in [start, stop) samples input coordinate
    i * scale (clamped to the last voxel)."""
    n_in = x.shape[dim]
    c = (torch.arange(start, stop, dtype=torch.float64, device=x.device) * scale).clamp_(max=n_in - 1)
    i0 = c.floor().long().clamp_(max=n_in - 1)
    i1 = (i0 + 1).clamp_(max=n_in - 1)
    shape = [1] * x.dim()
    shape[dim] = stop - start
    w = (c - i0).to(x.dtype).view(shape)
    x0, x1 = x.index_select(dim, i0), x.index_select(dim, i1)
    return x0 + w * (x1 - x0)


def _kept(plan: CtPlan, w: int) -> tuple[int, int]:
    """Resampled index range [lo, hi) along axis w that survives the centre crop/pad."""
    off = plan.crop_off[w]
    return max(0, off), min(plan.res_size[w], off + plan.out_size[w])


def _pad(x: torch.Tensor, plan: CtPlan, value: float) -> torch.Tensor:
    """Place the kept resampled block into the output (MONAI ResizeWithPadOrCrop offsets)."""
    out = x.new_full((x.shape[0], *plan.out_size), value)
    dst = [slice(None)]
    for w in range(3):
        lo, hi = _kept(plan, w)
        dst.append(slice(lo - plan.crop_off[w], hi - plan.crop_off[w]))
    out[tuple(dst)] = x
    return out


def ct_preprocess_one_ref(volume: torch.Tensor, plan: CtPlan, slope: float, intercept: float,
                          lo: float, hi: float) -> torch.Tensor:
    """(B, X, Y, Z) raw volumes sharing one plan -> (B, *plan.out_size) in [0, 1]."""
    x = volume.to(torch.float32) * slope + intercept  # HU
    x = x.permute(0, *(1 + p for p in plan.perm))  # canonical RAS axis order
    flips = [1 + w for w in range(3) if plan.flip[w]]
    if flips:
        x = x.flip(flips)
    # separable linear = trilinear; only the resampled voxels that survive the centre crop are
    # computed (same values as resampling everything and cropping afterwards)
    for w in range(3):
        x = _resample_axis(x, 1 + w, *_kept(plan, w), plan.scale[w])
    x = (x.clamp(lo, hi) - lo) / (hi - lo)
    return _pad(x, plan, 0.0)  # pad = window minimum


def zscore(x: torch.Tensor) -> torch.Tensor:
    """Per-volume (x - mean) / std over all voxels of (B, ...) (population std; std 0 -> divisor 1)."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    mean = flat.mean(1)
    std = flat.std(1, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    shape = (-1,) + (1,) * (x.dim() - 1)
    return ((x - mean.view(shape).to(x.dtype)) / std.view(shape).to(x.dtype)).to(torch.float32)


def ct_preprocess_ref(volume: Any, spacing_in: Sequence[float] | None = None, affine: Any = None,
                      slope: float = 1.0, intercept: float = 0.0,
                      target_spacing: Sequence[float] = (1.5, 1.5, 3.0),
                      hu_window: Sequence[float] = (-1000.0, 1000.0),
                      out_shape: Sequence[int] = (240, 240, 96), mode: str = "minmax") -> torch.Tensor:
    """CT volume(s) -> canonical RAS, target spacing, HU window, fixed shape. The spec of ``ct_preprocess``.

    Equivalent to MONAI ``Orientation("RAS")`` -> ``Spacing(target_spacing, mode="bilinear",
    padding_mode="border", align_corners=False)`` -> ``ScaleIntensityRange(lo, hi, 0, 1, clip=True)``
    -> ``ResizeWithPadOrCrop(out_shape)`` (-> ``NormalizeIntensity()`` for ``mode="zscore"``), applied
    to ``raw * slope + intercept``. Resampling convention (MONAI ``compute_shape_offset`` with
    ``scale_extent=False`` and ``spatial_resample``, which maps voxel centres, so MONAI's
    ``align_corners`` flag does not move them): the first voxel centres of input and output coincide,
    output voxel i samples input coordinate ``i * target / input`` spacing, the resampled length is
    ``round((n - 1) * input / target + 1)`` and samples past the last voxel take the border value.
    Crop starts at ``n // 2 - out // 2``; padding puts ``(out - n) // 2`` before and is 0 (the window
    minimum). ``"zscore"`` then standardises each output volume over all its voxels (pads included,
    population std). Oblique affines (beyond axis flips/permutations) raise ValueError.

    Args:
        volume: (X, Y, Z), (B, X, Y, Z) (shared geometry) or a list of (X, Y, Z) arrays, any real dtype
            (int16 or float32 for the compiled backends).
        spacing_in: input voxel size in mm per array axis; used when ``affine`` is None (the volume is then
            taken as RAS-ordered). A list gives one per volume of a list input.
        affine: 4x4 voxel-to-world (RAS+ world, as nibabel) matrix, or one per volume of a list input.
        slope, intercept: rescale to HU (DICOM RescaleSlope/RescaleIntercept); per-volume lists allowed.
        target_spacing: output voxel size in mm along R, A, S.
        hu_window: (lo, hi) HU clip range mapped to [0, 1].
        out_shape: output (X, Y, Z) size.
        mode: ``"minmax"`` (window to [0, 1]) or ``"zscore"``.

    Returns:
        float32 (*out_shape) for a single (X, Y, Z) input, else (B, *out_shape).
    """
    items, single = ct_items(volume, spacing_in, affine, slope, intercept)
    lo, hi = window(hu_window)
    check_mode(mode)
    outs = [ct_preprocess_one_ref(it.volume, plan_ct(tuple(it.volume.shape[1:]), it.affine, target_spacing,
                                                     out_shape), it.slope, it.intercept, lo, hi)
            for it in items]
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    if mode == "zscore":
        out = zscore(out)
    return out[0] if single else out


def check_mode(mode: str) -> None:
    """Raise for an unknown ct_preprocess mode."""
    if mode not in ("minmax", "zscore"):
        raise ValueError(f"mode must be 'minmax' or 'zscore', got {mode!r}")


def similarity_topk_ref(queries: Any, database: Any, k: int, mask: Any = None,
                        tile: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact inner-product top-k, streamed over database tiles. The spec of ``similarity_topk``.

    Scores are ``queries @ database.T`` accumulated in fp32 (bf16/fp16 inputs are upcast exactly; fp64
    stays fp64). Order: higher score first, equal scores -> lower database index first. Entries that
    are masked out, or whose score is NaN (NaN/inf in the inputs), are never returned; when fewer than
    ``k`` entries remain (k > N, heavy masking, all-masked rows) the tail is padding: score ``-inf``,
    index ``-1``. A real ``-inf`` score is returned with its index and ranks before padding.

    Args:
        queries: (Q, D) or (D,) float; embeddings are compared as given (L2-normalise first for cosine).
        database: (N, D) float, same device as ``queries``.
        k: results per query (any positive int; the compiled CUDA path allows up to 4096).
        mask: None, bool (N,) shared or (Q, N) per query (True = allowed), or a 1-D integer list/tensor
            of allowed database ids.
        tile: database rows scored at once; memory is O(Q * (tile + k)), never Q * N.

    Returns:
        scores (Q, k) float32 (float64 for float64 input) and indices (Q, k) int64; (k,) each for a 1-D query.
    """
    q, db, m, single = topk_inputs(queries, database, k, mask)
    cd = torch.float64 if torch.float64 in (q.dtype, db.dtype) else torch.float32
    q = q.to(cd)
    nq, n = q.shape[0], db.shape[0]
    best_s = q.new_full((nq, k), float("-inf"))
    best_i = torch.full((nq, k), -1, dtype=torch.long, device=q.device)
    for base in range(0, n, tile):
        s = q @ db[base:base + tile].to(cd).T  # (Q, T)
        idx = torch.arange(base, base + s.shape[1], device=q.device).expand_as(s)
        valid = ~torch.isnan(s)
        if m is not None:
            valid &= m[..., base:base + s.shape[1]]
        s = torch.where(valid, s, float("-inf"))
        idx = torch.where(valid, idx, -1)
        cand_s, cand_i = torch.cat([best_s, s], 1), torch.cat([best_i, idx], 1)
        # two stable sorts give the total order: by score desc, then index asc, padding last
        rank = torch.where(cand_i < 0, n, cand_i)
        o = torch.argsort(rank, dim=1, stable=True)
        cand_s, cand_i = cand_s.gather(1, o), cand_i.gather(1, o)
        o = torch.argsort(cand_s, dim=1, descending=True, stable=True)[:, :k]
        best_s, best_i = cand_s.gather(1, o), cand_i.gather(1, o)
    if single:
        return best_s[0], best_i[0]
    return best_s, best_i
