"""Summaries of a manifest (`radkit data info`)."""

from __future__ import annotations

import os
from collections import Counter

from radkit.data.manifest import read_manifest


def manifest_info(path: str | os.PathLike) -> dict:
    """Counts of a manifest.

    Returns:
        dict with n_studies, n_patients, per modality/split counts, finding prevalence
        (present findings), n_prior_pairs and n_normal (no present finding).
    """
    studies = read_manifest(path)
    present = Counter()
    normal = 0
    for s in studies:
        names = {f.finding for f in s.findings if f.status == "present"}
        present.update(names)
        normal += not names
    return {
        "path": str(path),
        "n_studies": len(studies),
        "n_patients": len({s.patient_id for s in studies}),
        "by_modality_split": dict(sorted(Counter(f"{s.modality}/{s.split}" for s in studies).items())),
        "n_prior_pairs": sum(s.prior_study_id is not None for s in studies),
        "n_normal": normal if any(s.findings for s in studies) else None,
        "findings_present": dict(present.most_common()),
    }


def format_info(info: dict) -> str:
    """Plain-text rendering of `manifest_info`."""
    lines = [f"{info['path']}: {info['n_studies']} studies, {info['n_patients']} patients, "
             f"{info['n_prior_pairs']} with a prior study"]
    lines.append("  " + ", ".join(f"{k}: {v}" for k, v in info["by_modality_split"].items()))
    if info["findings_present"]:
        lines.append("  findings: " + ", ".join(f"{k} {v}" for k, v in info["findings_present"].items()))
    if info["n_normal"] is not None:
        lines.append(f"  normal studies: {info['n_normal']}")
    return "\n".join(lines)
