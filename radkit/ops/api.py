"""Public fused ops: ``ct_preprocess`` and ``similarity_topk`` (dispatching to the backends)."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from radkit.ops import reference as ref
from radkit.ops._geometry import plan_ct
from radkit.ops._inputs import ct_items, topk_inputs, window
from radkit.ops.dispatch import Backend, call

MAX_K_CUDA = 4096


def _ct_compiled(ext, volume: torch.Tensor, plan, slope, intercept, lo, hi) -> torch.Tensor:
    params = torch.from_numpy(plan.axis_params(tuple(volume.shape[1:])))
    return ext.ct_preprocess(volume.contiguous(), params, [slope, intercept, lo, hi])


def _ct_reference(_ext, volume, plan, slope, intercept, lo, hi) -> torch.Tensor:
    return ref.ct_preprocess_one_ref(volume, plan, slope, intercept, lo, hi)


CT_BACKENDS = [
    # int16: stored values (+ slope/intercept); float32: HU arrays as radkit.io returns them
    Backend("cuda", "ct_preprocess", ("cuda",), (torch.int16, torch.float32), "cuda", _ct_compiled),
    Backend("cpu", "ct_preprocess", ("cpu",), (torch.int16, torch.float32), "cpu", _ct_compiled),
    Backend("reference", "ct_preprocess", ("cpu", "cuda"), None, None, _ct_reference),
]


def _topk_compiled(ext, q, db, k, mask, tile):
    return tuple(ext.similarity_topk(q, db, k, mask if mask is not None else torch.empty(0, dtype=torch.bool), tile))


def _topk_reference(_ext, q, db, k, mask, tile):
    return ref.similarity_topk_ref(q, db, k, mask, tile=tile)


TOPK_BACKENDS = [
    Backend("cuda", "similarity_topk", ("cuda",), (torch.float32, torch.bfloat16), "cuda", _topk_compiled,
            {"max_k": MAX_K_CUDA}),
    Backend("cpu", "similarity_topk", ("cpu",), (torch.float32, torch.bfloat16), "cpu", _topk_compiled),
    Backend("reference", "similarity_topk", ("cpu", "cuda"), None, None, _topk_reference),
]


def ct_preprocess(volume: Any, spacing_in: Sequence[float] | None = None, affine: Any = None,
                  slope: float = 1.0, intercept: float = 0.0,
                  target_spacing: Sequence[float] = (1.5, 1.5, 3.0),
                  hu_window: Sequence[float] = (-1000.0, 1000.0), out_shape: Sequence[int] = (240, 240, 96),
                  mode: str = "minmax", backend: str | None = None) -> torch.Tensor:
    """Fused CT preprocessing: HU rescale, RAS reorientation, trilinear resampling, window, crop/pad.

    Each output voxel is computed directly from the int16 (or float32) input (crop/pad offset -> resampled
    coordinate -> input coordinate through the flips/permutation -> trilinear gather -> HU ->
    window), so no intermediate volume exists. Semantics, conventions and arguments:
    :func:`radkit.ops.reference.ct_preprocess_ref` (matches the MONAI Orientation/Spacing/
    ScaleIntensityRange/ResizeWithPadOrCrop chain).

    Args:
        volume: (X, Y, Z), (B, X, Y, Z) or a list of (X, Y, Z) numpy arrays or tensors.
        spacing_in, affine, slope, intercept, target_spacing, hu_window, out_shape, mode: see the reference.
        backend: force ``"cuda"``, ``"cpu"`` or ``"reference"`` (default: fastest available).

    Returns:
        float32 (*out_shape), or (B, *out_shape) for batched/list input, on the input's device.
    """
    items, single = ct_items(volume, spacing_in, affine, slope, intercept)
    lo, hi = window(hu_window)
    ref.check_mode(mode)
    outs = []
    for it in items:
        plan = plan_ct(tuple(it.volume.shape[1:]), it.affine, target_spacing, out_shape)
        inputs = {"device": it.volume.device, "dtype": it.volume.dtype}
        outs.append(call(CT_BACKENDS, inputs, backend, it.volume, plan, it.slope, it.intercept, lo, hi))
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    if mode == "zscore":
        out = ref.zscore(out)
    return out[0] if single else out


def _default_tile(nq: int, device: torch.device) -> int:
    if device.type == "cuda":
        # GPU: a (Q, tile) block up to 64 MB, so a Q = 1 search over 1M rows is one GEMV and one
        # split top-k pass over all SMs instead of many small launches
        return int(min(1 << 20, max(4096, (1 << 24) // max(nq, 1))))
    # CPU: keep the (Q, tile) fp32 score block near 16 MB; a 1 MB block (4096-16384 rows) was not
    # reliably faster on the shared 2-core machine (benchmarks/RESULTS.md)
    return int(min(65536, max(1024, (1 << 22) // max(nq, 1))))


def similarity_topk(queries: Any, database: Any, k: int, mask: Any = None, tile: int | None = None,
                    backend: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact inner-product top-k streamed over database tiles (never a full Q x N score matrix).

    Semantics (tie order, NaN, padding with -inf / -1 when k > N or rows are all masked):
    :func:`radkit.ops.reference.similarity_topk_ref`. The compiled backends take float32 or
    bfloat16 (fp32 accumulation); other dtypes use the reference.

    Args:
        queries: (Q, D) or (D,); L2-normalise beforehand for cosine similarity.
        database: (N, D), same dtype and device as ``queries`` for the compiled backends.
        k: results per query (<= 4096 on CUDA).
        mask: None, bool (N,) or (Q, N) (True = allowed), or 1-D integer allowed ids.
        tile: database rows per tile (default: about 16 MB of fp32 scores, 1024-65536 rows, on CPU;
            up to 64 MB, 4096-1M rows, on CUDA).
        backend: force ``"cuda"``, ``"cpu"`` or ``"reference"``.

    Returns:
        scores (Q, k) float32 and indices (Q, k) int64 ((k,) each for a 1-D query).
    """
    q, db, m, single = topk_inputs(queries, database, k, mask)
    tile = int(tile) if tile else _default_tile(q.shape[0], q.device)
    if tile < 1:
        raise ValueError(f"tile must be a positive number of database rows, got {tile}")
    # mixed query/database dtypes: only the reference accepts them
    dtype = q.dtype if q.dtype == db.dtype else f"mixed queries {q.dtype} / database {db.dtype}"
    inputs = {"device": q.device, "dtype": dtype, "k": int(k)}
    s, i = call(TOPK_BACKENDS, inputs, backend, q.contiguous(), db.contiguous(), int(k), m, tile)
    return (s[0], i[0]) if single else (s, i)


def list_backends(op: str) -> list[Backend]:
    """Backends of ``op`` (``"ct_preprocess"`` or ``"similarity_topk"``) in dispatch order."""
    table = {"ct_preprocess": CT_BACKENDS, "similarity_topk": TOPK_BACKENDS}
    if op not in table:
        raise KeyError(f"unknown op {op!r}; valid: {', '.join(table)}")
    return table[op]
