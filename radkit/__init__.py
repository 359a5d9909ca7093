"""radkit: similar-case search (RadIR) and diagnostic reasoning (ChestX-Reasoner) for chest X-ray and CT.

The top-level names are imported lazily so that `import radkit` and `radkit --help`
stay fast (torch, Lightning and transformers load only when used).
"""

from __future__ import annotations

from radkit._lazy import lazy_getattr
from radkit._version import __version__

# public name -> module that defines it
_LAZY = {
    "list_models": "radkit.models",
    "create_model": "radkit.models",
    "load_model": "radkit.models",
    "get_model_config": "radkit.models",
    "train": "radkit.training",
    "read_image": "radkit.io",
    "Image": "radkit.io",
    "Study": "radkit.data.study",
    "read_manifest": "radkit.data.manifest",
    "write_manifest": "radkit.data.manifest",
    "synthesize": "radkit.data.synth",
    "structure_report": "radkit.reports.structure",
    "Retriever": "radkit.retrieval",
    "Hit": "radkit.retrieval",
}

__all__ = ["__version__", *_LAZY]


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__():
    return sorted(__all__)
