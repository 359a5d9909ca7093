"""The RadRBench-CXR label space (SPEC_REASONER §2.2) and its mapping from radkit findings.

radkit's ontology (`radkit.reports.anatomy.FINDINGS`) is finer in some places and
coarser in others than the CheXpert labels the benchmark uses, so the mapping is
written out here once and every task builder, miner and judge goes through it.

Observations come from either the synthesiser's ground truth (`Study.findings`) or
the report structurer's items; `observations_from_study` / `observations_from_items`
are the two adapters, so switching the VQA source is one argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

# CheXpert's 14 labels minus "Pleural Other" and "No Finding" (§2.2), in the release's order.
LABELS: tuple[str, ...] = (
    "atelectasis", "cardiomegaly", "consolidation", "edema", "enlarged cardiomediastinum", "fracture",
    "lung lesion", "lung opacity", "pleural effusion", "support devices", "pneumonia", "pneumothorax",
)
NO_FINDING = "no finding"
SINGLE_LABELS: tuple[str, ...] = LABELS + (NO_FINDING,)
# MS-CXR-T findings used by the temporal task (§2.3).
TEMPORAL_LABELS: tuple[str, ...] = ("consolidation", "edema", "pleural effusion", "pneumonia", "pneumothorax")
PROGRESSIONS: tuple[str, ...] = ("stable", "worsening", "improving")

# radkit finding -> benchmark labels it makes positive. Two follow CheXpert's label
# hierarchy (consolidation is a lung opacity; cardiomegaly enlarges the cardiomediastinal
# silhouette). Emphysema and lymphadenopathy have no CheXpert label: they map to nothing
# but still make the study abnormal, so such a study is never "no finding".
# "pneumonia" has no radkit finding: it is reached only through structurer items
# (or curated labels) whose finding text is "pneumonia".
LABEL_MAP: dict[str, tuple[str, ...]] = {
    "nodule": ("lung lesion",),
    "consolidation": ("consolidation", "lung opacity"),
    "effusion": ("pleural effusion",),
    "pneumothorax": ("pneumothorax",),
    "atelectasis": ("atelectasis",),
    "cardiomegaly": ("cardiomegaly", "enlarged cardiomediastinum"),
    "edema": ("edema",),
    "emphysema": (),
    "fracture": ("fracture",),
    "lymphadenopathy": (),
    "support device": ("support devices",),
    "pneumonia": ("pneumonia",),
}
# Findings that do not make a study abnormal for "no finding" (CheXpert convention).
NOT_PATHOLOGY = frozenset({"support device"})
# radkit change word -> temporal progression answer; a new finding is a worsening.
CHANGE_MAP: dict[str, str] = {"stable": "stable", "worse": "worsening", "new": "worsening", "better": "improving"}
STATUSES = ("present", "absent", "uncertain")


@dataclass(frozen=True)
class Observation:
    """One finding statement about a study (ground truth or structured report item).

    Attributes:
        finding: canonical radkit finding name (a key of `LABEL_MAP`).
        status: "present", "absent" or "uncertain".
        anatomy: canonical anatomy name, "" when unknown.
        severity: severity/size word, "" when not applicable.
        change: "new", "stable", "worse", "better" or "".
    """

    finding: str
    status: str = "present"
    anatomy: str = ""
    severity: str = ""
    change: str = ""


def observations_from_study(study: Any) -> list[Observation]:
    """Observations from a `Study`'s ground-truth findings (the synthesiser's record)."""
    return [Observation(f.finding, f.status, f.anatomy, f.severity, f.change) for f in study.findings]


def observations_from_items(items: Iterable[Any]) -> list[Observation]:
    """Observations from report-structurer items (objects or dicts with finding/anatomy/status).

    Items whose finding is not in `LABEL_MAP` are skipped (they cannot reach a label).
    Severity and change are read from the item itself (`radkit.reports.structure.Item`)
    or from an ``attributes`` dict.
    """
    out = []
    for it in items:
        get = it.get if isinstance(it, dict) else (lambda k, d=None, _it=it: getattr(_it, k, d))
        name = str(get("finding", "") or "").lower()
        if name not in LABEL_MAP:
            continue
        attrs = get("attributes", None) or {}
        if not isinstance(attrs, dict):
            attrs = {}
        sev = get("severity", None) or attrs.get("severity", "")
        change = get("change", None) or attrs.get("change", "")
        out.append(Observation(name, str(get("status", "present") or "present"), str(get("anatomy", "") or ""),
                               str(sev or ""), str(change or "")))
    return out


def observations_from_report(study: Any) -> list[Observation]:
    """Observations read from a study's free-text report with the rule-based structurer.

    For real data (no ground truth): `radkit.reports.structure.structure_report` on
    ``study.report`` with the study's modality.
    """
    from radkit.reports.structure import structure_report

    return observations_from_items(structure_report(study.report or "", study.modality).items)


OBSERVERS = {"truth": observations_from_study, "report": observations_from_report}


def make_observer(observe: str | Callable[[Any], list[Observation]]) -> Callable[[Any], list[Observation]]:
    """``"truth"`` (the study's ground-truth findings), ``"report"`` (structured report text) or a callable.

    Raises:
        ValueError: unknown name.
    """
    if callable(observe):
        return observe
    if observe not in OBSERVERS:
        raise ValueError(f"unknown observation source {observe!r}; valid: {', '.join(OBSERVERS)} "
                         "(use 'report' for real studies without ground-truth findings)")
    return OBSERVERS[observe]


def label_values(observations: Iterable[Observation]) -> dict[str, int]:
    """CheXpert-style label values: 1 positive, -1 uncertain, 0 negative; unmentioned labels absent.

    A positive mention wins over uncertain, which wins over negative, when several
    observations reach the same label. "no finding" is 1 when no pathology is present
    or uncertain, else 0.

    Raises:
        ValueError: an observation has an unknown status.
    """
    rank = {"present": 1, "uncertain": -1, "absent": 0}
    order = {1: 2, -1: 1, 0: 0}
    out: dict[str, int] = {}
    abnormal = False
    for o in observations:
        if o.status not in rank:
            raise ValueError(f"observation {o.finding!r}: unknown status {o.status!r}; valid: {', '.join(STATUSES)}")
        v = rank[o.status]
        if v != 0 and o.finding not in NOT_PATHOLOGY:
            abnormal = True
        for lab in LABEL_MAP.get(o.finding, ()):
            if lab not in out or order[v] > order[out[lab]]:
                out[lab] = v
    out[NO_FINDING] = 0 if abnormal else 1
    return out


def positive_labels(observations: Iterable[Observation]) -> list[str]:
    """The positive labels of `LABELS` (no "no finding"), in `LABELS` order."""
    vals = label_values(observations)
    return [lab for lab in LABELS if vals.get(lab) == 1]


def label_to_findings(label: str) -> tuple[str, ...]:
    """radkit findings that make ``label`` positive (inverse of `LABEL_MAP`)."""
    if label not in SINGLE_LABELS:
        raise KeyError(f"unknown label {label!r}; valid: {', '.join(SINGLE_LABELS)}")
    return tuple(f for f, labs in LABEL_MAP.items() if label in labs)
