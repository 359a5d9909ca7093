"""Smoke test of benchmarks/quality_reasoner.py's core: data -> SFT -> (more SFT | GRPO) -> per-task evaluation."""

import importlib.util
import math
import sys

import pytest


def _bench(repo_root):
    spec = importlib.util.spec_from_file_location("quality_reasoner", repo_root / "benchmarks" / "quality_reasoner.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["quality_reasoner"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_quality_benchmark_core_runs(repo_root, tmp_path):
    qr = _bench(repo_root)
    cfg = qr.Config(**{**qr.QUICK, "n_studies": 24, "sft_steps": 3, "extra_steps": 1, "max_new_tokens": 24,
                       "max_eval": 4, "max_per_label": 4})
    res = qr.run(cfg, tmp_path, log=lambda m: None)
    assert list(res["models"]) == ["sft", "sft+sft/s0", "sft+grpo/s0"]
    # equal extra compute: continued SFT ran for (about) GRPO's wall-clock and reports its steps
    c = res["compute"]["runs"][0]
    assert c["sft_more_steps"] >= 1 and c["grpo_completions"] == 1 * 2 * 2
    for ev in res["models"].values():
        row = ev["tasks"]["binary_option"]
        assert row["n"] == 4 and row["chance"] == 0.5
        assert 0 <= row["accuracy"] <= 1 and row["format"] == 1 - row["malformed"] / 4
        assert all(not math.isnan(row[c]) for c in ("R_c", "R_f", "R_e", "RadRScore"))
        assert len(ev["correct"]) == 4 and sum(ev["correct"]) == round(row["accuracy"] * 4)
        assert "item_outcomes" not in row and len(ev["radr"]) == 4  # per-item scores moved out of the row
        if row["judged"] == 4:  # RadRScore is linear in the components: the per-item means average to it
            assert sum(ev["radr"]) / 4 == pytest.approx(row["RadRScore"])
    assert res["grpo_rewards"] and "rewards/outcome/mean" in res["grpo_rewards"][0]
    v = qr.verdict(res)
    assert {"sft_format_100", "sft_binary_above_chance", "grpo_beats_sft_accuracy", "grpo_beats_sft_radrscore",
            "grpo_vs_sft_mcnemar"} <= set(v)
    assert v["grpo_beats_sft_accuracy"] == (v["grpo_accuracy"] > v["sft_more_accuracy"])
    assert set(v["seed_mean_p"]) == {"grpo_vs_sft_more", "grpo_vs_start", "sft_more_vs_start"}
    assert all(0 < p <= 1 for p in v["seed_mean_p"].values())
    assert "| sft | binary_option | 4 |" in qr.table(res)
    assert qr.p_above_chance(0.5, 4, 0.5) == 11 / 16 and qr.p_above_chance(1.0, 10, 0.5) < 0.001


def test_paired_and_interval_statistics(repo_root):
    qr = _bench(repo_root)
    assert qr.seed_mean([[1, 0, 1], [0, 0, 1]]) == [0.5, 0.0, 1.0]
    # 10 items all better by 1: only the all-positive flip is as extreme (two-sided: both signs) -> 2 / 1024
    assert qr.paired_permutation([1.0] * 10, [0.0] * 10, draws=200000) == pytest.approx(2 / 1024, rel=0.1)
    # McNemar exact: 2 discordant pairs, both for a -> p = 2 * P(X <= 0 | n=2) = 0.5
    assert qr.mcnemar([1, 1, 0, 1], [0, 0, 0, 1]) == (2, 0, 0.5)
    assert qr.mcnemar([1, 0], [1, 0]) == (0, 0, 1.0)
    # 8 vs 1 discordant: p = 2 * (1 + 9) / 512
    assert abs(qr.mcnemar([1] * 8 + [0], [0] * 8 + [1])[2] - 20 / 512) < 1e-12
    # Wilson interval of 50/100: 0.5 +- 0.0962 (textbook value)
    lo, hi = qr.wilson(0.5, 100)
    assert abs(lo - 0.4038) < 1e-3 and abs(hi - 0.5962) < 1e-3


def test_split_training_is_disjoint_by_study_and_keeps_held_out(repo_root, tmp_path):
    import json

    import pytest

    qr = _bench(repo_root)
    recs = [{"study_id": f"s{i // 2}", "split": "train" if i < 40 else "test", "item_id": str(i)} for i in range(50)]
    src = tmp_path / "vqa.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    a_path, b_path = qr.split_training(src, 0.5, tmp_path)
    a, b = ([json.loads(x) for x in p.read_text().splitlines()] for p in (a_path, b_path))
    train_a = {r["study_id"] for r in a if r["split"] == "train"}
    train_b = {r["study_id"] for r in b if r["split"] == "train"}
    assert train_a and train_b and not train_a & train_b  # a study's items stay on one side
    assert len(train_a) + len(train_b) == 20
    assert [r for r in a if r["split"] == "test"] == [r for r in b if r["split"] == "test"] == recs[40:]
    assert qr.split_training(src, 0.5, tmp_path / "again") and \
        (tmp_path / "again" / "vqa_sft.jsonl").read_text() == a_path.read_text()  # deterministic
    with pytest.raises(ValueError, match="valid: 0 < f < 1"):
        qr.split_training(src, 1.0, tmp_path)


def test_split_training_label_only_pool_drops_report_and_chain(repo_root, tmp_path):
    import json

    qr = _bench(repo_root)
    recs = [{"study_id": f"s{i}", "split": "train" if i < 30 else "val", "answer": "A", "question": "q",
             "original_report": "r", "process": "chain", "gt_findings": [{"finding": "edema"}]} for i in range(36)]
    src = tmp_path / "vqa.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    a, b = ([json.loads(x) for x in p.read_text().splitlines()]
            for p in qr.split_training(src, 0.5, tmp_path, labels_only=True))
    pool = [r for r in b if r["split"] == "train"]
    assert pool and all(r["process"] is None and r["original_report"] is None and r["gt_findings"] is None
                        and r["answer"] == "A" and r["question"] == "q" for r in pool)
    # the SFT share and the held-out items keep their report and chain
    assert all(r["process"] == "chain" and r["original_report"] == "r" for r in a)
    assert all(r["process"] == "chain" for r in b if r["split"] == "val")
    cfg = qr.Config(labels_only_pool=True)  # the pool is the rest of an SFT split: refused without one
    with pytest.raises(ValueError, match="needs sft_fraction < 1"):
        qr.run(cfg, tmp_path / "w", log=lambda m: None)


def test_graded_task_statistics(repo_root):
    qr = _bench(repo_root)
    recs = [{"task": "anomaly", "variant": "no_option", "answer": a, "positives": p, "candidates": ["edema", "pleural effusion"]}
            for a, p in [("none", []), ("none", []), ("edema", ["edema"]), ("edema, pleural effusion",
                                                                             ["edema", "pleural effusion"])]]
    # constant answers: none -> (1+1+0+0)/4 = 0.5; edema -> (0+0+1+2/3)/4 = 5/12; both -> (0+0+2/3+1)/4 = 5/12
    score, answer = qr.best_constant(recs)
    assert answer == "none" and score == 0.5
    # sign-flip test: 10 items all +1 -> one-sided p = P(all flips +) ~ 2^-10 (Monte Carlo, +1 smoothing)
    p = qr.paired_permutation([1.0] * 10, [0.0] * 10, one_sided=True)
    assert p < 0.005
    assert qr.paired_permutation([0.5, 0.2], [0.5, 0.2]) == 1.0
    assert qr.paired_permutation([1, 0] * 20, [0, 1] * 20) > 0.5  # symmetric differences: no evidence
    lo, hi = qr.mean_ci([0.0, 1.0] * 50)  # mean 0.5, sd 0.5025, n 100 -> +- 0.0985
    assert abs(lo - 0.4015) < 1e-3 and abs(hi - 0.5985) < 1e-3


def test_make_data_open_task_and_data_seed(repo_root, tmp_path):
    from radkit.reasoning.vqa import read_jsonl

    qr = _bench(repo_root)
    base = {**qr.QUICK, "n_studies": 40, "tasks": ("binary", "anomaly"), "labels": ("pleural effusion", "edema")}
    path, held = qr.make_data(tmp_path / "a", qr.Config(**base, data_seed=1))
    recs = read_jsonl(path)
    assert {(r["task"], r["variant"]) for r in recs} == {("binary", "option"), ("anomaly", "no_option")}
    assert {r["label"] for r in recs if r["task"] == "binary"} <= {"pleural effusion", "edema"}
    opened = [r for r in recs if r["task"] == "anomaly"]
    assert opened and all(r["candidates"] == ["pleural effusion", "edema"] and r["process"] for r in opened)
    assert {r["task"] for r in held} == {"binary", "anomaly"}
    _, held0 = qr.make_data(tmp_path / "b", qr.Config(**base, data_seed=0))
    assert [r["item_id"] for r in held0] != [r["item_id"] for r in held]  # another split, not the official one


def test_label_only_pool_routes_grpo_and_continued_sft(repo_root, tmp_path, monkeypatch):
    """--labels-only-pool: GRPO trains on the label-only pool, continued SFT on the chain share it already had."""
    import radkit.reasoning.grpo as grpo_mod
    import radkit.reasoning.sft_train as sft_mod

    qr = _bench(repo_root)
    calls: list = []
    real_grpo, real_sft = grpo_mod.train_grpo, sft_mod.train_sft

    def spy_grpo(model, vqa, *a, **k):
        calls.append(("grpo", vqa, k.get("balance_answers")))
        return real_grpo(model, vqa, *a, **k)

    def spy_sft(model, vqa, *a, **k):
        calls.append(("sft", vqa, None))
        return real_sft(model, vqa, *a, **k)

    monkeypatch.setattr(grpo_mod, "train_grpo", spy_grpo)
    monkeypatch.setattr(sft_mod, "train_sft", spy_sft)
    cfg = qr.Config(**{**qr.QUICK, "n_studies": 40, "sft_steps": 2, "extra_steps": 1, "max_new_tokens": 16,
                       "max_eval": 4, "max_per_label": 8, "labels": ("pleural effusion", "edema"),
                       "sft_fraction": 0.5, "labels_only_pool": True, "grpo_balance": True})
    res = qr.run(cfg, tmp_path, log=lambda m: None)
    (_, first, _), (_, pool, balance), (_, more, _) = calls
    assert first.endswith("vqa_sft.jsonl") and more == first  # continued SFT stays on the chain share
    assert pool.endswith("vqa_more.jsonl") and balance is True
    assert "sft+grpo/s0" in res["models"] and "sft+sft/s0" in res["models"]


def _result(data_seed, start, grpo, more):
    models = {"sft": {"correct": start}}
    for k, (g, s) in enumerate(zip(grpo, more)):
        models[f"sft+sft/s{k}"], models[f"sft+grpo/s{k}"] = {"correct": s}, {"correct": g}
    return {"config": {"data_seed": data_seed}, "models": models}


def test_combine_pools_cohorts_after_seed_means(repo_root, capsys, tmp_path):
    """Cohorts pooled: per-cohort seed means, item-weighted pooled means, and the sign-flip test on the
    concatenated per-item seed means (hand-computed values)."""
    import json

    qr = _bench(repo_root)
    a = _result(0, [1, 0, 0, 1], grpo=[[1, 1, 0, 1], [1, 0, 0, 1]], more=[[0, 0, 0, 1], [0, 0, 0, 1]])
    b = _result(5, [0, 1], grpo=[[1, 1]], more=[[0, 1]])
    c = qr.combine([a, b])
    assert [(r["data_seed"], r["n"], r["seeds"]) for r in c["cohorts"]] == [(0, 4, 2), (5, 2, 1)]
    assert c["cohorts"][0]["grpo"] == pytest.approx(2.5 / 4) and c["cohorts"][0]["sft_more"] == 0.25
    # pooled = item-weighted: GRPO items [1, .5, 0, 1, 1, 1], start [1, 0, 0, 1, 0, 1], continued [0, 0, 0, 1, 0, 1]
    assert c["n"] == 6 and c["grpo"] == pytest.approx(4.5 / 6) and c["start"] == 0.5 and c["sft_more"] == pytest.approx(2 / 6)
    assert c["p"]["grpo_vs_sft_more"] == qr.paired_permutation([1, .5, 0, 1, 1, 1], [0, 0, 0, 1, 0, 1])
    assert c["p"]["sft_more_vs_start"] == qr.paired_permutation([0, 0, 0, 1, 0, 1], [1, 0, 0, 1, 0, 1])
    assert "| pooled | 6 |" in qr.combine_table(c)
    with pytest.raises(ValueError, match="extra_seeds"):
        qr.combine([_result(1, [1], grpo=[], more=[])])
    # the CLI mode reads --json files and runs nothing; a missing file is a usage error naming it
    (tmp_path / "a.json").write_text(json.dumps(a))
    assert qr.main(["--combine", str(tmp_path / "a.json")]) == 0
    assert "| 0 | 4 | 2 | 0.500 | 0.625 | 0.250 | +0.375 |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        qr.main(["--combine", str(tmp_path / "nope.json")])
    assert "nope.json" in capsys.readouterr().err
