"""Similar-case search: embeddings, FAISS index recipes, the `Retriever` API.

Public names load lazily so `import radkit.retrieval` (and the CLI) stays fast.
"""

from __future__ import annotations

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


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'radkit.retrieval' has no attribute {name!r}")
