"""Report-to-report similarity in [0, 1], symmetric, global or per anatomy.

Backends:
- ``lexicon`` (default, offline): weighted Dice overlap of structured items over
  several channels, minus a contradiction penalty. Channels (weight):
  ``exact`` (anatomy, finding, status, severity) 0.15; ``item`` (anatomy, finding,
  status) 0.35; ``region`` the item repeated at every ancestor anatomy, which gives
  partial credit for "right lower lobe" vs "right lung" 0.20; ``positive``
  (anatomy, finding) stated present *or* uncertain, which gives partial credit for
  present vs uncertain 0.15; ``anatomy`` the anatomies the report talks about
  (so two normal reports about the same organs are similar) 0.15. The penalty
  ``0.5 * 2 * #(present in one, absent in the other) / (#pairs_a + #pairs_b)`` makes
  present vs absent the strongest contradiction. Dice of two empty sets is 1.
  All pair scores come from sparse incidence-matrix products, in row blocks.
- ``embedding`` (offline): RaTEScore-like soft entity matching with the MiniLM
  package encoder (`radkit.reports.embedding`).
- ``ratescore``: the upstream ``ratescore`` package, if installed.

A per-anatomy score compares the sub-reports (`StructuredReport.sub_report`).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from scipy import sparse

from radkit.reports.anatomy import ancestors
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
    """The feature sets of one structured report, per channel (plus "present"/"absent" pairs)."""
    ch: dict[str, set] = {k: set() for k in (*WEIGHTS, "present", "absent")}
    for (anat, find), (status, sev) in resolved_items(rep).items():
        ch["exact"].add((anat, find, status, sev))
        ch["item"].add((anat, find, status))
        for a in (anat, *ancestors(anat, rep.modality)):
            ch["region"].add((a, find, status))
        if status != "absent":
            ch["positive"].add((anat, find))
        if status in ("present", "absent"):
            ch[status].add((anat, find))
    ch["anatomy"] = set(rep.anatomies())
    return ch


def _incidence(key_sets: Sequence[set], vocab: dict | None = None) -> sparse.csr_matrix:
    vocab = {} if vocab is None else vocab
    rows, cols = [], []
    for i, keys in enumerate(key_sets):
        for k in keys:
            rows.append(i)
            cols.append(vocab.setdefault(k, len(vocab)))
    data = np.ones(len(rows), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(key_sets), max(len(vocab), 1)))


class LexiconFeatures:
    """Sparse incidence matrices of N structured reports, one per channel.

    Attributes:
        mats: channel -> (N, K_channel) binary CSR matrix.
        counts: channel -> (N,) number of keys per report.
    """

    def __init__(self, reports: Sequence[StructuredReport]) -> None:
        keys = [lexicon_keys(r) for r in reports]
        self.n = len(reports)
        self.mats = {}
        shared: dict = {}  # present/absent share one vocabulary so their product counts conflicts
        for ch in (*WEIGHTS, "present", "absent"):
            vocab = shared if ch in ("present", "absent") else None
            self.mats[ch] = _incidence([k[ch] for k in keys], vocab)
        width = max(self.mats["present"].shape[1], self.mats["absent"].shape[1])
        for ch in ("present", "absent"):
            self.mats[ch].resize((self.n, width))
        self.counts = {ch: np.asarray(m.sum(axis=1)).ravel() for ch, m in self.mats.items()}
        self.pairs = self.counts["present"] + self.counts["absent"]

    def block(self, start: int, stop: int) -> np.ndarray:
        """Similarity of rows ``start:stop`` against all N reports: (stop - start, N) float32."""
        total = 0.0
        acc = np.zeros((stop - start, self.n), dtype=np.float64)
        for ch, w in WEIGHTS.items():
            m = self.mats[ch]
            inter = (m[start:stop] @ m.T).toarray()
            denom = self.counts[ch][start:stop, None] + self.counts[ch][None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                dice = np.where(denom > 0, 2.0 * inter / denom, 1.0)
            acc += w * dice
            total += w
        p, a = self.mats["present"], self.mats["absent"]
        conflicts = (p[start:stop] @ a.T + a[start:stop] @ p.T).toarray()
        denom = self.pairs[start:stop, None] + self.pairs[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            penalty = np.where(denom > 0, 2.0 * conflicts / denom, 0.0)
        return np.clip(acc / total - CONTRADICTION * penalty, 0.0, 1.0).astype(np.float32)


def similarity_matrix(reports: Sequence[str | StructuredReport], modality: str, backend: str = "lexicon",
                      anatomy: str | None = None, out: np.ndarray | None = None, block: int = 1024,
                      progress: bool = False) -> np.ndarray:
    """Pairwise report similarity.

    Args:
        reports: N report texts or already structured reports (structure once, reuse).
        modality: "cxr" or "ct".
        backend: "lexicon", "embedding" or "ratescore".
        anatomy: compare the sub-reports about this anatomy instead of whole reports.
        out: optional preallocated (N, N) array (e.g. a memory-mapped .npy) to fill.
        block: rows per block (bounds memory to about block x N x 8 bytes).
        progress: show a progress bar.

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
    if backend == "lexicon":
        feats = LexiconFeatures(reps)
        starts = range(0, n, block)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"similarity {anatomy or 'global'}", unit="block")
        for s in starts:
            out[s:s + block] = feats.block(s, min(s + block, n))
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
