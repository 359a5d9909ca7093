"""Protocols on a tiny RadIR-layout folder: equal to direct metric calls; index source = model source."""

import csv
import json

import numpy as np
import pytest
import torch

from radkit.evaluation.metrics import identity_metrics, retrieval_metrics
from radkit.evaluation.protocol import evaluate
from radkit.evaluation.report import write_report
from radkit.retrieval.embed import load_image
from tests.retrieval.tiny_model import TinyModel, make_studies

SPEC = "tests.retrieval.tiny_model:TinyModel"


@pytest.fixture
def radir(tmp_path):
    """RadIR layout: test.jsonl/.npy + anatomy/test_entity/heart.csv + anatomy/test_ratescore/heart.npy."""
    _, recs = make_studies(tmp_path / "img", n=12)
    root = tmp_path / "tables"
    (root / "anatomy" / "test_entity").mkdir(parents=True)
    (root / "anatomy" / "test_ratescore").mkdir(parents=True)
    with open(root / "test.jsonl", "w") as f:
        for s in recs:
            f.write(json.dumps({"name": s.study_id, "img_path": s.image_paths[0], "text": s.report}) + "\n")
    rng = np.random.default_rng(0)
    s = rng.random((12, 12)) ** 0.3
    np.save(root / "test.npy", ((s + s.T) / 2).astype(np.float32))
    members = [0, 2, 3, 5, 7, 8, 11]  # anatomy table rows, in csv order
    with open(root / "anatomy" / "test_entity" / "heart.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["File Path"])
        w.writerows([[recs[i].study_id] for i in members])
    sa = np.full((7, 7), 0.5, np.float32)
    sa[0, 1] = 0.95        # asymmetric entry: symmetrised by max -> rows 0 and 1 are partners
    sa[2, 3] = sa[3, 2] = 0.97
    sa[4, 5] = sa[5, 4] = 0.92  # row 6 has no partner > 0.9: removed
    np.fill_diagonal(sa, 1.0)
    np.save(root / "anatomy" / "test_ratescore" / "heart.npy", sa)
    return root, recs, members, sa


def test_protocol_matches_direct_metrics(radir, tmp_path):
    root, recs, members, sa = radir
    res = evaluate(root, model=SPEC, ks_unconditional=(1, 5), ks_conditional=(1, 3), progress=False)
    m = TinyModel()
    px = torch.stack([m.preprocess_image(load_image(s.image_paths[0])) for s in recs])
    img = m.encode_image(px).numpy()
    rep = m.encode_text([s.report for s in recs]).numpy()
    s_glob = np.rint(np.clip(np.load(root / "test.npy"), 0, 1) * 100) / 100  # uint8-percent storage
    ref = retrieval_metrics(img @ img.T, s_glob, (1, 5), exclude_self=True)
    for k in ("recall@1", "recall@5", "ndcg@5", "map", "ratescore@5"):
        assert res["unconditional"]["i2i"][k] == pytest.approx(ref[k], abs=1e-6)
    assert res["unconditional"]["i2r"]["recall@5"] == pytest.approx(identity_metrics(img @ rep.T, (5,))["recall@5"])
    assert res["conditional"]["removed"] == {"heart": 1}
    keep = members[:6]
    sym = np.maximum(sa, sa.T)[:6, :6].astype(np.float64)
    z = m.encode_image_anatomy(px[keep], ["heart"] * 6).numpy()
    ref_c = retrieval_metrics(z @ z.T, np.rint(sym * 100) / 100, (1, 3), exclude_self=True)
    got = res["conditional"]["per_anatomy"]["heart"]
    assert got["n_queries"] == 6 and got["recall@1"] == pytest.approx(ref_c["recall@1"])
    assert res["conditional"]["mean"]["recall@3"] == pytest.approx(ref_c["recall@3"])
    # the same numbers from embeddings stored in an index built over the same studies
    from radkit.retrieval.build import build_index

    idx = build_index(SPEC, recs, tmp_path / "idx", anatomies=["heart"], progress=False)
    res2 = evaluate(root, index_dir=idx, ks_unconditional=(1, 5), ks_conditional=(1, 3), progress=False)
    assert res2["unconditional"]["i2i"]["ndcg@5"] == pytest.approx(res["unconditional"]["i2i"]["ndcg@5"], abs=1e-6)
    assert res2["conditional"]["mean"]["recall@3"] == pytest.approx(res["conditional"]["mean"]["recall@3"])
    # report: JSON + self-contained HTML, two results side by side
    js, page = write_report([res, res2], tmp_path / "rep")
    assert len(json.loads(js.read_text())) == 2
    text = page.read_text()
    assert "data:image/png;base64" in text and "heart" in text and "<script src" not in text


def test_evaluate_cli(radir, tmp_path, capsys):
    from radkit.cli import main

    root, *_ = radir
    assert main(["evaluate", "--model", SPEC, "--tables", str(root), "--out", str(tmp_path / "ev")]) == 0
    assert "cond R@3" in capsys.readouterr().out
    assert (tmp_path / "ev" / "report.html").is_file()
    assert main(["evaluate", "--model", SPEC, "--tables", str(root), "--out", str(tmp_path / "ev2"),
                 "--anatomies", "[lungz]"]) == 1
    assert "available: ['heart']" in capsys.readouterr().err


def test_index_without_an_anatomy_sub_index_skips_it(radir, tmp_path):
    """Tables for heart and left lung, an index with heart only: left lung is skipped with a reason."""
    import shutil

    from radkit.retrieval.build import build_index

    root, recs, _, _ = radir
    for sub, ext in (("test_entity", "csv"), ("test_ratescore", "npy")):
        shutil.copy(root / "anatomy" / sub / f"heart.{ext}", root / "anatomy" / sub / f"left lung.{ext}")
    idx = build_index(SPEC, recs, tmp_path / "idx", anatomies=["heart"], progress=False)
    res = evaluate(root, index_dir=idx, ks_unconditional=(1, 5), ks_conditional=(1, 3), progress=False)
    cond = res["conditional"]
    assert list(cond["per_anatomy"]) == ["heart"] and list(cond["skipped"]) == ["left lung"]
    assert "no 'anatomy:left lung' sub-index" in cond["skipped"]["left lung"]
    assert "--anatomies" in cond["skipped"]["left lung"] and "['heart']" in cond["skipped"]["left lung"]
    assert cond["mean"]["recall@3"] == pytest.approx(cond["per_anatomy"]["heart"]["recall@3"])
    # a model embeds any anatomy: both evaluated, nothing skipped; left lung = heart (same tables)
    by_model = evaluate(root, model=SPEC, ks_unconditional=(1, 5), ks_conditional=(1, 3), progress=False)
    assert sorted(by_model["conditional"]["per_anatomy"]) == ["heart", "left lung"]
    assert by_model["conditional"]["skipped"] == {}
    assert by_model["conditional"]["per_anatomy"]["heart"]["recall@3"] == pytest.approx(cond["per_anatomy"]["heart"]["recall@3"])
    js, page = write_report([res], tmp_path / "rep")
    assert "skipped" in page.read_text() and "left lung" in page.read_text()
