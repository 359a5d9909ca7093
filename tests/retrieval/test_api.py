"""Retriever: every query direction equals brute-force search over the model's own embeddings."""

import numpy as np
import pytest
import torch

from radkit.retrieval import Hit, Retriever, build_index
from radkit.retrieval.build import add_to_index, remove_from_index
from radkit.retrieval.embed import load_image

SPEC = "tests.retrieval.tiny_model:TinyModel"


@pytest.fixture
def built(studies, tmp_path):
    manifest, recs = studies
    out = build_index(SPEC, manifest, tmp_path / "idx", recipe="flat", anatomies=["heart", "left lung"],
                      batch_size=5, progress=False)
    return Retriever.load(out), recs


def _brute(query: np.ndarray, base: np.ndarray, k: int):
    sims = base @ query
    order = np.argsort(-sims, kind="stable")[:k]
    return order, sims[order]


def test_image_to_image_and_image_to_report(built, tiny_model):
    r, recs = built
    px = torch.stack([tiny_model.preprocess_image(load_image(s.image_paths[0])) for s in recs])
    img = tiny_model.encode_image(px).numpy()
    rep = tiny_model.encode_text([s.report for s in recs]).numpy()
    hits = r.search(image=recs[3].image_paths[0], k=4)
    assert all(isinstance(h, Hit) for h in hits) and [h.rank for h in hits] == [1, 2, 3, 4]
    assert hits[0].study_id == "s003" and hits[0].score == pytest.approx(1.0, abs=1e-5) and hits[0].score <= 1.0
    order, sims = _brute(img[3], img, 4)
    assert [h.study_id for h in hits] == [recs[i].study_id for i in order]
    np.testing.assert_allclose([h.score for h in hits], np.clip(sims, -1, 1), atol=1e-5)
    assert hits[1].report == recs[order[1]].report and hits[1].image_path == recs[order[1]].image_paths[0]
    # image -> report
    hits = r.search(image=recs[3].image_paths[0], k=3, target="report")
    order, _ = _brute(img[3], rep, 3)
    assert [h.study_id for h in hits] == [recs[i].study_id for i in order] and hits[0].target == "report"
    # report -> image (text query), and an array query equals the path query
    hits = r.search(text="left effusion nodule", k=3)
    order, _ = _brute(tiny_model.encode_text(["left effusion nodule"]).numpy()[0], img, 3)
    assert [h.study_id for h in hits] == [recs[i].study_id for i in order]
    arr = load_image(recs[5].image_paths[0]).array
    assert [h.study_id for h in r.search(image=arr, k=3)] == [h.study_id for h in r.search(image=recs[5].image_paths[0], k=3)]


def test_anatomy_conditioned_and_filters(built, tiny_model):
    r, recs = built
    px = torch.stack([tiny_model.preprocess_image(load_image(s.image_paths[0])) for s in recs])
    heart = tiny_model.encode_image_anatomy(px, ["heart"] * len(recs)).numpy()
    hits = r.search(image=recs[2].image_paths[0], anatomy="heart", k=5)
    order, _ = _brute(heart[2], heart, 5)
    assert [h.study_id for h in hits] == [recs[i].study_id for i in order] and hits[0].anatomy == "heart"
    # where filter = brute force over the test split only
    test_rows = [i for i, s in enumerate(recs) if s.split == "test"]
    hits = r.search(image=recs[2].image_paths[0], anatomy="heart", k=10, where={"split": "test"})
    order, _ = _brute(heart[2], heart[test_rows], 10)
    assert [h.study_id for h in hits] == [recs[test_rows[i]].study_id for i in order]
    assert len(r.search(image=recs[0].image_paths[0], k=10, where="study_date >= '2015'")) == \
        sum(s.study_date >= "2015" for s in recs)
    # batched = one by one
    many = r.search_many(images=[s.image_paths[0] for s in recs[:3]], k=3)
    assert [[h.study_id for h in hs] for hs in many] == \
        [[h.study_id for h in r.search(image=s.image_paths[0], k=3)] for s in recs[:3]]
    plans = r.explain(["heart", "pleura"], where={"split": "test"})
    assert plans[0]["available"] and plans[0]["path"] == "exact-subset" and plans[0]["selected"] == len(test_rows)
    assert not plans[1]["available"] and "pleura" in plans[1]["reason"]


def test_bad_queries_are_clear(built, tmp_path):
    r, recs = built
    with pytest.raises(KeyError, match="closest.*'heart'.*valid names:.*'left lower lobe'") as e:
        r.search(image=recs[0].image_paths[0], anatomy="hart")
    assert "built: ['heart', 'left lung']" in str(e.value)
    with pytest.raises(KeyError, match="no sub-index.*--anatomies"):
        r.search(image=recs[0].image_paths[0], anatomy="pleura")
    with pytest.raises(ValueError, match="not both"):
        r.search(image=recs[0].image_paths[0], text="x")
    with pytest.raises(ValueError, match="anatomy-conditioned"):
        r.search(text="x", anatomy="heart")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        r.search(image=tmp_path / "missing.png")
    from tests.retrieval.tiny_model import TinyModel
    with pytest.raises(ValueError, match="does not match index"):
        Retriever.load(r.index_dir, model=TinyModel(seed=1))
    # wrong modality: a CT volume (NIfTI header) against this CXR index, refused before encoding
    import nibabel as nib
    ct = tmp_path / "ct.nii.gz"
    vol = np.random.default_rng(0).integers(-1000, 1200, (16, 16, 8)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), ct)
    with pytest.raises(ValueError, match=r"ct.nii.gz has modality 'ct' but index .* holds 'cxr'"):
        r.search(image=ct)
    # dimension mismatch of precomputed query vectors
    with pytest.raises(ValueError, match=r"queries must be \(Q, 32\), got \(2, 16\).*model that built"):
        r.search_vectors(np.zeros((2, 16), np.float32))


def test_add_and_remove_through_api(built, tmp_path):
    from tests.retrieval.tiny_model import make_studies

    r, recs = built
    manifest2, new = make_studies(tmp_path / "more", n=3, seed=5)
    for s in new:
        s.study_id = "new-" + s.study_id
    assert add_to_index(r.index_dir, new, progress=False) == 3
    r2 = Retriever.load(r.index_dir)
    assert len(r2) == 15 and r2.search(image=new[1].image_paths[0], k=1)[0].study_id == "new-s001"
    assert len(r2.store.spaces["anatomy:heart"]) == 15 and len(r2.store.spaces["report"]) == 15
    assert remove_from_index(r.index_dir, ["new-s001"]) == 1
    r3 = Retriever.load(r.index_dir)
    assert "new-s001" not in {h.study_id for h in r3.search(image=new[1].image_paths[0], k=15)}


def test_real_radir_tiny_model(studies, tmp_path):
    """The training helper's radir-tiny: built index saves the (random) model inside and reloads it."""
    pytest.importorskip("radkit.models")
    from radkit.models import create_model

    manifest, recs = studies
    model = create_model("radir-tiny").eval()
    out = build_index(model, recs[:6], tmp_path / "idx", anatomies=["right lung"], progress=False)
    assert (out / "model").is_dir()
    r = Retriever.load(out)  # model=None: loads out/model and checks the fingerprint
    assert r.model.fingerprint() == model.fingerprint()
    assert len(r.info()["preprocessing_hash"]) == 16 and r.info()["anatomies"] == ["right lung"]
    hits = r.search(image=recs[4].image_paths[0], k=3)
    assert hits[0].study_id == recs[4].study_id and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert r.search(image=recs[4].image_paths[0], anatomy="right lung", k=1)[0].study_id == recs[4].study_id
    assert len(r.search(text="pleural effusion", k=6)) == 6
    # a CT volume against a CXR index: the model refuses it, naming both modalities
    import nibabel as nib
    ct = tmp_path / "ct.nii.gz"
    vol = np.random.default_rng(0).integers(-1000, 1200, (16, 16, 8)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), ct)
    with pytest.raises(ValueError, match="modality 'ct'.*'cxr'"):
        r.search(image=ct)


def test_empty_index_and_dimension_mismatch(built):
    r, recs = built
    remove_from_index(r.index_dir, [s.study_id for s in recs])
    empty = Retriever.load(r.index_dir)
    with pytest.raises(ValueError, match="is empty"):
        empty.search(image=recs[0].image_paths[0])
    with pytest.raises(ValueError, match=r"must be \(n, 32\)"):
        empty.store.spaces["image"].add(np.zeros((2, 8), np.float32), np.arange(2))
