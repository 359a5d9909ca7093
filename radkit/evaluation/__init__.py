"""RadIR retrieval metrics, evaluation protocols and reports.

Public names load lazily so `import radkit.evaluation` stays fast.
"""

from __future__ import annotations

from radkit._lazy import lazy_getattr

_EXPORTS = {
    "retrieval_metrics": "radkit.evaluation.metrics",
    "identity_metrics": "radkit.evaluation.metrics",
    "average_over_anatomies": "radkit.evaluation.metrics",
    "evaluate": "radkit.evaluation.protocol",
    "write_report": "radkit.evaluation.report",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
