"""Index recipes vs exact search, filters vs brute force, persistence, GPU path decisions."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from radkit.retrieval import index as index_mod
from radkit.retrieval import plan as plan_mod
from radkit.retrieval.index import GPU_MAX_K, VectorIndex, plan_search
from radkit.retrieval.recipe import IndexRecipe
from radkit.retrieval.store import IndexStore

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p.stem for p in (ROOT / "indexes").glob("*.yaml"))


def clustered(n, d=64, n_clusters=40, seed=0):
    """Unit-norm vectors around cluster centres (closer to real embeddings than uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    x = centres[rng.integers(0, n_clusters, n)] + 0.6 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_topk(base, queries, k):
    sims = queries @ base.T
    return np.argsort(-sims, axis=1, kind="stable")[:, :k], sims


# Observed recall@10 vs Flat (n=3000, d=64, 100 queries, seed 0): flat 1.000, hnsw 0.977,
# ivfpq 0.975 with refine 8 (0.879 without re-scoring).
FLOORS = {"flat": 0.999, "flat-radkit": 0.999, "hnsw": 0.95, "ivfpq": 0.90}


def test_shipped_recipes_are_listed():
    assert set(RECIPES) == set(FLOORS), "add a recall floor for every shipped recipe"


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_recall_vs_flat(name):
    recipe = IndexRecipe.load(name)
    assert recipe.name == name and recipe.metric == "ip"
    base, queries = clustered(3000), clustered(100, seed=1)
    ids = np.arange(3000, dtype=np.int64) + 1000  # row ids differ from positions
    vi = VectorIndex(recipe, 64).build(base, ids)
    scores, got = vi.search(queries, 10)
    truth, sims = exact_topk(base, queries, 10)
    recall = np.mean([len(set(g) & set(t + 1000)) / 10 for g, t in zip(got, truth)])
    print(f"{name}: recall@10 vs flat = {recall:.3f}")
    assert recall >= FLOORS[name]
    if name.startswith("flat"):  # exact: scores equal inner products
        np.testing.assert_allclose(scores, np.take_along_axis(sims, truth, 1), rtol=1e-5, atol=1e-5)
    if recipe.refine > 1 or name != "ivfpq":  # re-scored (or uncompressed): scores are exact cosines
        np.testing.assert_allclose(scores, np.take_along_axis(sims, got - 1000, 1), atol=1e-5)


@pytest.mark.parametrize("name", RECIPES)
def test_filtered_search_equals_brute_force(name, tmp_path):
    base = clustered(600, seed=2)
    q = clustered(5, seed=3)
    store = IndexStore.create(IndexRecipe.load(name), 64, "m", "fp", "cxr")
    rows = [{"study_id": f"s{i}", "split": ["train", "test"][i % 2], "modality": "cxr"} for i in range(600)]
    store.add(rows, {"image": base})
    scores, ids = store.search("image", q, 7, where={"split": "test"})
    keep = np.arange(1, 600, 2)
    truth, sims = exact_topk(base[keep], q, 7)
    np.testing.assert_array_equal(ids, keep[truth])
    np.testing.assert_allclose(scores, np.take_along_axis(sims, truth, 1), atol=1e-5)
    # FAISS recipes: small filter -> exact numpy subset; radkit: allowed ids inside the kernel
    want = "flat-topk" if store.recipe.backend == "radkit" else "exact-subset"
    assert store.spaces["image"].last_plan.path == want
    # a query string and a callable select the same rows
    np.testing.assert_array_equal(store.select("split == 'test'"), store.select(lambda d: d.split == "test"))


def test_selector_path_equals_brute_force(monkeypatch):
    monkeypatch.setattr(plan_mod, "EXACT_SUBSET_MAX", 10)  # force the in-FAISS IDSelector path
    base, q = clustered(500, seed=4), clustered(4, seed=5)
    vi = VectorIndex(IndexRecipe.load("flat"), 64).build(base, np.arange(500))
    pos = np.arange(0, 500, 3)
    scores, ids = vi.search(q, 5, positions=pos)
    assert vi.last_plan.path == "selector"
    truth, _ = exact_topk(base[pos], q, 5)
    np.testing.assert_array_equal(ids, pos[truth])


def test_save_load_roundtrip_add_remove(tmp_path):
    base = clustered(300, seed=6)
    store = IndexStore.create(IndexRecipe.load("hnsw"), 64, "tiny", "abc", "cxr", "pp1")
    store.add([{"study_id": f"s{i}", "split": "test"} for i in range(200)], {"image": base[:200], "anatomy:heart": base[:200]})
    out = store.save(tmp_path / "idx")
    loaded = IndexStore.load(out)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["model_fingerprint"] == "abc" and meta["dim"] == 64 and meta["recipe"]["factory"] == "HNSW32"
    assert loaded.anatomies == ["heart"] and len(loaded.items) == 200
    q = clustered(3, seed=7)
    np.testing.assert_array_equal(loaded.search("image", q, 5)[1], store.search("image", q, 5)[1])
    # incremental add and remove by id
    loaded.add([{"study_id": f"s{i}", "split": "test"} for i in range(200, 300)],
               {"image": base[200:], "anatomy:heart": base[200:]})
    assert loaded.remove(["s0", "s250"]) == 2
    loaded.save(out)
    again = IndexStore.load(out)
    _, ids = again.search("image", base[[0, 250, 5]], 1)
    assert ids[2, 0] == 5                       # an exact duplicate is found
    assert 0 not in again.spaces["image"].ids and 250 not in again.spaces["image"].ids
    assert len(again.spaces["anatomy:heart"]) == 298
    with pytest.raises(ValueError, match="already in the index"):
        again.add([{"study_id": "s1"}], {"image": base[:1]})
    with pytest.raises(KeyError, match="none of"):
        again.remove(["nope"])


def test_killed_build_leaves_previous_index_intact(tmp_path):
    out = tmp_path / "idx"
    store = IndexStore.create(IndexRecipe.load("flat"), 64, "m", "old", "cxr")
    store.add([{"study_id": "a"}], {"image": clustered(1)})
    store.save(out)
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        from radkit.retrieval.recipe import IndexRecipe
        from radkit.retrieval.store import IndexStore
        s = IndexStore.create(IndexRecipe.load("flat"), 64, "m", "new", "cxr")
        s.add([{{"study_id": "b"}}], {{"image": np.eye(1, 64, dtype=np.float32)}})
        def hook(tmp):
            print("writing", flush=True); time.sleep(60)
        s.save({str(out)!r}, progress_hook=hook)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait()
    assert list(tmp_path.glob(".idx.tmp-*")), "the killed write should have left its temp folder"
    loaded = IndexStore.load(out)
    assert loaded.meta["model_fingerprint"] == "old" and loaded.items.study_id.tolist() == ["a"]
    store.save(out)  # the next write cleans the stale temp folder
    assert not list(tmp_path.glob(".idx.tmp-*"))


def test_save_refuses_to_replace_a_foreign_folder(tmp_path):
    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    store = IndexStore.create(IndexRecipe.load("flat"), 64, "m", "fp", "cxr")
    store.add([{"study_id": "a"}], {"image": clustered(1)})
    with pytest.raises(FileExistsError, match="not a radkit index"):
        store.save(precious)
    assert (precious / "thesis.txt").read_text() == "keep me"


def test_crash_between_renames_is_recovered(tmp_path):
    out = tmp_path / "idx"
    store = IndexStore.create(IndexRecipe.load("flat"), 64, "m", "fp", "cxr")
    store.add([{"study_id": "a"}], {"image": clustered(1)})
    store.save(out)
    out.rename(tmp_path / ".idx.old-12345678")  # the state after the first rename only
    assert IndexStore.load(out).items.study_id.tolist() == ["a"]


def test_corrupt_and_missing_index_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a radkit index"):
        IndexStore.load(tmp_path)
    store = IndexStore.create(IndexRecipe.load("flat"), 64, "m", "fp", "cxr")
    store.add([{"study_id": "a"}], {"image": clustered(1)})
    out = store.save(tmp_path / "idx")
    good = {f: (out / f).read_bytes() for f in ("image.faiss", "image.ids.npy", "metadata.json", "items.parquet")}
    (out / "image.faiss").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="space 'image' .* is corrupt.*rebuild"):
        IndexStore.load(out)
    (out / "image.faiss").write_bytes(good["image.faiss"])
    np.save(out / "image.ids.npy", np.arange(3))  # readable but does not match the FAISS file
    with pytest.raises(ValueError, match="inconsistent.*ids \\(3,\\)"):
        IndexStore.load(out)
    (out / "image.ids.npy").write_bytes(good["image.ids.npy"])
    (out / "items.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(ValueError, match="items.parquet is unreadable"):
        IndexStore.load(out)
    (out / "items.parquet").write_bytes(good["items.parquet"])
    (out / "metadata.json").write_text('{"format_version": 1, "dim": ')
    with pytest.raises(ValueError, match="metadata.json is corrupt"):
        IndexStore.load(out)
    (out / "metadata.json").write_text('{"format_version": 1}')
    with pytest.raises(ValueError, match="lacks \\['recipe'"):
        IndexStore.load(out)
    (out / "metadata.json").write_bytes(good["metadata.json"])
    (out / "image.faiss").unlink()
    with pytest.raises(FileNotFoundError, match="image.faiss is missing"):
        IndexStore.load(out)


def test_plan_search_gpu_limits():
    assert plan_search(10**6, 10, None, on_gpu=True).path == "index"
    p = plan_search(10**6, GPU_MAX_K + 1, None, on_gpu=True)
    assert p.path == "index-cpu" and "2048" in p.reason
    assert plan_search(10**6, GPU_MAX_K + 1, None, on_gpu=False).path == "index"
    assert plan_search(10**6, 10, 100, on_gpu=True).path == "exact-subset"
    big = plan_mod.EXACT_SUBSET_MAX + 1
    p = plan_search(10**6, 10, big, on_gpu=True)
    assert p.path == "index-cpu" and "IDSelector" in p.reason
    assert plan_search(10**6, 10, big, on_gpu=True, gpu_supports_selector=True).path == "selector"
    assert plan_search(10**6, 10, big, on_gpu=False).path == "selector"


def test_gpu_fallback_search_uses_cpu_copy(monkeypatch, caplog):
    """Mock a GPU index: k > 2048 must be answered by the CPU copy, and results stay exact."""
    base = clustered(3000, seed=8)
    vi = VectorIndex(IndexRecipe.load("flat"), 64).build(base, np.arange(3000))

    class FakeGpu:
        def search(self, *a, **k):
            raise AssertionError("GPU index must not be used for k > 2048")

    vi._gpu = FakeGpu()
    scores, ids = vi.search(clustered(2, seed=9), 2100)
    assert vi.last_plan.path == "index-cpu" and ids.shape == (2, 2100)
    assert "GPU index fallback" in caplog.text and "2048" in caplog.text
    truth, _ = exact_topk(base, clustered(2, seed=9), 2100)
    np.testing.assert_array_equal(ids[:, :50], truth[:, :50])


def test_recipe_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("factory: Flat\nnprob: 3\n")
    with pytest.raises(KeyError, match="nprob"):
        IndexRecipe.load(bad)
    with pytest.raises(ValueError, match="metric"):
        IndexRecipe(metric="l2")
    with pytest.raises(FileNotFoundError, match="available"):
        IndexRecipe.load("no-such-recipe")
    with pytest.raises(ValueError, match="must be \\(n, 64\\)"):
        VectorIndex(IndexRecipe(), 64).build(np.zeros((3, 8), np.float32), np.arange(3))


@pytest.mark.gpu
@pytest.mark.skipif(not index_mod.gpu_available(), reason="needs a faiss GPU build and a CUDA device")
@pytest.mark.parametrize("name", ["flat", "ivfpq"])
def test_gpu_index_equals_cpu(name):
    base, q = clustered(3000, seed=10), clustered(20, seed=11)
    cpu = VectorIndex(IndexRecipe.load(name), 64).build(base, np.arange(3000))
    gpu = VectorIndex(IndexRecipe.load(name), 64).build(base, np.arange(3000))
    gpu.to_device("cuda")
    assert gpu.on_gpu
    (sc, ic), (sg, ig) = cpu.search(q, 10), gpu.search(q, 10)
    assert gpu.last_plan.path == "index"
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ic, ig)]) >= 0.95
    _, ik = gpu.search(q, GPU_MAX_K + 10)  # above the FAISS GPU top-k limit: still answered
    # flat: radkit similarity_topk on the GPU (k <= 4096); IVF-PQ: the CPU copy
    assert gpu.last_plan.path == ("flat-topk" if name == "flat" else "index-cpu")
    assert ik.shape == (20, GPU_MAX_K + 10)
    _, kc = cpu.search(q, GPU_MAX_K + 10)
    if name == "flat":
        assert np.mean(ik[:, :100] == kc[:, :100]) > 0.99


def test_hits_after_removal_map_to_the_right_items(tmp_path):
    """Hits are built from cached item lists (ItemLookup): after removals row ids have gaps."""
    from radkit.retrieval.api import Retriever

    base = clustered(40, seed=12)
    store = IndexStore.create(IndexRecipe.load("flat"), 64, "m", "fp", "cxr")
    store.add([{"study_id": f"s{i}", "report": f"report {i}", "image_path": f"{i}.png"} for i in range(40)],
              {"image": base})
    store.remove([f"s{i}" for i in range(0, 40, 3)])
    r = Retriever(store, None, tmp_path)
    hits = r.search_vectors(base[[4, 5]], "image", k=100)  # k above the 26 rows left
    assert [len(h) for h in hits] == [26, 26] and [h.rank for h in hits[0]] == list(range(1, 27))
    assert hits[0][0].study_id == "s4" and hits[0][0].report == "report 4" and hits[0][0].image_path == "4.png"
    assert hits[1][0].study_id == "s5" and not {h.study_id for h in hits[1]} & {f"s{i}" for i in range(0, 40, 3)}
    sims = base[4] @ base.T
    for h in hits[0][:5]:
        assert h.score == pytest.approx(min(sims[int(h.study_id[1:])], 1.0), abs=1e-5)
    cols = store.columns(np.array([[5, -1, 3, 999]]))  # 3 was removed, 999 never existed
    assert cols["study_id"].tolist() == [["s5", None, None, None]] and cols["report"][0, 0] == "report 5"
    store.add([{"study_id": "late"}], {"image": base[:1]})  # the cache follows the item table
    assert r.search_vectors(base[:1], "image", k=1)[0][0].study_id == "late"
