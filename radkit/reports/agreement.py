"""Agreement of report-derived similarity with ground truth (synthetic cohorts).

The reference similarity of two studies is the same lexicon score computed on reports
rebuilt directly from the generator's ground-truth findings (one sentence per finding),
so any disagreement comes from the structurer, not from the scoring rule. The scoring
rule applies the closed-world convention (unmentioned = absent) to both sides alike, so
the generator's explicit negations and a report's silence are scored the same.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from radkit.reports.anatomy import ancestors, list_anatomies
from radkit.reports.matching import Sentence
from radkit.reports.structure import Item, StructuredReport


def truth_report(findings: Sequence, modality: str) -> StructuredReport:
    """A StructuredReport from ground-truth findings (objects with finding, anatomy, status,
    severity, change), one sentence per finding attached to its anatomy and ancestors."""
    sents, items = [], []
    for i, f in enumerate(findings):
        sents.append(Sentence("", (0, 0), frozenset((f.anatomy, *ancestors(f.anatomy, modality)))))
        items.append(Item(f.anatomy, f.finding, f.status, f.severity, f.change, sentence=i))
    return StructuredReport("", modality, sents, items)


def truth_reports(findings_per_study: Sequence[Sequence], modality: str) -> list[StructuredReport]:
    """`truth_report` for each study."""
    return [truth_report(fs, modality) for fs in findings_per_study]


def per_anatomy_spearman(reports: Sequence[StructuredReport], truth: Sequence[StructuredReport], modality: str,
                         min_studies: int = 10) -> dict[str, float]:
    """Spearman correlation, per anatomy, of the per-anatomy lexicon similarity of the
    structured reports vs the one of the ground-truth reports.

    The studies of an anatomy are those whose structured or ground-truth report mentions
    it (the rows of its RadIR anatomy table, plus studies the structurer missed). Pairs
    are the upper triangle.

    Args:
        reports: N structured reports.
        truth: the N ground-truth reports (`truth_reports`).
        modality: "cxr" or "ct".
        min_studies: anatomies with fewer studies, or with a constant reference, are left out.

    Returns:
        {anatomy: rho}.
    """
    from scipy.stats import spearmanr

    from radkit.reports.similarity import similarity_matrix

    if len(reports) != len(truth):
        raise ValueError(f"{len(reports)} reports but {len(truth)} ground-truth reports; pass one per study")
    out = {}
    for a in list_anatomies(modality):
        rows = [i for i, (r, t) in enumerate(zip(reports, truth)) if a in r.anatomies() or a in t.anatomies()]
        if len(rows) < min_studies:
            continue
        iu = np.triu_indices(len(rows), k=1)
        ref = similarity_matrix([truth[i] for i in rows], modality, anatomy=a)[iu]
        if np.ptp(ref) == 0:
            continue
        lex = similarity_matrix([reports[i] for i in rows], modality, anatomy=a)[iu]
        out[a] = float(spearmanr(lex, ref).statistic)
    return out
