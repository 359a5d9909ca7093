"""Embedding shards: values equal the model's own outputs; an interrupted run resumes."""

import numpy as np
import pytest
import torch

from radkit.retrieval.embed import embed_studies, load_image


def test_embeddings_match_model_and_are_normalised(tiny_model, studies):
    _, recs = studies
    emb = embed_studies(tiny_model, recs, anatomies=["heart", "left lung"], batch_size=5, progress=False)
    assert emb.study_ids == [s.study_id for s in recs]
    assert set(emb.spaces) == {"image", "report", "anatomy:heart", "anatomy:left lung"}
    px = torch.stack([tiny_model.preprocess_image(load_image(s.image_paths[0])) for s in recs])
    np.testing.assert_allclose(emb.spaces["image"], tiny_model.encode_image(px).numpy(), atol=1e-6)
    np.testing.assert_allclose(emb.spaces["anatomy:heart"],
                               tiny_model.encode_image_anatomy(px, ["heart"] * len(recs)).numpy(), atol=1e-6)
    np.testing.assert_allclose(emb.spaces["report"], tiny_model.encode_text([s.report for s in recs]).numpy(),
                               atol=1e-6)
    for v in emb.spaces.values():
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_interrupted_run_resumes_only_missing_shards(tiny_model, studies, tmp_path):
    _, recs = studies  # 12 studies, shards of 4 -> 3 shards
    full = embed_studies(tiny_model, recs, batch_size=2, shard_size=4, progress=False)
    tiny_model.calls = 0

    class Boom(Exception):
        pass

    orig = tiny_model.encode_image
    def failing(px):
        if tiny_model.calls >= 2:  # shard 0 = 2 batches succeed, shard 1 fails
            raise Boom
        return orig(px)

    tiny_model.encode_image = failing
    cache = tmp_path / "shards"
    with pytest.raises(Boom):
        embed_studies(tiny_model, recs, batch_size=2, shard_size=4, cache_dir=cache, progress=False)
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == ["shard-00000.safetensors"]
    tiny_model.encode_image, tiny_model.calls = orig, 0
    resumed = embed_studies(tiny_model, recs, batch_size=2, shard_size=4, cache_dir=cache, progress=False)
    assert tiny_model.calls == 4  # shards 1 and 2 only (2 batches each)
    for k in full.spaces:
        np.testing.assert_array_equal(resumed.spaces[k], full.spaces[k])
    # a third run recomputes nothing; a different model recomputes everything
    tiny_model.calls = 0
    embed_studies(tiny_model, recs, batch_size=2, shard_size=4, cache_dir=cache, progress=False)
    assert tiny_model.calls == 0
    from tests.retrieval.tiny_model import TinyModel
    other = TinyModel(seed=1)
    embed_studies(other, recs, batch_size=2, shard_size=4, cache_dir=cache, progress=False)
    assert other.calls == 6


def test_missing_image_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(tmp_path / "nope.png")


def test_lightning_predict_writer_matches_plain_path(tiny_model, studies, tmp_path):
    pytest.importorskip("lightning")
    from radkit.retrieval.embed_lightning import embed_with_lightning

    _, recs = studies
    plain = embed_studies(tiny_model, recs, anatomies=["heart"], batch_size=5, progress=False)
    out = tmp_path / "shards"
    emb = embed_with_lightning(tiny_model, recs, out, anatomies=["heart"], batch_size=5, accelerator="cpu",
                               devices=1, enable_progress_bar=False)
    assert emb.study_ids == plain.study_ids and len(list(out.glob("rank000-batch*.safetensors"))) == 3
    for k in plain.spaces:
        np.testing.assert_allclose(emb.spaces[k], plain.spaces[k], atol=1e-6)
    tiny_model.calls = 0  # a rerun reuses every shard
    embed_with_lightning(tiny_model, recs, out, anatomies=["heart"], batch_size=5, accelerator="cpu", devices=1,
                         enable_progress_bar=False)
    assert tiny_model.calls == 0
