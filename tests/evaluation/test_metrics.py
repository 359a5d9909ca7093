"""metrics.py against pytrec_eval (trec_eval) and hand-computed values."""

import math

import numpy as np
import pytest

from radkit.evaluation.metrics import (average_over_anatomies, identity_metrics, rank_candidates,
                                       retrieval_metrics)

pytrec_eval = pytest.importorskip("pytrec_eval")

KS = (1, 3, 5, 10, 50)  # 50 > the 30 candidates: trec semantics for k beyond the list


def _trec(scores: np.ndarray, gains_int: np.ndarray, exclude_self: bool) -> dict:
    """Per-query trec_eval values; gains are integers (pytrec_eval qrels must be)."""
    q, n = scores.shape
    doc = lambda j: f"d{j:05d}"  # zero-padded so docno order equals index order
    qrels, run = {}, {}
    for i in range(q):
        cols = [j for j in range(n) if not (exclude_self and j == i)]
        qrels[f"q{i}"] = {doc(j): int(gains_int[i, j]) for j in cols}
        run[f"q{i}"] = {doc(j): float(scores[i, j]) for j in cols}
    cut = ",".join(str(k) for k in KS)
    # Binary measures at S > 0.9 <=> integer gain >= 91; NDCG uses the graded gains.
    binary = pytrec_eval.RelevanceEvaluator(qrels, {f"success.{cut}", f"P.{cut}", "map"}, relevance_level=91)
    graded = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{cut}"})
    b, g = binary.evaluate(run), graded.evaluate(run)
    return {qid: {**b[qid], **g[qid]} for qid in run}


@pytest.mark.parametrize("seed,tie_levels,exclude_self", [(0, None, True), (1, 4, True), (2, 3, False), (3, None, False)])
def test_metrics_equal_pytrec_eval(seed, tie_levels, exclude_self):
    rng = np.random.default_rng(seed)
    q = n = 30
    gains_int = rng.integers(0, 101, size=(q, n))
    gains_int[rng.random((q, n)) < 0.6] = 0      # sparse gains, like real similarity tables
    gains_int[:4] = np.minimum(gains_int[:4], 90)  # queries with no relevant candidate (S <= 0.9)
    gains_int[4] = 0                                # a query with IDCG = 0
    scores = rng.standard_normal((q, n))
    if tie_levels:                                  # heavy ties: only a few distinct score values
        scores = np.round(scores * tie_levels / 3) / tie_levels
    ours = retrieval_metrics(scores, gains_int / 100.0, KS, exclude_self=exclude_self, per_query=True)
    trec = _trec(scores, gains_int, exclude_self)
    pq, valid = ours["per_query"], ours["valid"]
    assert valid[:5].sum() == 0 and valid.sum() > 10
    for i in range(q):
        t = trec[f"q{i}"]
        for k in KS:
            assert pq[f"recall@{k}"][i] == pytest.approx(t[f"success_{k}"], abs=1e-12)
            assert pq[f"precision@{k}"][i] == pytest.approx(t[f"P_{k}"], abs=1e-12)
            assert pq[f"ndcg@{k}"][i] == pytest.approx(t[f"ndcg_cut_{k}"], abs=1e-9)
        assert pq["map"][i] == pytest.approx(t["map"], abs=1e-9)
    # Averages: binary metrics over valid queries only, NDCG over all queries.
    assert ours["recall@5"] == pytest.approx(np.mean([trec[f"q{i}"]["success_5"] for i in range(q) if valid[i]]))
    assert ours["ndcg@10"] == pytest.approx(np.mean([trec[f"q{i}"]["ndcg_cut_10"] for i in range(q)]))
    assert ours["n_valid"] == int(valid.sum()) and ours["n_queries"] == q


def test_tie_policy_is_trec():
    # Three tied candidates: trec_eval ranks docno descending, i.e. index 2, 1, 0.
    order = rank_candidates(__import__("torch").tensor([[0.5, 0.5, 0.5, 0.9]]))
    assert order.tolist() == [[3, 2, 1, 0]]


def test_hand_computed_ndcg_ratescore_and_self_exclusion():
    # 3 items; query 0's own column has the top score and must be ignored.
    scores = np.array([[1.0, 0.2, 0.8], [0.1, 1.0, 0.3], [0.5, 0.4, 1.0]])
    sim = np.array([[1.0, 0.95, 0.5], [0.95, 1.0, 0.2], [0.5, 0.2, 1.0]])
    m = retrieval_metrics(scores, sim, ks=(1, 2), exclude_self=True, per_query=True)
    # query 0 ranks [2 (S=.5), 1 (S=.95)]: miss at 1, hit at 2
    assert m["per_query"]["recall@1"][0] == 0 and m["per_query"]["recall@2"][0] == 1
    ndcg1 = 0.5 / 0.95
    ndcg2 = (0.5 + 0.95 / math.log2(3)) / (0.95 + 0.5 / math.log2(3))
    assert m["per_query"]["ndcg@1"][0] == pytest.approx(ndcg1)
    assert m["per_query"]["ndcg@2"][0] == pytest.approx(ndcg2)
    assert m["per_query"]["ratescore@1"][0] == pytest.approx(0.5)
    assert m["per_query"]["upper_ratescore@1"][0] == pytest.approx(0.95)
    # query 2 has no partner with S > 0.9: excluded from recall, counted in NDCG
    assert m["valid"].tolist() == [True, True, False]
    # query 1 ranks column 2 (S=.2) before column 0 (S=.95): both valid queries miss at 1, hit at 2
    assert m["recall@1"] == 0.0 and m["recall@2"] == 1.0

def test_identity_metrics_rank_of_paired_report():
    scores = np.array([[0.9, 0.1, 0.0], [0.95, 0.9, 0.0], [0.0, 0.3, 0.2]])
    m = identity_metrics(scores, ks=(1, 2))
    # paired report rank: 1, 2, 2
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@2"] == pytest.approx(1.0)


def test_average_over_anatomies_is_macro():
    a = {"heart": {"recall@3": 1.0, "n_valid": 10}, "pleura": {"recall@3": 0.0, "n_valid": 2}}
    out = average_over_anatomies(a)
    assert out["recall@3"] == 0.5 and out["n_valid"] == 12 and out["n_anatomies"] == 2


def test_bad_shapes_are_clear():
    with pytest.raises(ValueError, match="same shape"):
        retrieval_metrics(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="square"):
        retrieval_metrics(np.zeros((2, 3)), np.zeros((2, 3)), exclude_self=True)
