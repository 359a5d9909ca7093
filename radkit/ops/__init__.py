"""Fused kernels with pure-torch references: ``ct_preprocess`` and ``similarity_topk``.

``radkit.ops.reference`` holds the specs; ``radkit ops info`` shows which compiled backend
each op would use and why the others were rejected; ``RADKIT_OPS=reference`` forces the reference.
"""

from radkit.ops.api import ct_preprocess, list_backends, similarity_topk

__all__ = ["ct_preprocess", "similarity_topk", "list_backends"]
