"""Fast lexicon similarity (dedup + dense float32 tiles + threads) vs the original sparse float64 code."""

import numpy as np
import pytest
from scipy import sparse

from radkit.reports.anatomy import FINDINGS, ancestors, list_anatomies
from radkit.reports.lexicon_features import LexiconFeatures
from radkit.reports.matching import Sentence
from radkit.reports.similarity import CONTRADICTION, WEIGHTS, lexicon_keys, similarity_matrix
from radkit.reports.structure import Item, StructuredReport


def _reference(reports):
    """The first implementation (sparse incidence products in float64) as the oracle, updated to the
    closed-world definition: Dice over positive items only, penalty over positive-item counts."""
    keys = [lexicon_keys(r) for r in reports]
    n = len(reports)

    def inc(key_sets, vocab):
        rows, cols = [], []
        for i, ks in enumerate(key_sets):
            for k in ks:
                rows.append(i)
                cols.append(vocab.setdefault(k, len(vocab)))
        return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(len(vocab), 1)))

    mats, shared = {}, {}
    for ch in (*WEIGHTS, "present", "absent"):
        mats[ch] = inc([k[ch] for k in keys], shared if ch in ("present", "absent") else {})
    width = max(mats["present"].shape[1], mats["absent"].shape[1])
    for ch in ("present", "absent"):
        mats[ch].resize((n, width))
    counts = {ch: np.asarray(m.sum(axis=1)).ravel() for ch, m in mats.items()}
    acc = np.zeros((n, n))
    for ch, w in WEIGHTS.items():
        inter = (mats[ch] @ mats[ch].T).toarray()
        denom = counts[ch][:, None] + counts[ch][None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            acc += w * np.where(denom > 0, 2.0 * inter / denom, 1.0)
    p, a = mats["present"], mats["absent"]
    conflicts = (p @ a.T + a @ p.T).toarray()
    denom = counts["positive"][:, None] + counts["positive"][None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        penalty = np.where(denom > 0, conflicts / denom, 0.0)
    return np.clip(acc / sum(WEIGHTS.values()) - CONTRADICTION * penalty, 0.0, 1.0)


def random_reports(n, mod, seed):
    """Random structured reports with many exact duplicates and some empty ones."""
    rng = np.random.default_rng(seed)
    anats = list_anatomies(mod)
    pool = []
    for _ in range(max(n // 3, 1)):
        items, sent_anats = [], set()
        for _ in range(rng.integers(0, 6)):
            f = FINDINGS[rng.choice(sorted(FINDINGS))]
            a = str(rng.choice(f.anatomies.get(mod) or anats))
            sev = str(rng.choice(["", *f.severities]))
            items.append(Item(a, f.name, str(rng.choice(["present", "absent", "uncertain"])), sev))
            sent_anats |= {a, *ancestors(a, mod)}
        if rng.random() < 0.3:  # a sentence about an organ with no finding ("heart size normal")
            sent_anats.add(str(rng.choice(anats)))
        pool.append(StructuredReport("", mod, [Sentence("", (0, 0), frozenset(sent_anats))], items))
    return [pool[i] for i in rng.integers(0, len(pool), n)]


@pytest.mark.parametrize("mod", ["cxr", "ct"])
def test_fast_equals_reference(mod):
    reps = random_reports(300, mod, seed=1)
    ref = _reference(reps)
    feats = LexiconFeatures(reps)
    assert feats.n_unique < len(reps)  # the dedup path is exercised
    fast = np.zeros((len(reps),) * 2, dtype=np.float32)
    feats.fill(fast, block=37, workers=2)  # odd block size: partial last block, several workers
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(feats.block(0, len(reps)), fast)
    # tiles narrower than U and a single worker give the same numbers
    np.testing.assert_allclose(feats.unique_rows(np.arange(feats.n_unique), tile=16),
                               feats.unique_rows(np.arange(feats.n_unique)), rtol=0, atol=1e-7)


def test_fast_without_duplicates_and_uint8():
    rng = np.random.default_rng(2)
    reps = random_reports(120, "cxr", seed=3)
    seen, uniq = set(), []
    for r in reps:
        k = lexicon_keys(r)
        sig = (frozenset(k["exact"]), frozenset(k["absent"]))
        if sig not in seen:
            seen.add(sig)
            uniq.append(r)
    reps = uniq
    ref = _reference(reps)
    feats = LexiconFeatures(reps)
    assert feats.n_unique == len(reps)
    np.testing.assert_allclose(feats.block(0, len(reps)), ref, rtol=0, atol=1e-6)
    q = np.zeros((len(reps),) * 2, dtype=np.uint8)
    similarity_matrix(reps, "cxr", out=q, block=int(rng.integers(5, 50)))
    # percent quantisation as the RadIR loaders do; allow a tie at .5 to round either way
    assert np.abs(q.astype(int) - np.round(ref * 100)).max() <= 1
    assert (q == np.round(ref * 100)).mean() > 0.99
