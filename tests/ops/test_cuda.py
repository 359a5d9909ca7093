"""CUDA build: must compile here (slow); numerics vs the reference only where a GPU exists."""

import numpy as np
import pytest
import torch

import radkit.ops as ops
from radkit.ops import build
from radkit.ops.reference import ct_preprocess_ref, similarity_topk_ref

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason="no CUDA device: CUDA numerics need a GPU machine")


@pytest.mark.slow
def test_cuda_build_compiles_and_imports():
    reasons = build.toolchain_reasons("cuda")
    if reasons:
        pytest.skip("; ".join(reasons))
    ext = build.load("cuda")
    assert ext.with_cuda
    # CPU tensors still work through the CUDA build's CPU loops
    q, db = torch.randn(2, 8), torch.randn(30, 8)
    s, i = ext.similarity_topk(q, db, 4, torch.empty(0, dtype=torch.bool), 7)
    assert torch.equal(i, similarity_topk_ref(q, db, 4)[1])


@pytest.mark.gpu
@requires_cuda
def test_cuda_ct_preprocess_matches_reference():
    v = torch.randint(-1024, 3000, (2, 41, 37, 23), dtype=torch.int16)
    aff = np.array([[0, -0.7, 0, 5], [0, 0, 2.5, 1], [-0.8, 0, 0, 2], [0, 0, 0, 1.0]])
    got = ops.ct_preprocess(v.cuda(), affine=aff, out_shape=(20, 31, 17), backend="cuda")
    torch.testing.assert_close(got.cpu(), ct_preprocess_ref(v, affine=aff, out_shape=(20, 31, 17)), atol=1e-6, rtol=0)
    hu = v.float() * 0.5 - 3.25  # float32 HU input (radkit.io's default CT array)
    got = ops.ct_preprocess(hu.cuda(), affine=aff, out_shape=(20, 31, 17), backend="cuda")
    torch.testing.assert_close(got.cpu(), ct_preprocess_ref(hu, affine=aff, out_shape=(20, 31, 17)), atol=1e-6, rtol=0)


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("k", [1, 10, 1000, 4096])
def test_cuda_topk_matches_reference(dtype, k):
    q, db = torch.randn(5, 64).to(dtype), torch.randn(20000, 64).to(dtype)
    mask = torch.rand(5, 20000) > 0.3
    s, i = ops.similarity_topk(q.cuda(), db.cuda(), k, mask=mask.cuda(), tile=3000, backend="cuda")
    rs, ri = similarity_topk_ref(q, db, k, mask=mask)
    torch.testing.assert_close(s.cpu(), rs, atol=1e-3, rtol=0)
    assert (i.cpu() == ri).float().mean() > 0.999  # bf16 GEMM rounding may swap near-ties


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("nq", [1, 2])
@pytest.mark.parametrize("k", [1, 10, 700])
def test_cuda_topk_split_path_few_queries(nq, k):
    # few queries and a long tile: the tile is split across blocks per query, then combined
    g = torch.Generator().manual_seed(k)
    db = torch.randn(300_000, 32, generator=g).round()  # integer entries: exact scores, many ties
    q = torch.randn(nq, 32, generator=g).round()
    mask = torch.rand(nq, 300_000, generator=g) > 0.2
    for m in (None, mask):
        s, i = ops.similarity_topk(q.cuda(), db.cuda(), k, mask=None if m is None else m.cuda(), backend="cuda")
        rs, ri = similarity_topk_ref(q, db, k, mask=m)
        assert torch.equal(s.cpu(), rs) and torch.equal(i.cpu(), ri)  # same tie policy as the reference
    s, i = ops.FlatTopK(db.cuda()).search(q.cuda(), k)
    fs, fi = ops.FlatTopK(db, backend="reference").search(q, k)
    assert torch.equal(s.cpu(), fs) and torch.equal(i.cpu(), fi)


def _ref_topk(q, db, k, mask=None):
    """The reference on CPU copies of the same (possibly CUDA) inputs."""
    m = None if mask is None else mask.cpu()
    return ops.similarity_topk(q.cpu(), db.cpu(), k, mask=m, backend="reference")


@pytest.mark.gpu
@requires_cuda
def test_cuda_topk_edge_cases_match_reference():
    g = torch.Generator().manual_seed(3)
    db = torch.randn(50, 16, generator=g)
    q = torch.randn(4, 16, generator=g)
    cases = {
        "k > N": (q, db, 64, None),
        "all-masked rows": (q, db, 5, torch.stack([torch.zeros(50, dtype=torch.bool), torch.ones(50, dtype=torch.bool),
                                                   torch.zeros(50, dtype=torch.bool), torch.rand(50, generator=g) > 0.5])),
        "allowed ids": (q, db, 7, torch.tensor([3, 17, 4, 49, 0, 22])),
        "shared (N,) mask": (q, db, 7, torch.rand(50, generator=g) > 0.5),
        "1-D query": (q[0], db, 3, None),
    }
    nan_db = db.clone()
    nan_db[5, 0], nan_db[9, 3], nan_db[11, 2] = float("nan"), float("inf"), float("-inf")
    cases["nan/inf database"] = (q, nan_db, 10, None)
    for name, (qq, dd, k, m) in cases.items():
        s, i = ops.similarity_topk(qq.cuda(), dd.cuda(), k, mask=None if m is None else m.cuda(), backend="cuda")
        rs, ri = _ref_topk(qq, dd, k, m)
        torch.testing.assert_close(s.cpu(), rs, atol=1e-4, rtol=0, equal_nan=True, msg=name)
        assert torch.equal(i.cpu(), ri), name


@pytest.mark.gpu
@requires_cuda
def test_cuda_ct_preprocess_full_size_batched_and_zscore():
    # the benchmark's shape (512x512x200 -> 240x240x96), batched, through the public op
    g = torch.Generator().manual_seed(1)
    v = torch.randint(-1024, 2000, (2, 512, 512, 200), dtype=torch.int16, generator=g)
    kw = dict(affine=np.diag([0.7, 0.7, 2.5, 1.0]), target_spacing=(1.5, 1.5, 3.0), out_shape=(240, 240, 96))
    got = ops.ct_preprocess(v.cuda(), slope=1.0, intercept=-24.0, **kw, backend="cuda")
    ref = ct_preprocess_ref(v, slope=1.0, intercept=-24.0, **kw)
    assert got.shape == (2, 240, 240, 96) and got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), ref, atol=1e-5, rtol=0)
    z = ops.ct_preprocess(v[0].cuda(), **kw, mode="zscore", backend="cuda")
    torch.testing.assert_close(z.cpu(), ct_preprocess_ref(v[0], **kw, mode="zscore"), atol=1e-4, rtol=0)
    # the CUDA result equals the compiled CPU build's too (same core header)
    if not build.toolchain_reasons("cpu"):
        cpu = ops.ct_preprocess(v[0], slope=1.0, intercept=-24.0, **kw, backend="cpu")
        torch.testing.assert_close(got[0].cpu(), cpu, atol=1e-6, rtol=0)


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("planes", ["1", "2", "4", "8"])
def test_cuda_ct_preprocess_planes_per_thread(monkeypatch, planes):
    # RADKIT_CT_PLANES changes how output x planes are grouped per thread; 3 volumes of 7 planes
    # make groups straddle the volume boundary (b advances inside a group)
    monkeypatch.setenv("RADKIT_CT_PLANES", planes)
    v = torch.randint(-1024, 3000, (3, 9, 11, 13), dtype=torch.int16)
    kw = dict(affine=np.diag([1.2, 0.8, 2.0, 1.0]), target_spacing=(1.5, 1.0, 2.5), out_shape=(7, 10, 12))
    got = ops.ct_preprocess(v.cuda(), **kw, backend="cuda")
    torch.testing.assert_close(got.cpu(), ct_preprocess_ref(v, **kw), atol=1e-6, rtol=0)


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("knobs", [{"RADKIT_TOPK_VMAX": "1", "RADKIT_TOPK_SOFT": "1"},
                                   {"RADKIT_TOPK_VMAX": "8", "RADKIT_TOPK_SOFT": "4096", "RADKIT_TOPK_SPLIT": "64"}])
def test_cuda_topk_launch_knobs_keep_results(monkeypatch, knobs):
    # the tuning knobs change scheduling only, never the result (same tie policy as the reference)
    for name, value in knobs.items():
        monkeypatch.setenv(name, value)
    g = torch.Generator().manual_seed(5)
    db = torch.randn(50_000, 16, generator=g).round()
    q = torch.randn(3, 16, generator=g).round()
    for k in (1, 10, 600):
        s, i = ops.similarity_topk(q.cuda(), db.cuda(), k, backend="cuda")
        rs, ri = similarity_topk_ref(q, db, k)
        assert torch.equal(s.cpu(), rs) and torch.equal(i.cpu(), ri)
