"""CUDA top-k on exactly representable scores vs the reference; GPU only.

Integer-valued inputs make every dot product exact in any summation order (cuBLAS bf16 or fp32),
so scores and indices, ties included, must equal the pure-torch reference bit for bit.
"""

import pytest
import torch

import radkit.ops as ops
from radkit.ops import build
from radkit.ops.reference import similarity_topk_ref

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="no CUDA device: CUDA numerics need a GPU machine")]


def _ints(shape, g, dtype):
    return torch.randn(*shape, generator=g).mul(1.5).round().to(dtype)  # |x| <= ~8: exact in bf16


def _assert_matches_reference(q, db, k, mask=None, msg=""):
    """The CUDA top-k's scores and ids equal the pure-torch reference's, bit for bit (ties included)."""
    s, i = ops.similarity_topk(q.cuda(), db.cuda(), k, mask=None if mask is None else mask.cuda(), backend="cuda")
    rs, ri = similarity_topk_ref(q, db, k, mask=mask)
    assert torch.equal(s.cpu(), rs), msg
    assert torch.equal(i.cpu(), ri), msg


@pytest.fixture(scope="module")
def ext():
    return build.load("cuda")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("nq", [1, 3, 16])
@pytest.mark.parametrize("d", [32, 40, 520])
def test_exact_scores_equal_reference_with_ties_and_masks(ext, dtype, nq, d):
    g = torch.Generator().manual_seed(nq * 1000 + d)
    n = 20_011  # odd size: partial last tile and scan step
    db, q = _ints((n, d), g, dtype), _ints((nq, d), g, dtype)
    per_query = torch.rand(nq, n, generator=g) > 0.3
    shared = torch.rand(n, generator=g) > 0.9
    for k in (1, 10, 100, 256, 4096):
        for mask in (None, per_query, shared):
            _assert_matches_reference(q, db, k, mask, msg=f"k={k} mask={None if mask is None else tuple(mask.shape)}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_exact_edge_cases(ext, dtype):
    g = torch.Generator().manual_seed(7)
    db, q = _ints((300, 16), g, dtype), _ints((4, 16), g, dtype)
    q[:, 0] = 1  # no zero query entry meets the inf rows below (0 * inf = NaN)
    db[5, 0], db[9, 3], db[11, 2], db[12, 0] = float("nan"), float("inf"), float("-inf"), float("inf")
    db[13, 0], db[13, 1] = float("inf"), float("-inf")  # inf - inf: NaN score for most queries
    none = torch.zeros(4, 300, dtype=torch.bool)
    none[1] = True  # rows 0, 2, 3 all masked
    few = torch.zeros(300, dtype=torch.bool)
    few[[3, 250, 17]] = True
    for k, mask in ((10, None), (310, None), (5, none), (7, few), (256, few)):
        _assert_matches_reference(q, db, k, mask, msg=f"k={k}")
    _assert_matches_reference(q[:, :8].contiguous(), db[:, :8].contiguous(), 3)  # D = 8
    _assert_matches_reference(q, db[:50].contiguous(), 64)  # k > N: padding
    s, i = ops.similarity_topk(q[0].cuda(), db.cuda(), 3, mask=[11, 3, 250], backend="cuda")  # 1-D, allowed ids
    rs, ri = similarity_topk_ref(q[0], db, 3, mask=[11, 3, 250])
    assert torch.equal(s.cpu(), rs) and torch.equal(i.cpu(), ri)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("knobs", [{"RADKIT_TOPK_SPLIT": "1"}, {"RADKIT_TOPK_SOFT": "1"},
                                   {"RADKIT_TOPK_SPLIT": "32", "RADKIT_TOPK_VMAX": "1"}])
def test_long_database_and_knobs(ext, monkeypatch, dtype, knobs):
    # one block per SM (SPLIT=1), a flush after every step (SOFT=1), many blocks, one candidate per read
    for name, value in knobs.items():
        monkeypatch.setenv(name, value)
    g = torch.Generator().manual_seed(11)
    db, q = _ints((400_000, 64), g, dtype), _ints((2, 64), g, dtype)
    mask = torch.rand(2, 400_000, generator=g) > 0.5
    for k in (1, 10, 200):
        _assert_matches_reference(q, db, k, msg=f"k={k}")
    _assert_matches_reference(q, db, 50, mask)


def test_odd_widths_and_misaligned_rows(ext):
    g = torch.Generator().manual_seed(5)
    for dtype, d in ((torch.bfloat16, 20), (torch.float32, 8)):
        db, q = _ints((3000, d), g, dtype), _ints((3, d), g, dtype)
        _assert_matches_reference(q, db, 300)
        flat = torch.zeros(3000 * d + 1, dtype=dtype)
        flat[1:] = db.reshape(-1)
        mis = flat.cuda()[1:].view(3000, d)  # storage offset of one element: rows not 16-byte aligned
        s, i = ops.similarity_topk(q.cuda(), mis, 10, backend="cuda")
        rs, ri = similarity_topk_ref(q, db, 10)
        assert torch.equal(s.cpu(), rs) and torch.equal(i.cpu(), ri)
