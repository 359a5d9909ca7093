"""The `Study` record: one imaging study with its report, as listed in a manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

MODALITIES = ("cxr", "ct")
SPLITS = ("train", "val", "test")


@dataclass
class GroundTruthFinding:
    """A finding the synthesiser placed in a study (or a curated label).

    Attributes:
        finding: canonical finding name (`radkit.reports.anatomy.FINDINGS`).
        anatomy: canonical anatomy name of the study's modality.
        status: "present", "absent" or "uncertain".
        severity: severity/size word, "" when not applicable.
        change: "new", "stable", "worse", "better" or "" (temporal pairs).
    """

    finding: str
    anatomy: str
    status: str = "present"
    severity: str = ""
    change: str = ""


@dataclass
class Study:
    """One study of a manifest.

    Attributes:
        study_id: unique id within the manifest.
        patient_id: patient id (splits and leakage checks are per patient).
        modality: "cxr" or "ct".
        image_paths: one path (file, or DICOM series folder) per image; relative paths
            are resolved against the manifest's folder.
        report: free-text report.
        split: "train", "val" or "test".
        view: e.g. "PA", "AP" (CXR), optional.
        study_date: ISO date string, optional.
        prior_study_id: the previous study of the same patient, optional (temporal tasks).
        findings: ground-truth findings, optional.
    """

    study_id: str
    patient_id: str
    modality: str
    image_paths: list[str]
    report: str
    split: str = "train"
    view: str | None = None
    study_date: str | None = None
    prior_study_id: str | None = None
    findings: list[GroundTruthFinding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (findings as a list of dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Study":
        """Build a Study from a manifest row; unknown keys raise a KeyError naming them."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise KeyError(f"unknown manifest column(s) {sorted(extra)}; valid: {sorted(known)}")
        d = dict(d)
        paths = d.get("image_paths", [])
        if isinstance(paths, str):
            paths = [p for p in paths.split("|") if p]
        d["image_paths"] = [str(p) for p in (list(paths) if paths is not None else [])]
        raw = d.get("findings") or []
        d["findings"] = [f if isinstance(f, GroundTruthFinding) else GroundTruthFinding(**f) for f in raw]
        for key in ("view", "study_date", "prior_study_id"):
            if d.get(key) in ("", None) or (isinstance(d.get(key), float) and d[key] != d[key]):
                d[key] = None
        d["study_id"] = str(d["study_id"])
        d["patient_id"] = str(d.get("patient_id", d["study_id"]))
        d["report"] = "" if d.get("report") is None else str(d["report"])
        return cls(**d)
