"""RadIR retrieval metrics (SPEC_RADIR.md §5.2), vectorised over a score matrix.

Names map to trec_eval measures explicitly (USER_NEEDS.md §2a):

=================  ====================  ==========================================
radkit key         trec_eval measure     meaning
=================  ====================  ==========================================
``recall@K``       ``success.K``         hit rate: >= 1 relevant item in the top K
``precision@K``    ``P.K``               relevant items in the top K, divided by K
``ndcg@K``         ``ndcg_cut.K``        graded gains = S, discount log2(rank + 1)
``map``            ``map``               average precision over the full ranking
``ratescore@K``    (none)                mean S of the top K retrieved
``upper_ratescore@K``                    mean S of the K best candidates (bound)
=================  ====================  ==========================================

Relevant means ``S > threshold`` (0.9 by default, strict, as RadIR). Ties in the
predicted scores are broken exactly as trec_eval does: score descending, then
candidate index descending (trec_eval compares docno strings descending; radkit's
docno is the zero-padded column index, so the orders agree).

Averaging: recall, precision and MAP average over *valid* queries (those with at
least one relevant candidate), as RadIR's hit rate does; NDCG and RateScore average
over all queries, with NDCG = 0 when the ideal DCG is 0 (SPEC §5.2).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

DEFAULT_KS_UNCONDITIONAL = (1, 5, 10, 20, 50, 100)
DEFAULT_KS_CONDITIONAL = (3, 5, 10, 20, 50, 100)
RELEVANCE_THRESHOLD = 0.9


def _as_tensor(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (queries, candidates) matrix, got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def rank_candidates(scores: torch.Tensor) -> torch.Tensor:
    """Ranking of each row, best first, with trec_eval's tie policy.

    Args:
        scores: (Q, N) predicted similarities.

    Returns:
        (Q, N) int64 candidate indices, by score descending, ties by index descending.
    """
    n = scores.shape[-1]
    # A stable descending sort keeps ties in input order; sorting the column-reversed
    # matrix therefore puts the higher original index first among equal scores.
    order = torch.sort(scores.flip(-1), dim=-1, descending=True, stable=True).indices
    return (n - 1) - order


def _drop_diagonal(x: torch.Tensor) -> torch.Tensor:
    q, n = x.shape
    keep = ~torch.eye(q, n, dtype=torch.bool, device=x.device)
    return x[keep].view(q, n - 1)


def retrieval_metrics(scores, similarity, ks: Sequence[int] = DEFAULT_KS_UNCONDITIONAL,
                      threshold: float = RELEVANCE_THRESHOLD, exclude_self: bool = False,
                      per_query: bool = False) -> dict:
    """RadIR metrics of one score matrix against a ground-truth similarity table.

    Args:
        scores: (Q, N) predicted similarities (e.g. cosine of L2-normalised embeddings).
        similarity: (Q, N) ground-truth similarity S in [0, 1] (graded gains).
        ks: cut-offs K; a K larger than the candidate list is allowed (trec semantics:
            precision still divides by K).
        threshold: relevant means ``S > threshold``.
        exclude_self: drop each query's own column (query i = candidate i) before
            ranking; requires Q == N (image->image protocols).
        per_query: also return per-query values under ``"per_query"`` ({key: (Q,) array})
            and the validity mask under ``"valid"``.

    Returns:
        {"recall@K", "precision@K", "ndcg@K", "ratescore@K", "upper_ratescore@K" for each K,
        "map", "n_queries", "n_valid"}: floats in [0, 1] (counts as int).

    Raises:
        ValueError: shapes differ, are not 2-D, or exclude_self with Q != N.
    """
    p, s = _as_tensor(scores, "scores"), _as_tensor(similarity, "similarity")
    if p.shape != s.shape:
        raise ValueError(f"scores {tuple(p.shape)} and similarity {tuple(s.shape)} must have the same shape")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"every K must be >= 1, got {list(ks)}")
    if exclude_self:
        if p.shape[0] != p.shape[1]:
            raise ValueError(f"exclude_self needs a square matrix (queries = candidates), got {tuple(p.shape)}")
        # Removing the diagonal keeps the relative order of the other columns, so the
        # index-descending tie policy still refers to the original candidate indices.
        p, s = _drop_diagonal(p), _drop_diagonal(s)
    q, n = p.shape
    order = rank_candidates(p)
    gains = torch.gather(s, 1, order)                      # (Q, N) S in ranked order
    ideal = torch.sort(s, dim=1, descending=True).values   # (Q, N) best possible order
    rel = gains > threshold
    n_rel = rel.sum(1)
    valid = n_rel > 0
    discount = 1.0 / torch.log2(torch.arange(2, n + 2, dtype=torch.float64))
    dcg_cum = torch.cumsum(gains * discount, 1)
    idcg_cum = torch.cumsum(ideal * discount, 1)
    rel_cum = torch.cumsum(rel.to(torch.float64), 1)
    gain_cum = torch.cumsum(gains, 1)
    ideal_cum = torch.cumsum(ideal, 1)

    pq: dict[str, torch.Tensor] = {}
    for k in ks:
        k = int(k)
        c = min(k, n) - 1                                  # last available rank (0-based)
        if n == 0:
            zeros = torch.zeros(q, dtype=torch.float64)
            pq.update({f"recall@{k}": zeros, f"precision@{k}": zeros, f"ndcg@{k}": zeros,
                       f"ratescore@{k}": zeros, f"upper_ratescore@{k}": zeros})
            continue
        pq[f"recall@{k}"] = (rel_cum[:, c] > 0).to(torch.float64)
        pq[f"precision@{k}"] = rel_cum[:, c] / k
        idcg = idcg_cum[:, c]
        pq[f"ndcg@{k}"] = torch.where(idcg > 0, dcg_cum[:, c] / idcg.clamp_min(1e-300), torch.zeros_like(idcg))
        pq[f"ratescore@{k}"] = gain_cum[:, c] / (c + 1)
        pq[f"upper_ratescore@{k}"] = ideal_cum[:, c] / (c + 1)
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    ap = (rel_cum / ranks * rel).sum(1) / n_rel.clamp_min(1)
    pq["map"] = torch.where(valid, ap, torch.zeros_like(ap))

    binary = ("recall@", "precision@", "map")
    out: dict = {}
    for key, v in pq.items():
        sel = v[valid] if key.startswith(binary) else v
        out[key] = float(sel.mean()) if sel.numel() else 0.0
    out["n_queries"], out["n_valid"] = int(q), int(valid.sum())
    if per_query:
        out["per_query"] = {key: v.numpy() for key, v in pq.items()}
        out["valid"] = valid.numpy()
    return out


def identity_metrics(scores, ks: Sequence[int] = DEFAULT_KS_UNCONDITIONAL, per_query: bool = False) -> dict:
    """Image->report R@K with the paired report as the only relevant item (SPEC §5.2).

    Args:
        scores: (Q, Q) image-to-report similarities; row i's paired report is column i.
        ks: cut-offs.

    Returns:
        The keys of `retrieval_metrics` computed with S = identity.
    """
    p = _as_tensor(scores, "scores")
    if p.shape[0] != p.shape[1]:
        raise ValueError(f"identity_metrics needs a square (images, paired reports) matrix, got {tuple(p.shape)}")
    eye = torch.eye(p.shape[0], dtype=torch.float64)
    return retrieval_metrics(p, eye, ks, threshold=0.5, per_query=per_query)


def average_over_anatomies(per_anatomy: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Macro average: metrics are averaged within each anatomy first (by the caller),
    then the per-anatomy means are averaged with equal weight (SPEC §5.2).

    Args:
        per_anatomy: {anatomy: {metric: value}}; count keys (``n_*``) are summed instead.

    Returns:
        {metric: mean over anatomies}, plus ``n_anatomies``.
    """
    if not per_anatomy:
        raise ValueError("no anatomy results to average; check that the anatomy tables have eligible queries")
    keys = [k for k in next(iter(per_anatomy.values())) if k not in ("per_query", "valid")]
    out: dict[str, float] = {}
    for key in keys:
        vals = [float(m[key]) for m in per_anatomy.values()]
        out[key] = int(sum(vals)) if key.startswith("n_") else float(np.mean(vals))
    out["n_anatomies"] = len(per_anatomy)
    return out
