"""similarity_topk: compiled CPU build vs the reference, torch.topk on the full product, faiss flat."""

import faiss
import numpy as np
import pytest
import torch

import radkit.ops as ops
from radkit.ops.reference import similarity_topk_ref

# fp32 GEMMs of different tile shapes may round differently: a few ulps of |score| <= sqrt(D) * 4
ATOL = {torch.float32: 1e-4, torch.bfloat16: 1e-4}


def _data(q, n, d, dtype=torch.float32):
    return torch.randn(q, d).to(dtype), torch.randn(n, d).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("q,n,d,k,tile", [(3, 1823, 33, 10, 256), (1, 781, 7, 1, 100), (17, 500, 64, 500, 77)])
def test_compiled_matches_reference_and_torch_topk(cpu_ext, dtype, q, n, d, k, tile):
    qs, db = _data(q, n, d, dtype)
    s, i = ops.similarity_topk(qs, db, k, tile=tile, backend="cpu")
    rs, ri = similarity_topk_ref(qs, db, k, tile=1000)
    full = torch.topk(qs.float() @ db.float().T, k, dim=1)
    assert s.shape == (q, k) and i.dtype == torch.int64
    torch.testing.assert_close(s, rs, atol=ATOL[dtype], rtol=0)
    torch.testing.assert_close(s, full.values, atol=ATOL[dtype], rtol=0)
    assert torch.equal(i, ri) and torch.equal(i, full.indices)


def test_matches_faiss_flat(cpu_ext):
    qs, db = _data(8, 3000, 48)
    index = faiss.IndexFlatIP(48)
    index.add(db.numpy())
    fs, fi = index.search(qs.numpy(), 25)
    s, i = ops.similarity_topk(qs.numpy(), db.numpy(), 25, backend="cpu")
    np.testing.assert_allclose(s.numpy(), fs, atol=1e-4)
    np.testing.assert_array_equal(i.numpy(), fi)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_k_above_n_masks_and_padding(cpu_ext, backend):
    qs, db = _data(3, 6, 4)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1] = False  # all-masked row
    mask[2, ::2] = False
    s, i = ops.similarity_topk(qs, db, 9, mask=mask, backend=backend)
    full = qs @ db.T
    assert torch.equal(i[0, :6], torch.argsort(full[0], descending=True)) and (i[0, 6:] == -1).all()
    assert (i[1] == -1).all() and torch.isinf(s[1]).all() and (s[1] < 0).all()
    assert set(i[2, :3].tolist()) == {1, 3, 5} and (i[2, 3:] == -1).all()
    ids_s, ids_i = ops.similarity_topk(qs, db, 2, mask=[4, 1], backend=backend)  # allowed ids
    assert set(ids_i[0].tolist()) == {1, 4}


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_nan_inf_and_ties(cpu_ext, backend):
    db = torch.tensor([[1.0, 0], [float("nan"), 0], [1.0, 0], [float("-inf"), 0], [0.5, 0]])
    q = torch.tensor([[1.0, 0]])
    s, i = ops.similarity_topk(q, db, 6, backend=backend)
    # NaN row never returned; tie (rows 0 and 2) -> lower index first; real -inf ranks before padding
    assert i[0].tolist() == [0, 2, 4, 3, -1, -1]
    assert s[0, :3].tolist() == [1.0, 1.0, 0.5] and s[0, 3] == float("-inf")
    s1, i1 = ops.similarity_topk(q[0], db, 2, backend=backend)  # 1-D query -> 1-D results
    assert i1.tolist() == [0, 2]


def test_bad_inputs_name_the_problem():
    qs, db = _data(2, 5, 4)
    with pytest.raises(ValueError, match="same D"):
        ops.similarity_topk(qs, db[:, :3], 2)
    with pytest.raises(ValueError, match="k must be"):
        ops.similarity_topk(qs, db, 0)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        ops.similarity_topk(qs, db, 2, mask=[7])
    with pytest.raises(ValueError, match="bool mask"):
        ops.similarity_topk(qs, db, 2, mask=torch.ones(3, 5, dtype=torch.bool))
