"""RadIR retrieval metrics, evaluation protocols and reports.

Public names load lazily so `import radkit.evaluation` stays fast.
"""

from __future__ import annotations

_EXPORTS = {
    "retrieval_metrics": "radkit.evaluation.metrics",
    "identity_metrics": "radkit.evaluation.metrics",
    "average_over_anatomies": "radkit.evaluation.metrics",
    "evaluate": "radkit.evaluation.protocol",
    "write_report": "radkit.evaluation.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'radkit.evaluation' has no attribute {name!r}")
