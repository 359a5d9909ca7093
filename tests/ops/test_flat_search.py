"""FlatTopK against faiss IndexFlatIP: plain and IDSelectorBatch-filtered search, ties, padding."""

import faiss
import numpy as np
import pytest
import torch

import radkit.ops as ops
from radkit.ops import FlatTopK

BACKENDS = ["cpu", "reference"]


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _faiss(db, queries, k, ids=None):
    index = faiss.IndexFlatIP(db.shape[1])
    index.add(db)
    params = None if ids is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(ids, np.int64)))
    return index.search(queries, k, params=params)


def _assert_same(got, want, full, atol=1e-6):
    (s, i), (fs, fi) = got, want
    assert s.dtype == np.float32 and i.dtype == np.int64 and s.shape == fs.shape and i.shape == fi.shape
    np.testing.assert_allclose(s, fs, atol=atol, rtol=0)
    # ids may only differ where two scores agree within float32 rounding (summation order)
    differ = i != fi
    rows = np.nonzero(differ)[0]
    assert np.all(np.abs(full[rows, i[differ]] - fs[differ]) < atol)
    assert differ.mean() < 0.01


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nq", [1, 5, 23])  # faiss: SIMD below 20 queries, BLAS from 20
def test_matches_faiss_on_normalised_embeddings(cpu_ext, backend, nq):
    rng = np.random.default_rng(nq)
    db, q = _unit(rng, 3001, 64), _unit(rng, nq, 64)
    index = FlatTopK(db, backend=backend)
    assert index.ntotal == 3001 and index.d == 64
    full = q.astype(np.float64) @ db.T.astype(np.float64)
    _assert_same(index.search(q, 17), _faiss(db, q, 17), full)
    for n_ids in (40, 2000):  # gathered subset / full scoring with a mask
        ids = rng.choice(3001, size=n_ids, replace=False)
        _assert_same(index.search(q, 17, allowed_ids=ids), _faiss(db, q, 17, ids), full)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_scores_ties_padding_and_filters_identical_to_faiss(cpu_ext, backend):
    # small integer entries: every dot product is exact in fp32 and ties are frequent, so scores,
    # padding and the order of tied ids must equal faiss's exactly; only the subset kept from a tie
    # group cut by k may differ (faiss: heap-history dependent, FlatTopK: lowest ids)
    rng = np.random.default_rng(0)
    db = rng.integers(-2, 3, (400, 8)).astype(np.float32)
    q = rng.integers(-2, 3, (21, 8)).astype(np.float32)
    index = FlatTopK(backend=backend, d=8)
    index.add(db[:150])
    index.add(db[150:])  # ids continue as in faiss
    full = q @ db.T
    for k in (1, 7, 60):
        _assert_tie_equivalent(index.search(q, k), _faiss(db, q, k), full)
    # filtered: few allowed ids (padding), duplicates, ids outside the database (match nothing)
    for ids in ([5, 3, 3, 399, 1000, -4], list(range(0, 400, 9)), list(range(0, 400, 2)), []):
        allowed = np.zeros(400, bool)
        allowed[[j for j in ids if 0 <= j < 400]] = True
        _assert_tie_equivalent(index.search(q, 12, allowed_ids=ids), _faiss(db, q, 12, ids),
                               np.where(allowed, full, -np.inf))
    s, i = index.search(q[:2], 450)  # k > N: no cut tie group, so ids are identical
    fs, fi = _faiss(db, q[:2], 450)
    np.testing.assert_array_equal(i, fi)
    np.testing.assert_array_equal(s, fs)
    assert (i[:, 400:] == -1).all()


def _assert_tie_equivalent(got, want, full):
    """Equal scores; equal ids except in the tie group cut by k, where ours are its lowest ids in
    descending order and faiss's are members of the group."""
    (s, i), (fs, fi) = got, want
    np.testing.assert_array_equal(s, fs)
    for r in range(s.shape[0]):
        kth = s[r, -1]
        group = np.flatnonzero(full[r] == kth)
        if fi[r, -1] < 0 or len(group) == np.sum(s[r] == kth):  # padded, or the group fits whole
            np.testing.assert_array_equal(i[r], fi[r])
            continue
        above = s[r] > kth
        np.testing.assert_array_equal(i[r, above], fi[r, above])
        n_cut = int((~above).sum())
        assert i[r, ~above].tolist() == group[:n_cut][::-1].tolist()
        assert set(fi[r, ~above].tolist()) <= set(group.tolist())


def test_tie_orders_torch_io_masks_and_errors(cpu_ext):
    db = torch.tensor([[1.0, 0], [0, 1], [1, 0], [1, 0], [0.5, 0]])
    q = torch.tensor([[1.0, 0], [0, 1]])
    s, i = FlatTopK(db).search(q, 6)
    assert isinstance(i, torch.Tensor) and i.dtype == torch.int64 and s.dtype == torch.float32
    assert i[0].tolist() == [3, 2, 0, 4, 1, -1] and s[0, -1] == -np.finfo(np.float32).max
    assert FlatTopK(db, tie_order="ascending").search(q, 3)[1][0].tolist() == [0, 2, 3]
    per_query = torch.tensor([[True, False, False, True, True], [False] * 5])
    s, i = FlatTopK(db).search(q, 2, allowed_ids=per_query)  # (Q, N) bool: beyond faiss
    assert i.tolist() == [[3, 0], [-1, -1]]
    s, i = FlatTopK(d=2).search(q.numpy(), 2)  # empty index
    assert (i == -1).all() and isinstance(i, np.ndarray)
    bf = FlatTopK(db.to(torch.bfloat16))
    assert bf.search(q.numpy(), 1)[1].tolist() == [[0], [1]]  # cut tie group: lowest id kept
    s, i = ops.similarity_topk(q, db, 2, mask=[])  # no allowed ids: all padding
    assert (i == -1).all() and torch.isinf(s).all()
    with pytest.raises(ValueError, match="queries must be"):
        FlatTopK(db).search(torch.ones(3), 1)
    with pytest.raises(ValueError, match="k must be"):
        FlatTopK(db).search(q, 0)
    with pytest.raises(ValueError, match="tie_order"):
        FlatTopK(db, tie_order="random")
    with pytest.raises(ValueError, match="allowed_ids"):
        FlatTopK(db).search(q, 1, allowed_ids=np.array([0.5]))


def test_allowed_ids_dedup_equals_np_unique():
    # the O(n) mask scatter gives exactly np.unique's sorted valid ids (subset path) or their mask
    rng = np.random.default_rng(4)
    index = FlatTopK(np.zeros((5000, 2), np.float32))
    for n_ids in (0, 7, 900, 4000, 20000):
        ids = rng.integers(-20, 5020, n_ids)
        want = np.unique(ids)
        want = want[(want >= 0) & (want < 5000)]
        mask, got = index._allowed(ids)
        got = np.flatnonzero(mask.numpy()) if got is None else got.numpy()
        np.testing.assert_array_equal(got, want)
        assert (mask is None) == (want.size < 0.25 * 5000)
