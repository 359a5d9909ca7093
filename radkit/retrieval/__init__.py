"""Similar-case search: embeddings, FAISS index recipes, the `Retriever` API.

Public names load lazily so `import radkit.retrieval` (and the CLI) stays fast.
"""

from __future__ import annotations

from radkit._lazy import lazy_getattr

_EXPORTS = {
    "Retriever": "radkit.retrieval.api",
    "Hit": "radkit.retrieval.api",
    "build_index": "radkit.retrieval.build",
    "add_to_index": "radkit.retrieval.build",
    "remove_from_index": "radkit.retrieval.build",
    "IndexRecipe": "radkit.retrieval.recipe",
    "embed_studies": "radkit.retrieval.embed",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
