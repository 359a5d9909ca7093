"""`FlatTopK`: a faiss ``IndexFlatIP``-compatible exact search over `radkit.ops.similarity_topk`.

Drop-in for the flat-index calls radkit uses (``add``, ``search``, ``ntotal``, ``d``) so a flat
index can run on the fused top-k (compiled CPU/CUDA build or the reference, through dispatch),
including filtered search, which faiss-gpu lacks.

Result policy, relative to faiss ``IndexFlatIP.search``:

* Same shapes and dtypes: scores float32 (Q, k), ids int64 (Q, k); rows with fewer than ``k``
  candidates (k > N, filtered search) end with padding: id -1, score -3.4028235e38 (-FLT_MAX,
  what faiss writes; `similarity_topk` itself pads with -inf).
* Ties: every result scoring above the k-th score is the same in both. At the k-th score itself,
  when more entries tie there than fit, faiss keeps a subset that depends on its heap's insertion
  history; FlatTopK (like `similarity_topk`) keeps the lowest ids of that group.
* Order within a group of equal scores: faiss returns ids in *descending* order (its heap's final
  sort), `similarity_topk` in ascending order. ``tie_order="faiss"`` (the default) reproduces
  faiss's order; ``"ascending"`` keeps `similarity_topk`'s.
* Scores are fp32 dot products; faiss sums in a different order (SIMD for small Q, BLAS from 20
  queries), so scores agree to float32 rounding (about 1e-7 for L2-normalised vectors), bit-exact
  when the products are exactly representable. Ids can differ only where two scores are that close.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from radkit.ops._inputs import as_tensor
from radkit.ops.api import similarity_topk

FAISS_PAD_SCORE = float(-np.finfo(np.float32).max)
TIE_ORDERS = ("faiss", "ascending")
# shared allowed-id filters selecting fewer rows than this fraction search a gathered copy of
# those rows instead of scoring everything and masking (10% allowed: 7x faster at Q = 1)
SUBSET_FRACTION = 0.25


class FlatTopK:
    """Exact inner-product index over an (N, D) database, searched with `similarity_topk`.

    Args:
        database: (N, D) float32 or bfloat16 numpy array or tensor (stays on its device; bf16 halves
            memory, scores still accumulate in fp32). L2-normalise rows beforehand for cosine similarity.
        tie_order: ``"faiss"`` (equal scores in descending id order, as faiss) or ``"ascending"``.
        backend: force a `similarity_topk` backend (``"cuda"``, ``"cpu"``, ``"reference"``).
    """

    def __init__(self, database: Any = None, tie_order: str = "faiss", backend: str | None = None,
                 d: int | None = None):
        if tie_order not in TIE_ORDERS:
            raise ValueError(f"tie_order {tie_order!r} unknown; valid: {', '.join(TIE_ORDERS)}")
        self.tie_order, self.backend = tie_order, backend
        self._db: torch.Tensor | None = None
        self._d = d
        if database is not None:
            self.add(database)

    @property
    def ntotal(self) -> int:
        """Number of database vectors (faiss ``index.ntotal``)."""
        return 0 if self._db is None else int(self._db.shape[0])

    @property
    def d(self) -> int | None:
        """Vector dimension D (None until known)."""
        return self._d

    def add(self, vectors: Any) -> None:
        """Append (n, D) vectors; ids continue from ``ntotal`` as in faiss."""
        v = as_tensor(vectors, "vectors")
        if v.dim() != 2 or (self._d is not None and v.shape[1] != self._d):
            raise ValueError(f"vectors must be (n, D={self._d if self._d is not None else 'any'}), "
                             f"got shape {tuple(v.shape)}")
        if v.dtype not in (torch.float32, torch.bfloat16):
            v = v.to(torch.float32)  # float64/float16 -> the compiled backends' fp32
        self._d = int(v.shape[1])
        self._db = v.contiguous() if self._db is None else torch.cat([self._db, v.to(self._db)])

    def search(self, queries: Any, k: int, allowed_ids: Any = None) -> tuple[Any, Any]:
        """Top-``k`` inner products of each query, like faiss ``index.search(queries, k[, params])``.

        Args:
            queries: (Q, D) numpy array or tensor (L2-normalised for cosine similarity).
            k: results per query (positive).
            allowed_ids: filtered search. A 1-D integer array/list of allowed ids (as faiss
                ``IDSelectorBatch``; ids outside [0, ntotal) select nothing, as in faiss), or a bool
                mask (N,) shared / (Q, N) per query (True = allowed; per-query has no faiss equivalent).

        Returns:
            (scores, ids): float32 (Q, k) and int64 (Q, k), numpy when ``queries`` is numpy (as faiss),
            else tensors on the database's device; padding -FLT_MAX / -1.
        """
        as_numpy = not isinstance(queries, torch.Tensor)
        q = as_tensor(np.asarray(queries) if isinstance(queries, (list, tuple)) else queries, "queries")
        if q.dim() != 2 or q.shape[1] != self._d:
            raise ValueError(f"queries must be (Q, D={self._d}), got shape {tuple(q.shape)}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if self._db is None or self.ntotal == 0:
            return self._padding(q.shape[0], int(k), as_numpy)
        q = q.to(device=self._db.device, dtype=self._db.dtype)
        mask, ids = self._allowed(allowed_ids)
        if ids is not None and ids.numel() == 0:
            return self._padding(q.shape[0], int(k), as_numpy)
        if ids is not None:
            # few allowed ids: score only those rows (as faiss's selector does). Ids are gathered in
            # ascending order, so "lower subset index" = "lower id" and the tie policy is unchanged.
            s, i = similarity_topk(q, self._db.index_select(0, ids), int(k), backend=self.backend)
            i = torch.where(i >= 0, ids[i.clamp(min=0)], i)
        else:
            s, i = similarity_topk(q, self._db, int(k), mask=mask, backend=self.backend)
        pad = i < 0
        s = s.masked_fill(pad, FAISS_PAD_SCORE)
        if self.tie_order == "faiss":
            s, i = _descending_ids_within_ties(s, i)
        return (s.cpu().numpy(), i.cpu().numpy()) if as_numpy else (s, i)

    def _padding(self, nq: int, k: int, as_numpy: bool) -> tuple[Any, Any]:
        dev = self._db.device if self._db is not None else "cpu"
        s = torch.full((nq, k), FAISS_PAD_SCORE, device=dev)
        i = torch.full((nq, k), -1, dtype=torch.int64, device=dev)
        return (s.cpu().numpy(), i.cpu().numpy()) if as_numpy else (s, i)

    def _allowed(self, allowed_ids: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(bool mask for similarity_topk, None) or (None, sorted unique ids to gather); (None, None): all."""
        if allowed_ids is None:
            return None, None
        if isinstance(allowed_ids, (list, tuple, range)):  # [] would become float64
            allowed_ids = np.asarray(allowed_ids, dtype=np.int64 if len(allowed_ids) == 0 else None)
        m = as_tensor(allowed_ids, "allowed_ids")
        dev = self._db.device
        if m.dtype == torch.bool:
            return m.to(dev), None
        if m.is_floating_point() or m.dim() != 1:
            raise ValueError(f"allowed_ids must be 1-D integer ids or a bool mask (N,)/(Q, N), got {m.dtype} "
                             f"shape {tuple(m.shape)}")
        # Deduplicate by scattering into a bool mask over the database (O(ids + N), no sort): its
        # nonzero positions are the sorted unique ids. Unknown ids match nothing, as in faiss.
        n = self.ntotal
        if dev.type == "cpu":  # numpy: no thread-pool round trips for these small ops
            a = m.cpu().numpy().astype(np.int64, copy=False)
            keep = np.zeros(n, dtype=bool)
            keep[a[(a >= 0) & (a < n)]] = True
            ids = np.flatnonzero(keep)
            if ids.size < SUBSET_FRACTION * n:
                return None, torch.from_numpy(ids)
            return torch.from_numpy(keep), None
        a = m.to(device=dev, dtype=torch.int64)  # on the database's device: one copy of the ids
        keep = torch.zeros(n, dtype=torch.bool, device=dev)
        keep[a[(a >= 0) & (a < n)]] = True
        ids = keep.nonzero().squeeze(1)  # the one device sync of this path
        if ids.numel() < SUBSET_FRACTION * n:
            return None, ids
        return keep, None


def _descending_ids_within_ties(s: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder each row to (score desc, id desc), padding (id -1) last: faiss's order of the same set."""
    # rows are sorted by score already; a stable sort on -id then a stable sort on score keeps scores
    # descending and puts higher ids first among equal scores. Padding shares one score (-FLT_MAX);
    # real ids at that score go first because -id <= 0 < 1 = -(-1).
    o = torch.argsort(-i, dim=1, stable=True)
    s, i = s.gather(1, o), i.gather(1, o)
    o = torch.argsort(s, dim=1, descending=True, stable=True)
    return s.gather(1, o), i.gather(1, o)
