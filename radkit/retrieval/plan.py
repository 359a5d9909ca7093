"""`plan_search`: which path one search takes through a `VectorIndex`, and why.

Paths:

* ``index``: the FAISS index (on its device);
* ``index-cpu``: the CPU copy of a GPU index (k above the GPU limit, or a large filter that
  a classic FAISS GPU index cannot apply);
* ``exact-subset``: a small filter; exact inner products over the selected vectors (numpy);
* ``selector``: the filter applied inside FAISS with an ``IDSelector``;
* ``flat-topk``: exact search with radkit's fused ``similarity_topk`` (`radkit.ops.FlatTopK`),
  the filter passed as allowed ids inside the kernel (no post-filter). Always used by the
  ``backend: radkit`` recipes; preferred for filtered (and 2048 < k <= 4096) search on a GPU
  flat index, where classic FAISS GPU has no IDSelector and a 2048 top-k limit
  (USER_NEEDS.md §2 item 11).
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_MAX_K = 2048          # classic FAISS GPU top-k limit
TOPK_CUDA_MAX_K = 4096    # radkit similarity_topk CUDA limit (radkit.ops.api.MAX_K_CUDA)
EXACT_SUBSET_MAX = 50_000  # a filtered search over at most this many rows is done exactly


@dataclass
class SearchPlan:
    """Which path a search takes and why (see the module docstring for the paths)."""

    path: str
    reason: str


def plan_search(n_total: int, k: int, n_selected: int | None, on_gpu: bool,
                gpu_supports_selector: bool = False, backend: str = "faiss",
                gpu_flat_topk: bool = False) -> SearchPlan:
    """Choose the search path.

    Args:
        n_total: vectors in the index.
        k: results wanted.
        n_selected: rows passing the ``where`` filter, or None for no filter.
        on_gpu: the index lives on a GPU.
        gpu_supports_selector: the GPU build applies IDSelectors (cuVS); classic builds do not.
        backend: the recipe's backend, "faiss" or "radkit" (FlatTopK for every search).
        gpu_flat_topk: a FAISS index on the GPU that radkit's FlatTopK can answer exactly
            (a flat index and a CUDA device visible to torch).
    """
    where = "" if n_selected is None else (f"; filter keeps {n_selected} rows, passed as allowed ids "
                                           "inside the kernel (no post-filter)")
    if backend == "radkit":
        dev = "GPU" if on_gpu else "CPU"
        note = (f"; k={k} > {TOPK_CUDA_MAX_K}: the CUDA kernel's limit, the reference top-k runs instead"
                if on_gpu and k > TOPK_CUDA_MAX_K else "")
        return SearchPlan("flat-topk", f"exact search with radkit similarity_topk on the {dev}{where}{note}")
    if on_gpu and gpu_flat_topk and not gpu_supports_selector and n_selected is not None:
        return SearchPlan("flat-topk", "classic FAISS GPU indexes ignore IDSelector (faiss#3924): filtered "
                                       f"search runs on the GPU with radkit similarity_topk{where}")
    if n_selected is not None:
        if n_selected <= EXACT_SUBSET_MAX:
            return SearchPlan("exact-subset", f"filter keeps {n_selected} <= {EXACT_SUBSET_MAX} rows: "
                                              "exact inner product over the selected vectors")
        if on_gpu and not gpu_supports_selector:
            return SearchPlan("index-cpu", "classic FAISS GPU indexes ignore IDSelector (faiss#3924): "
                                           "filtered search runs on the CPU copy of the index")
        return SearchPlan("selector", "filter applied inside FAISS with an IDSelector")
    if on_gpu and k > GPU_MAX_K:
        if gpu_flat_topk and k <= TOPK_CUDA_MAX_K:
            return SearchPlan("flat-topk", f"k={k} > {GPU_MAX_K}, the FAISS GPU top-k limit: exact search on "
                                           f"the GPU with radkit similarity_topk (k <= {TOPK_CUDA_MAX_K})")
        return SearchPlan("index-cpu", f"k={k} > {GPU_MAX_K}, the FAISS GPU top-k limit: "
                                       "searching the CPU copy of the index")
    return SearchPlan("index", "plain FAISS search" + (" on GPU" if on_gpu else ""))
