"""``backend: radkit`` (flat search through radkit.ops.FlatTopK) gives FAISS flat's results."""

import numpy as np
import pytest

from radkit.retrieval import plan as plan_mod
from radkit.retrieval.api import Retriever
from radkit.retrieval.plan import plan_search
from radkit.retrieval.recipe import IndexRecipe
from radkit.retrieval.store import IndexStore

N, D = 2000, 48


def unit(n, seed):
    x = np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_store(recipe):
    rows = [{"study_id": f"s{i}", "split": "test" if i % 2 else "train", "view": "PA" if i % 10 == 3 else "AP"}
            for i in range(N)]
    store = IndexStore.create(IndexRecipe.load(recipe), D, "m", "fp", "cxr")
    store.add(rows, {"image": unit(N, 0)})
    return store


@pytest.fixture(scope="module")
def stores():
    return make_store("flat"), make_store("flat-radkit")


def assert_same(a, b):
    (sa, ia), (sb, ib) = a, b
    assert ia.shape == ib.shape and ia.dtype == ib.dtype == np.int64 and sb.dtype == np.float32
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(sa, sb, rtol=0, atol=2e-6)  # fp32 summation order only


@pytest.mark.parametrize("nq", [1, 25])  # faiss: SIMD for few queries, BLAS from 20
@pytest.mark.parametrize("where", [None, {"split": "test"}, {"view": "PA"}, "study_id == 's7'"],
                         ids=["all", "half", "tenth", "one"])
def test_same_results_as_faiss_flat(stores, nq, where, monkeypatch):
    faiss_store, radkit_store = stores
    q = unit(nq, 1)
    got = radkit_store.search("image", q, 10, where=where)
    assert radkit_store.spaces["image"].last_plan.path == "flat-topk"
    assert_same(got, faiss_store.search("image", q, 10, where=where))
    if where is not None:  # and the same as FAISS applying the filter itself (IDSelector)
        monkeypatch.setattr(plan_mod, "EXACT_SUBSET_MAX", 0)
        assert_same(got, faiss_store.search("image", q, 10, where=where))
        assert faiss_store.spaces["image"].last_plan.path == "selector"


def test_k_above_rows_and_empty_filter(stores):
    faiss_store, radkit_store = stores
    q = unit(3, 2)
    s, i = radkit_store.search("image", q, 5000)
    assert i.shape == (3, N) and (i >= 0).all()
    assert_same((s, i), faiss_store.search("image", q, 5000))
    s, i = radkit_store.search("image", q, 10, where={"split": "none"})
    assert i.shape == (3, 0) and s.shape == (3, 0)


def test_save_load_add_remove(tmp_path):
    store = make_store("flat-radkit")
    out = store.save(tmp_path / "idx")
    assert not list(out.glob("*.faiss")), "the radkit backend stores only ids and vectors"
    loaded = IndexStore.load(out)
    assert loaded.recipe.backend == "radkit" and loaded.meta["recipe"]["backend"] == "radkit"
    q = unit(4, 3)
    assert_same(loaded.search("image", q, 7, where={"split": "test"}), store.search("image", q, 7, where={"split": "test"}))
    extra = unit(3, 4)
    loaded.add([{"study_id": f"new{i}", "split": "test"} for i in range(3)], {"image": extra})
    assert loaded.remove(["s1", "new1"]) == 2
    _, ids = loaded.search("image", extra, 1)
    assert ids[0, 0] == N and ids[2, 0] == N + 2 and ids[1, 0] != N + 1
    loaded.save(out)
    again = IndexStore.load(out)
    assert len(again.spaces["image"]) == N + 1 and 1 not in again.spaces["image"].ids
    (out / "image.vectors.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        IndexStore.load(out)
    (out / "image.vectors.npy").unlink()
    with pytest.raises(FileNotFoundError, match="image.vectors.npy"):
        IndexStore.load(out)


def test_recipe_checks():
    with pytest.raises(ValueError, match="backend 'radkit' is exact flat.*HNSW32"):
        IndexRecipe(factory="HNSW32", backend="radkit")
    with pytest.raises(ValueError, match="backend 'cuvs'.*faiss, radkit"):
        IndexRecipe(backend="cuvs")


def test_plans_prefer_flat_topk_for_gpu_filters():
    p = plan_search(10**6, 10, 10**5, on_gpu=True, gpu_flat_topk=True)
    assert p.path == "flat-topk" and "IDSelector" in p.reason and "no post-filter" in p.reason
    p = plan_search(10**6, 10, 100, on_gpu=True, gpu_flat_topk=True)
    assert p.path == "flat-topk"           # small filters too: stays on the GPU
    assert plan_search(10**6, 10, None, on_gpu=True, gpu_flat_topk=True).path == "index"
    assert plan_search(10**6, 3000, None, on_gpu=True, gpu_flat_topk=True).path == "flat-topk"
    assert plan_search(10**6, 5000, None, on_gpu=True, gpu_flat_topk=True).path == "index-cpu"
    assert plan_search(10**6, 10, 10**5, on_gpu=True).path == "index-cpu"   # not flat: CPU copy
    p = plan_search(10**6, 10, 10**5, on_gpu=False, backend="radkit")
    assert p.path == "flat-topk" and "allowed ids" in p.reason


def test_explain_reports_the_gpu_filter_path(stores, tmp_path):
    faiss_store, _ = stores

    class Model:
        name, modality, embed_dim = "m", "cxr", D

    r = Retriever(faiss_store, Model(), tmp_path)
    assert r.explain(where={"split": "test"})[0]["path"] == "exact-subset"
    vi = faiss_store.spaces["image"]
    vi._topk_device = "cuda"  # as to_device leaves a flat index on a GPU (planning only, nothing runs)
    try:
        e = r.explain(where={"split": "test"})[0]
    finally:
        vi._topk_device = "cpu"
    assert e["path"] == "flat-topk" and e["device"] == "cuda" and e["backend"] == "faiss"
    assert "IDSelector" in e["reason"] and e["selected"] == N // 2


@pytest.mark.gpu
@pytest.mark.parametrize("recipe", ["flat", "flat-radkit"])
def test_gpu_filtered_search_equals_cpu(recipe):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device visible to torch")
    if recipe == "flat":
        from radkit.retrieval.index import gpu_available

        if not gpu_available():
            pytest.skip("needs a faiss GPU build")
    cpu, gpu = make_store(recipe), make_store(recipe)
    gpu.spaces["image"].to_device("cuda")
    q = unit(8, 5)
    for where in (None, {"split": "test"}, {"view": "PA"}):
        s, i = gpu.search("image", q, 10, where=where)
        if where is not None or recipe == "flat-radkit":
            assert gpu.spaces["image"].last_plan.path == "flat-topk"
        sc, ic = cpu.search("image", q, 10, where=where)
        np.testing.assert_array_equal(i, ic)
        np.testing.assert_allclose(s, sc, atol=1e-5)
