"""Smoke run of benchmarks/quality_synthetic.py's core (`run_quality`) on a tiny CXR cohort (CT runs the
same code with another synth size; it is left to the benchmark to stay under 30 s): the table has every
protocol cell for both models, values are in [0, 1], the win count parses."""

import importlib.util
import re
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_synthetic.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("quality_synthetic", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_has_every_cell(bench, tmp_path, tiny_text):
    res = bench.run_quality(tmp_path / "run", modalities=("cxr",), seeds=(0,), steps=2, n=48, batch_size=8,
                            model_overrides={"text": tiny_text}, log=lambda *_: None, data_seed=1)
    for mod in ("cxr",):
        cells = res["cells"][mod]
        for task in ("image->image", "image->report", "report->image"):
            for k in (1, 5, 10):
                assert f"{task} recall@{k}" in cells
        for k in (5, 10):
            assert f"image->image ndcg@{k}" in cells and f"image->report ndcg@{k}" in cells
        if res["counts"][mod]["anatomies"]:
            for kind in ("conditional", "uncond@anatomy"):
                assert {f"{kind} {m}@{k}" for m in ("recall", "ndcg") for k in (3, 5, 10)} <= set(cells)
        for v in cells.values():
            assert set(v) == {"radir-tiny", "clip-baseline"}
            assert all(0.0 <= x <= 1.0 for x in v.values())
    assert res["counts"]["cxr"]["test_studies"] > 0
    table = bench.format_table(res)
    wins, total = map(int, re.search(r"RadIR ahead on (\d+)/(\d+) cells", table).groups())
    assert total == len(bench.compared_cells(res)) and 0 <= wins <= total
    # data_seed picks the cohort (a dev cohort for choosing settings off the reported split)
    from radkit.data.manifest import read_manifest

    reports = [s.report for s in read_manifest(tmp_path / "run" / "synth-cxr" / "manifest.jsonl")]
    for seed in (0, 1):
        manifest, _ = bench.prepare_data(tmp_path / f"d{seed}", "cxr", 48, seed=seed)
        assert ([s.report for s in read_manifest(manifest)] == reports) == (seed == 1)


def test_staged_schedule_trains_only_the_decoder_in_stage_2(bench, tmp_path, tiny_text):
    """The benchmark's default RadIR schedule: stage 1 then stage 2 from the stage-1 folder; stage 2 changes the
    decoder and nothing else (encoders, projections, logit scale and norm statistics are frozen)."""
    from safetensors.torch import load_file

    manifest, tables = bench.prepare_data(tmp_path, "cxr", 48)
    final = bench.train_one("radir-tiny", "cxr", manifest, tables, tmp_path / "runs", 0, 2, 8, {"text": tiny_text})
    first = final.parent.parent / "stage1" / "model"
    a, b = load_file(first / "model.safetensors"), load_file(final / "model.safetensors")
    assert a.keys() == b.keys()
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)
    with pytest.raises(ValueError, match="valid: staged, joint"):
        bench.train_one("radir-tiny", "cxr", manifest, tables, tmp_path / "x", 0, 2, 8, {"text": tiny_text}, "mixed")
