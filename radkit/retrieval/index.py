"""FAISS index recipes and one searchable vector space (`VectorIndex`).

Embeddings are L2-normalised, so every recipe searches by inner product (= cosine).
A `VectorIndex` keeps three things side by side:

* the FAISS index (positions 0..n-1, no IDMap, so any index clones to a GPU);
* ``ids`` (n,) int64: the row id in the index folder's item table of each position;
* ``vectors`` (n, D) float32: the embeddings themselves. They make removal possible
  for every index type (``reset()`` keeps a trained IVF/PQ quantiser; the rest is
  re-added), give an exact path for small filtered searches, and let an index be
  rebuilt with another recipe without re-embedding.

GPU search (classic FAISS GPU indexes) has two limits (USER_NEEDS.md §2 item 11):
k <= 2048 (``GPU_MAX_SELECTION_K``) and no ``IDSelector``. `plan_search` picks the
path from k, the filter and the device and says why, so the caller can report it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radkit.retrieval.recipe import IndexRecipe

log = logging.getLogger("radkit.retrieval")
GPU_MAX_K = 2048
EXACT_SUBSET_MAX = 50_000  # a filtered search over at most this many rows is done exactly


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError("radkit.retrieval needs FAISS: pip install 'radkit[cpu]' (or 'radkit[gpu]')") from None
    return faiss


def gpu_available() -> bool:
    """True when the installed faiss has GPU support and sees at least one GPU."""
    faiss = _faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@dataclass
class SearchPlan:
    """Which path a search takes and why (`plan_search`)."""

    path: str  # "index" | "index-cpu" | "exact-subset" | "selector" | "post-filter"
    reason: str


def plan_search(n_total: int, k: int, n_selected: int | None, on_gpu: bool,
                gpu_supports_selector: bool = False) -> SearchPlan:
    """Choose the search path.

    Args:
        n_total: vectors in the index.
        k: results wanted.
        n_selected: rows passing the ``where`` filter, or None for no filter.
        on_gpu: the index lives on a GPU.
        gpu_supports_selector: the GPU build applies IDSelectors (cuVS); classic builds do not.
    """
    if n_selected is not None:
        if n_selected <= EXACT_SUBSET_MAX:
            return SearchPlan("exact-subset", f"filter keeps {n_selected} <= {EXACT_SUBSET_MAX} rows: "
                                              "exact inner product over the selected vectors")
        if on_gpu and not gpu_supports_selector:
            return SearchPlan("index-cpu", "classic FAISS GPU indexes ignore IDSelector (faiss#3924): "
                                           "filtered search runs on the CPU copy of the index")
        return SearchPlan("selector", "filter applied inside FAISS with an IDSelector")
    if on_gpu and k > GPU_MAX_K:
        return SearchPlan("index-cpu", f"k={k} > {GPU_MAX_K}, the FAISS GPU top-k limit: "
                                       "searching the CPU copy of the index")
    return SearchPlan("index", "plain FAISS search" + (" on GPU" if on_gpu else ""))


class VectorIndex:
    """One FAISS index over L2-normalised vectors, with row ids and the raw vectors.

    Args:
        recipe: how the FAISS index is built.
        dim: D.
    """

    def __init__(self, recipe: IndexRecipe, dim: int):
        self.recipe, self.dim = recipe, int(dim)
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._cpu = None   # the FAISS index (CPU); also the copy used for GPU fallbacks
        self._gpu = None
        self.last_plan: SearchPlan | None = None

    # ---- build / update -------------------------------------------------------------
    def _new_index(self):
        faiss = _faiss()
        try:
            return faiss.index_factory(self.dim, self.recipe.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as e:
            raise ValueError(f"recipe {self.recipe.name!r}: FAISS cannot build factory "
                             f"{self.recipe.factory!r} for dim {self.dim}: {e}") from None

    def _apply_params(self, index) -> None:
        faiss, r = _faiss(), self.recipe
        if r.nprobe is not None:
            try:
                faiss.extract_index_ivf(index).nprobe = int(r.nprobe)
            except RuntimeError:
                pass  # not an IVF index: nprobe does not apply
        hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
        if hnsw is not None:
            if r.ef_search is not None:
                hnsw.efSearch = int(r.ef_search)
            if r.ef_construction is not None:
                hnsw.efConstruction = int(r.ef_construction)

    def build(self, vectors: np.ndarray, ids: np.ndarray) -> "VectorIndex":
        """Train (if the recipe needs it) and add ``vectors`` (n, D), L2-normalised, with row ``ids`` (n,)."""
        vectors, ids = self._check(vectors, ids)
        index = self._new_index()
        self._apply_params(index)
        if not index.is_trained:
            if len(vectors) == 0:
                raise ValueError(f"recipe {self.recipe.name!r} ({self.recipe.factory}) must be trained "
                                 "but the index has no vectors; add studies or use the 'flat' recipe")
            train = vectors
            if self.recipe.train_size and len(vectors) > self.recipe.train_size:
                rng = np.random.default_rng(self.recipe.seed)
                train = vectors[np.sort(rng.choice(len(vectors), self.recipe.train_size, replace=False))]
            index.train(train)
        index.add(vectors)
        self._cpu, self._gpu = index, None
        self.ids, self.vectors = ids, vectors
        return self

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Append vectors (n, D) with new row ids (an id already present raises ValueError)."""
        vectors, ids = self._check(vectors, ids)
        dup = np.intersect1d(ids, self.ids)
        if dup.size:
            raise ValueError(f"ids already in the index: {dup[:5].tolist()}; remove them first")
        if self._cpu is None:
            self.build(vectors, ids)
            return
        self._cpu.add(vectors)
        self._gpu = None
        self.ids = np.concatenate([self.ids, ids])
        self.vectors = np.concatenate([self.vectors, vectors])

    def remove(self, ids: np.ndarray) -> int:
        """Remove row ids; returns how many were present. Positions are compacted by
        resetting the index (a trained quantiser is kept) and re-adding the rest."""
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        if removed:
            self.ids, self.vectors = self.ids[keep], np.ascontiguousarray(self.vectors[keep])
            self._cpu.reset()
            if len(self.vectors):
                self._cpu.add(self.vectors)
            self._gpu = None
        return removed

    def _check(self, vectors, ids):
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors must be (n, {self.dim}), got {vectors.shape}; "
                             "was the index built with another model?")
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        return vectors, ids

    def __len__(self) -> int:
        return len(self.ids)

    # ---- search ---------------------------------------------------------------------
    @property
    def on_gpu(self) -> bool:
        return self._gpu is not None

    def to_device(self, device: str | None = None) -> None:
        """Move a copy to the GPU when ``device`` (default: the recipe's) allows it and one is present."""
        device = device or self.recipe.device
        if device == "cpu" or self._cpu is None:
            return
        if not gpu_available():
            if device == "cuda":
                raise RuntimeError("recipe asks for device 'cuda' but faiss has no GPU support or sees no GPU; "
                                   "install 'radkit[gpu]' or set device: auto / cpu in the recipe")
            return
        faiss = _faiss()
        self._res = faiss.StandardGpuResources()
        try:
            self._gpu = faiss.index_cpu_to_gpu(self._res, 0, self._cpu)
        except RuntimeError as e:  # e.g. HNSW has no classic GPU version
            if device == "cuda":
                raise RuntimeError(f"recipe {self.recipe.name!r} ({self.recipe.factory}) cannot run on GPU: {e}; "
                                   "set device: auto (CPU fallback) or use the flat / ivfpq recipe") from None
            self._gpu = None

    def search(self, queries: np.ndarray, k: int, positions: np.ndarray | None = None):
        """Top-k by inner product.

        Args:
            queries: (Q, D) L2-normalised.
            k: results per query (fewer when the index or the filter has fewer rows).
            positions: optional sorted positions allowed by a filter.

        Returns:
            scores (Q, k') float32 and row ids (Q, k') int64, best first.
        """
        faiss = _faiss()
        if not (isinstance(queries, np.ndarray) and queries.dtype == np.float32 and queries.ndim == 2
                and queries.flags.c_contiguous):
            queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (Q, {self.dim}), got {queries.shape}; "
                             "query with the model that built the index")
        n_sel = None if positions is None else len(positions)
        plan = plan_search(len(self), k, n_sel, self.on_gpu)
        if plan.path == "index-cpu" and (self.last_plan is None or self.last_plan.path != "index-cpu"):
            log.warning("GPU index fallback: %s", plan.reason)  # say so, once per change of path
        self.last_plan = plan
        kk = min(int(k), len(self) if positions is None else n_sel)
        if kk <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if plan.path == "exact-subset":
            sub = self.vectors[positions]
            sims = queries @ sub.T
            top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            part = np.take_along_axis(sims, top, 1)
            o = np.argsort(-part, axis=1, kind="stable")
            top, part = np.take_along_axis(top, o, 1), np.take_along_axis(part, o, 1)
            return part.astype(np.float32), self.ids[positions[top]]
        index = self._gpu if plan.path == "index" and self.on_gpu else self._cpu
        params = None
        if plan.path == "selector":
            sel = faiss.IDSelectorBatch(positions.astype(np.int64))
            params = self._params_with(sel)
        kq = min(kk * max(int(self.recipe.refine), 1), len(self) if positions is None else n_sel)
        scores, pos = index.search(queries, kq, params=params) if params is not None else index.search(queries, kq)
        if kq > kk:  # exact re-scoring of the candidates with the stored vectors
            exact = np.einsum("qd,qkd->qk", queries, self.vectors[np.clip(pos, 0, None)])
            exact[pos < 0] = -np.inf
            top = np.argsort(-exact, axis=1, kind="stable")[:, :kk]
            pos, scores = np.take_along_axis(pos, top, 1), np.take_along_axis(exact, top, 1).astype(np.float32)
        # fast path: FAISS pads with -1 only when it found fewer than k results
        ids = self.ids[pos] if pos.size == 0 or pos.min() >= 0 else np.where(pos >= 0, self.ids[np.maximum(pos, 0)], -1)
        return scores, ids

    def _params_with(self, sel):
        faiss, r = _faiss(), self.recipe
        inner = faiss.downcast_index(self._cpu)
        if hasattr(inner, "hnsw"):
            return faiss.SearchParametersHNSW(sel=sel, efSearch=int(r.ef_search or inner.hnsw.efSearch))
        try:
            ivf = faiss.extract_index_ivf(self._cpu)
            return faiss.SearchParametersIVF(sel=sel, nprobe=int(r.nprobe or ivf.nprobe))
        except RuntimeError:
            return faiss.SearchParameters(sel=sel)

    # ---- persistence ----------------------------------------------------------------
    def save(self, folder: Path, name: str) -> None:
        """Write ``<name>.faiss``, ``<name>.ids.npy``, ``<name>.vectors.npy`` into ``folder``
        (the caller makes the folder swap atomic)."""
        faiss = _faiss()
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._cpu, str(folder / f"{name}.faiss"))
        np.save(folder / f"{name}.ids.npy", self.ids)
        np.save(folder / f"{name}.vectors.npy", self.vectors)

    @classmethod
    def load(cls, folder: Path, name: str, recipe: IndexRecipe, dim: int) -> "VectorIndex":
        """Read a space written by `save`.

        Raises:
            FileNotFoundError / ValueError: a missing or corrupt file, named.
        """
        faiss = _faiss()
        self = cls(recipe, dim)
        path = folder / f"{name}.faiss"
        if not path.is_file():
            raise FileNotFoundError(f"index file {path} is missing; rebuild with `radkit index build`")
        try:
            self._cpu = faiss.read_index(str(path))
            self.ids = np.load(folder / f"{name}.ids.npy", allow_pickle=False)
            self.vectors = np.load(folder / f"{name}.vectors.npy", allow_pickle=False)
        except (RuntimeError, ValueError, OSError) as e:
            raise ValueError(f"index space {name!r} in {folder} is corrupt ({e}); "
                             "rebuild it with `radkit index build`") from None
        if self._cpu.d != dim or self.vectors.shape != (self._cpu.ntotal, dim) or len(self.ids) != self._cpu.ntotal:
            raise ValueError(f"index space {name!r} in {folder} is inconsistent (faiss d={self._cpu.d}, "
                             f"n={self._cpu.ntotal}; vectors {self.vectors.shape}; ids {len(self.ids)}; "
                             f"metadata dim {dim}); rebuild it with `radkit index build`")
        self._apply_params(self._cpu)
        return self
