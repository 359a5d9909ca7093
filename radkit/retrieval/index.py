"""One searchable vector space (`VectorIndex`): a FAISS index or radkit's flat top-k kernel.

Embeddings are L2-normalised, so every recipe searches by inner product (= cosine).
A `VectorIndex` keeps three things side by side:

* the FAISS index (positions 0..n-1, no IDMap, so any index clones to a GPU), or, for a
  ``backend: radkit`` recipe, a `radkit.ops.FlatTopK` over ``vectors`` (nothing else stored);
* ``ids`` (n,) int64: the row id in the index folder's item table of each position;
* ``vectors`` (n, D) float32: the embeddings themselves. They make removal possible
  for every index type (``reset()`` keeps a trained IVF/PQ quantiser; the rest is
  re-added), give an exact path for small filtered searches, and let an index be
  rebuilt with another recipe without re-embedding.

GPU search (classic FAISS GPU indexes) has two limits (USER_NEEDS.md §2 item 11):
k <= 2048 (``GPU_MAX_K``) and no ``IDSelector``. `plan_search` (radkit.retrieval.plan) picks
the path from k, the filter, the device and the backend and says why, so the caller can report
it; filtered GPU search on a flat index goes through FlatTopK's allowed ids.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from radkit.retrieval.plan import EXACT_SUBSET_MAX, GPU_MAX_K, SearchPlan, plan_search  # noqa: F401
from radkit.retrieval.recipe import IndexRecipe

log = logging.getLogger("radkit.retrieval")
_PLAIN_CPU = SearchPlan("index", "plain FAISS search")
__all__ = ["VectorIndex", "SearchPlan", "plan_search", "gpu_available", "GPU_MAX_K", "EXACT_SUBSET_MAX"]


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


def _torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class VectorIndex:
    """One vector index over L2-normalised vectors, with row ids and the raw vectors.

    Args:
        recipe: how the index is built (FAISS factory, or ``backend: radkit``).
        dim: D.
    """

    def __init__(self, recipe: IndexRecipe, dim: int):
        self.recipe, self.dim = recipe, int(dim)
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._cpu = None   # the FAISS index (CPU); also the copy used for GPU fallbacks
        self._gpu = None
        self._radkit = recipe.backend == "radkit"
        self._topk = None           # FlatTopK over ``vectors`` on ``_topk_device``, built lazily
        self._topk_device = "cpu"   # where FlatTopK searches: "cuda" after to_device on a GPU
        self.last_plan: SearchPlan | None = None
        self._ids_cache = None

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
        self.ids, self.vectors, self._topk = ids, vectors, None
        if self._radkit:  # FlatTopK is built from ``vectors`` on first search
            return self
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
        return self

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Append vectors (n, D) with new row ids (an id already present raises ValueError)."""
        vectors, ids = self._check(vectors, ids)
        dup = np.intersect1d(ids, self.ids)
        if dup.size:
            raise ValueError(f"ids already in the index: {dup[:5].tolist()}; remove them first")
        if self._cpu is None and not self._radkit:
            self.build(vectors, ids)
            return
        if self._cpu is not None:
            self._cpu.add(vectors)
        self._gpu = self._topk = None
        self.ids = np.concatenate([self.ids, ids])
        self.vectors = np.concatenate([self.vectors, vectors])

    def remove(self, ids: np.ndarray) -> int:
        """Remove row ids; returns how many were present. Positions are compacted by
        resetting the index (a trained quantiser is kept) and re-adding the rest."""
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        if removed:
            self.ids, self.vectors = self.ids[keep], np.ascontiguousarray(self.vectors[keep])
            if self._cpu is not None:
                self._cpu.reset()
                if len(self.vectors):
                    self._cpu.add(self.vectors)
            self._gpu = self._topk = None
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
        return self._gpu is not None or self._topk_device == "cuda"

    def to_device(self, device: str | None = None) -> None:
        """Move a copy to the GPU when ``device`` (default: the recipe's) allows it and one is present.

        FAISS recipes need a faiss GPU build; ``backend: radkit`` needs only torch to see a GPU.
        """
        device = device or self.recipe.device
        if device == "cpu":
            return
        if self._radkit:
            if _torch_cuda():
                self._topk_device, self._topk = "cuda", None
            elif device == "cuda":
                raise RuntimeError(f"recipe {self.recipe.name!r} asks for device 'cuda' but torch sees no GPU; "
                                   "set device: auto / cpu in the recipe")
            return
        if self._cpu is None:
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
        if self._gpu is not None and self.recipe.factory == "Flat" and _torch_cuda():
            self._topk_device = "cuda"  # filtered / large-k GPU searches use FlatTopK on the GPU

    def plan(self, k: int, n_selected: int | None) -> SearchPlan:
        """The path a search for ``k`` results with ``n_selected`` filtered rows (None: no filter) takes."""
        return plan_search(len(self), k, n_selected, self.on_gpu, backend=self.recipe.backend,
                           gpu_flat_topk=self._topk_device == "cuda")

    def flat_topk(self):
        """The `radkit.ops.FlatTopK` over ``vectors`` on this index's device (built on first use)."""
        if self._topk is None:
            import torch

            from radkit.ops.flat_search import FlatTopK

            db = torch.from_numpy(self.vectors)  # shares memory on the CPU
            self._topk = FlatTopK(db.to(self._topk_device) if self._topk_device != "cpu" else db, d=self.dim)
        return self._topk

    def search(self, queries: np.ndarray, k: int, positions: np.ndarray | None = None):
        """Top-k by inner product.

        Args:
            queries: (Q, D) L2-normalised.
            k: results per query (fewer when the index or the filter has fewer rows).
            positions: optional sorted positions allowed by a filter.

        Returns:
            scores (Q, k') float32 and row ids (Q, k') int64, best first.
        """
        if not (isinstance(queries, np.ndarray) and queries.dtype == np.float32 and queries.ndim == 2
                and queries.flags.c_contiguous):
            queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
            if queries.ndim == 1:
                queries = queries[None]
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (Q, {self.dim}), got {queries.shape}; "
                             "query with the model that built the index")
        n_sel = None if positions is None else len(positions)
        if n_sel is None and self._gpu is None and self._topk_device == "cpu" and not self._radkit:
            plan = _PLAIN_CPU  # the common case: skip planning (it costs ~5% of a 0.2 ms HNSW search)
        else:
            plan = self.plan(k, n_sel)
            if plan.path == "index-cpu" and (self.last_plan is None or self.last_plan.path != "index-cpu"):
                log.warning("GPU index fallback: %s", plan.reason)  # say so, once per change of path
        self.last_plan = plan
        kk = min(int(k), len(self.ids) if positions is None else n_sel)
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
        if plan.path == "flat-topk":
            scores, pos = self.flat_topk().search(queries, kk, allowed_ids=positions)
        else:
            scores, pos = self._faiss_search(plan, queries, kk, positions)
        return scores, self._ids_padded()[pos]  # padding position -1 -> the trailing -1

    def _ids_padded(self) -> np.ndarray:
        """``ids`` with -1 appended, so position -1 (FAISS padding) maps to row id -1 in one gather."""
        cache = self._ids_cache
        if cache is None or cache[0] is not self.ids:
            cache = self._ids_cache = (self.ids, np.append(self.ids, np.int64(-1)))
        return cache[1]

    def _faiss_search(self, plan: SearchPlan, queries: np.ndarray, kk: int, positions: np.ndarray | None):
        """(scores, positions) from the FAISS index, with the optional exact re-scoring (``refine``)."""
        index = self._gpu if plan.path == "index" and self._gpu is not None else self._cpu
        n = len(self) if positions is None else len(positions)
        kq = min(kk * max(int(self.recipe.refine), 1), n)
        if plan.path == "selector":
            params = self._params_with(_faiss().IDSelectorBatch(positions.astype(np.int64)))
            scores, pos = index.search(queries, kq, params=params)
        else:
            scores, pos = index.search(queries, kq)
        if kq > kk:  # exact re-scoring of the candidates with the stored vectors
            exact = np.einsum("qd,qkd->qk", queries, self.vectors[np.clip(pos, 0, None)])
            exact[pos < 0] = -np.inf
            top = np.argsort(-exact, axis=1, kind="stable")[:, :kk]
            pos, scores = np.take_along_axis(pos, top, 1), np.take_along_axis(exact, top, 1).astype(np.float32)
        return scores, pos

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
        """Write ``<name>.faiss`` (FAISS backends only), ``<name>.ids.npy``, ``<name>.vectors.npy``
        into ``folder`` (the caller makes the folder swap atomic)."""
        folder.mkdir(parents=True, exist_ok=True)
        if not self._radkit:
            _faiss().write_index(self._cpu, str(folder / f"{name}.faiss"))
        np.save(folder / f"{name}.ids.npy", self.ids)
        np.save(folder / f"{name}.vectors.npy", self.vectors)

    @classmethod
    def load(cls, folder: Path, name: str, recipe: IndexRecipe, dim: int) -> "VectorIndex":
        """Read a space written by `save`.

        Raises:
            FileNotFoundError / ValueError: a missing or corrupt file, named.
        """
        self = cls(recipe, dim)
        main = folder / (f"{name}.vectors.npy" if self._radkit else f"{name}.faiss")
        if not main.is_file():
            raise FileNotFoundError(f"index file {main} is missing; rebuild with `radkit index build`")
        try:
            if not self._radkit:
                self._cpu = _faiss().read_index(str(main))
            self.ids = np.load(folder / f"{name}.ids.npy", allow_pickle=False)
            self.vectors = np.load(folder / f"{name}.vectors.npy", allow_pickle=False)
        except (RuntimeError, ValueError, OSError, EOFError) as e:
            raise ValueError(f"index space {name!r} in {folder} is corrupt ({e}); "
                             "rebuild it with `radkit index build`") from None
        fd, fn = (dim, len(self.vectors)) if self._radkit else (self._cpu.d, self._cpu.ntotal)
        if (fd != dim or self.vectors.dtype != np.float32 or self.vectors.shape != (fn, dim)
                or self.ids.shape != (fn,)):
            raise ValueError(f"index space {name!r} in {folder} is inconsistent (index d={fd}, n={fn}; vectors "
                             f"{self.vectors.shape} {self.vectors.dtype}; ids {self.ids.shape}; metadata dim {dim}); "
                             "rebuild it with `radkit index build`")
        if self._cpu is not None:
            self._apply_params(self._cpu)
        return self
