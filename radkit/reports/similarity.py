"""Report-to-report similarity in [0, 1], symmetric, global or per anatomy.

Backends:
- ``lexicon`` (default, offline): weighted Dice overlap of structured items over
  several channels, minus a contradiction penalty, under the closed-world rule of
  radiology reports: a finding not mentioned is normal, i.e. absent. So a stated
  negation ("no effusion") is the same as silence and never an unmatched feature:
  the Dice channels hold only the *positive* (present or uncertain) items, and two
  reports with no positive finding agree on normality (Dice of two empty sets is 1),
  whatever negations each happens to list. Channels (weight): ``exact`` (anatomy,
  finding, status, severity) 0.15; ``item`` (anatomy, finding, status) 0.35;
  ``region`` the item repeated at every ancestor anatomy, which gives partial credit
  for "right lower lobe" vs "right lung" 0.20; ``positive`` (anatomy, finding), which
  gives partial credit for present vs uncertain 0.15; ``anatomy`` the anatomies (with
  ancestors) that hold a positive finding, partial credit for a different finding in
  the same organ 0.15. Negations act only through the penalty
  ``0.5 * #(present in one, stated absent in the other) / (#positive_a + #positive_b)``
  (<= 0.5), which keeps an explicit present-vs-absent contradiction the strongest
  disagreement (below present vs merely unmentioned).
  All pair scores come from float32 incidence-matrix products over the unique
  feature sets, in tiles and row blocks on a thread pool (`radkit.reports.lexicon_features`).
- ``embedding`` (offline): RaTEScore-like soft entity matching with the MiniLM
  package encoder (`radkit.reports.embedding`).
- ``ratescore``: the upstream ``ratescore`` package, if installed.

A per-anatomy score compares the sub-reports (`StructuredReport.sub_report`).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from radkit.reports.anatomy import ancestors
from radkit.reports.lexicon_features import LexiconFeatures
from radkit.reports.structure import StructuredReport, structure_report

BACKENDS = ("lexicon", "embedding", "ratescore")
WEIGHTS = {"exact": 0.15, "item": 0.35, "region": 0.20, "positive": 0.15, "anatomy": 0.15}
CONTRADICTION = 0.5
_RANK = {"present": 0, "uncertain": 1, "absent": 2}


def structure_all(texts: Iterable[str], modality: str, progress: bool = False) -> list[StructuredReport]:
    """Structure many reports (once each), with an optional progress bar."""
    texts = list(texts)
    if progress:
        from tqdm.auto import tqdm

        texts = tqdm(texts, desc="structure reports", unit="report")
    return [structure_report(t, modality) for t in texts]


def resolved_items(rep: StructuredReport) -> dict[tuple[str, str], tuple[str, str]]:
    """One (status, severity) per (anatomy, finding) of a report: present > uncertain > absent."""
    best: dict[tuple[str, str], tuple[str, str]] = {}
    for it in rep.items:
        key = (it.anatomy, it.finding)
        if key not in best or _RANK[it.status] < _RANK[best[key][0]]:
            best[key] = (it.status, it.severity)
    return best


def lexicon_keys(rep: StructuredReport) -> dict[str, set]:
    """The feature sets of one structured report, per channel (plus "present"/"absent" pairs).

    Closed world: absent items enter only the "absent" set (for the contradiction
    penalty), never a Dice channel, so "no X" scores like not mentioning X.
    """
    ch: dict[str, set] = {k: set() for k in (*WEIGHTS, "present", "absent")}
    for (anat, find), (status, sev) in resolved_items(rep).items():
        if status in ("present", "absent"):
            ch[status].add((anat, find))
        if status == "absent":
            continue
        ch["exact"].add((anat, find, status, sev))
        ch["item"].add((anat, find, status))
        ups = (anat, *ancestors(anat, rep.modality))
        for a in ups:
            ch["region"].add((a, find, status))
        ch["positive"].add((anat, find))
        ch["anatomy"].update(ups)
    return ch


def similarity_matrix(reports: Sequence[str | StructuredReport], modality: str, backend: str = "lexicon",
                      anatomy: str | None = None, out: np.ndarray | None = None, block: int = 256,
                      progress: bool = False, workers: int | None = None) -> np.ndarray:
    """Pairwise report similarity.

    Args:
        reports: N report texts or already structured reports (structure once, reuse).
        modality: "cxr" or "ct".
        backend: "lexicon", "embedding" or "ratescore".
        anatomy: compare the sub-reports about this anatomy instead of whole reports.
        out: optional preallocated (N, N) array to fill, written row block by row block
            (e.g. a memory-mapped .npy); float32, or uint8 for percent quantisation
            ``round(100 * S)`` (lexicon backend only).
        block: rows per block (each worker holds about 2 x block x N x 4 bytes).
        progress: show a progress bar.
        workers: lexicon threads (default: CPU count, at most 8).

    Returns:
        (N, N) float32 in [0, 1], symmetric; identical reports score 1.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown similarity backend {backend!r}; valid: {', '.join(BACKENDS)}")
    reps = [r if isinstance(r, StructuredReport) else structure_report(r, modality) for r in reports]
    if anatomy is not None:
        reps = [r.sub_report(anatomy) for r in reps]
    n = len(reps)
    out = np.empty((n, n), dtype=np.float32) if out is None else out
    if out.shape != (n, n):
        raise ValueError(f"out has shape {out.shape}, expected ({n}, {n}) for {n} reports")
    if out.dtype != np.float32 and not (out.dtype == np.uint8 and backend == "lexicon"):
        raise ValueError(f"out has dtype {out.dtype}; use float32 (or uint8 percent with the lexicon backend)")
    if backend == "lexicon":
        feats = LexiconFeatures(reps)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"similarity {anatomy or 'global'}", unit="row")
        feats.fill(out, block=block, workers=workers, on_block=None if bar is None else bar.update)
        if bar is not None:
            bar.close()
        return out
    if backend == "embedding":
        from radkit.reports.embedding import embedding_similarity

        out[:] = embedding_similarity(reps)
        return out
    from radkit.reports.embedding import ratescore_similarity

    out[:] = ratescore_similarity([r.text for r in reps])
    return out


def report_similarity(a: str | StructuredReport, b: str | StructuredReport, modality: str,
                      backend: str = "lexicon", anatomy: str | None = None) -> float:
    """Similarity of two reports (whole, or their sub-reports about ``anatomy``) in [0, 1]."""
    return float(similarity_matrix([a, b], modality, backend, anatomy)[0, 1])
