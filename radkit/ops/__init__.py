"""Fused kernels with pure-torch references: ``ct_preprocess`` and ``similarity_topk``.

``FlatTopK`` wraps ``similarity_topk`` as a faiss ``IndexFlatIP``-compatible exact index.
``radkit.ops.reference`` holds the specs; ``radkit ops info`` shows which compiled backend
each op would use and why the others were rejected; ``RADKIT_OPS=reference`` forces the reference.
"""

from radkit.ops.api import ct_preprocess, list_backends, similarity_topk
from radkit.ops.flat_search import FlatTopK

__all__ = ["ct_preprocess", "similarity_topk", "list_backends", "FlatTopK"]
