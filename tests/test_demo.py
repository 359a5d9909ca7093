"""The fast demo runs the whole chain and its outputs are usable; a rerun reuses every step."""

import json

from radkit.data.validate import validate_manifest
from radkit.retrieval import Retriever


def test_demo_outputs(demo_run):
    out, paths = demo_run
    for key in ("manifest_cxr", "manifest_ct", "tables_cxr", "stage1_cxr", "stage2_cxr", "index_cxr", "eval_cxr",
                "vqa", "reasoner_sft"):
        assert key in paths, key
    assert validate_manifest(paths["manifest_ct"]).ok
    metrics = json.loads((out / "eval-cxr" / "metrics.json").read_text())
    i2i = metrics["unconditional"]["i2i"]
    assert 0.0 <= i2i["ndcg@10"] <= 1.0 and i2i["n_queries"] > 0
    html = (out / "eval-cxr" / "report.html").read_text()
    assert "<html" in html.lower() and "ndcg" in html.lower()
    r = Retriever.load(paths["index_cxr"])
    assert len(r) == 32


def test_duplicate_query_finds_itself_first(demo_run):
    from radkit.data.manifest import read_manifest

    out, paths = demo_run
    studies = read_manifest(paths["manifest_cxr"])
    r = Retriever.load(paths["index_cxr"])
    for s in studies[:3]:
        hits = r.search(image=s.image_paths[0], k=3)
        assert hits[0].study_id == s.study_id and hits[0].score > 0.99


def test_rerun_reuses_every_step(demo_run, capsys):
    from radkit.cli import main

    out, _ = demo_run
    assert main(["demo", "--out", str(out), "--fast", "true"]) == 0
    text = capsys.readouterr().out
    assert text.count("reusing ") >= 9 and " done in " not in text
