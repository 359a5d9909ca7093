"""`radkit reason ...` through radkit.cli.main: build-vqa, score, answer, predict, sft with the shipped config."""

import json

import yaml

from radkit.cli import main
from radkit.data.manifest import write_manifest


def test_build_vqa_and_score_cli(studies, tmp_path, capsys):
    write_manifest(studies, tmp_path / "m.jsonl")
    assert main(["reason", "build-vqa", str(tmp_path / "m.jsonl"), "--out", str(tmp_path / "vqa")]) == 0
    recs = [json.loads(x) for x in (tmp_path / "vqa" / "vqa.jsonl").read_text().splitlines()]
    # Perfect predictions: the mined chain and the right answer -> accuracy 1, factuality 1.
    preds = [{**r, "pred": f"<think> {r['process']} </think><answer> {r['answer']} </answer>"} for r in recs]
    (tmp_path / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    assert main(["reason", "score", str(tmp_path / "preds.jsonl"), "--out", str(tmp_path / "s.json")]) == 0
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["macro"]["accuracy"] == 1.0 and res["macro"]["R_f"] == 1.0
    assert "binary_option" in capsys.readouterr().out


def test_score_takes_several_files_as_words(tmp_path, capsys):
    """`radkit reason score a.jsonl b.jsonl` (a shell glob) = the comma form; options may sit between."""
    ok = {"task": "binary", "variant": "option", "answer": "A", "pred": "<think> x </think><answer> A </answer>"}
    (tmp_path / "a.jsonl").write_text(json.dumps(ok) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({**ok, "pred": "<think> x </think><answer> B </answer>"}) + "\n")
    a, b = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    assert main(["reason", "score", a, "--out", str(tmp_path / "w.json"), b]) == 0
    assert main(["reason", "score", f"{a},{b}", "--out", str(tmp_path / "c.json")]) == 0
    words, comma = (json.loads((tmp_path / f).read_text()) for f in ("w.json", "c.json"))
    assert words == comma and words["macro"]["accuracy"] == 0.5  # both files' records, one right
    assert main(["reason", "score", a, str(tmp_path / "missing.jsonl")]) == 1
    assert "missing.jsonl" in capsys.readouterr().err


def test_score_bad_judge_is_one_line_error(tmp_path, capsys):
    (tmp_path / "p.jsonl").write_text("{}\n")
    assert main(["reason", "score", str(tmp_path / "p.jsonl"), "--judge", "gpt"]) == 1
    assert "valid: offline, recorded, llm" in capsys.readouterr().err


def test_answer_and_predict_cli(tiny_model_dir, vqa_dir, tmp_path, capsys):
    img = json.loads((vqa_dir / "vqa.jsonl").read_text().splitlines()[0])["image_path"][0]
    assert main(["reason", "answer", "Edema?", "--model", str(tiny_model_dir), "--image", img,
                 "--image_size", "56", "--max_new_tokens", "4"]) == 0
    assert capsys.readouterr().out.endswith("\n")
    assert main(["reason", "predict", str(vqa_dir / "vqa.jsonl"), "--model", str(tiny_model_dir),
                 "--out", str(tmp_path / "p.jsonl"), "--image_size", "56", "--max_new_tokens", "4",
                 "--max_items", "2"]) == 0
    preds = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(preds) == 2 and all("pred" in p for p in preds)
    assert main(["reason", "score", str(tmp_path / "p.jsonl")]) == 0  # malformed outputs counted, no crash


def test_shipped_configs_match_signatures(repo_root):
    import inspect

    from radkit.reasoning.grpo import train_grpo
    from radkit.reasoning.sft_train import train_sft

    for name, fn in (("reason_sft.yaml", train_sft), ("reason_grpo.yaml", train_grpo)):
        cfg = yaml.safe_load((repo_root / "configs" / name).read_text())
        params = inspect.signature(fn).parameters
        assert set(cfg) <= set(params), set(cfg) - set(params)


def test_sft_cli_with_config(tiny_model_dir, vqa_dir, tmp_path, repo_root):
    rc = main(["reason", "sft", "--config", str(repo_root / "configs" / "reason_sft.yaml"),
               "--model", str(tiny_model_dir), "--vqa", str(vqa_dir / "vqa.jsonl"), "--out_dir", str(tmp_path / "o"),
               "--max_steps", "1", "--batch_size", "2", "--global_batch", "2", "--precision", "32-true",
               "--image_size", "56", "--accelerator", "cpu", "--devices", "1", "--task_weights", "null"])
    assert rc == 0 and (tmp_path / "o" / "model.safetensors").exists()


def test_build_vqa_from_reports_cli(studies, tmp_path):
    """--observe report labels the studies from their report text (ground truth removed)."""
    for s in studies:
        s.findings = []
    write_manifest(studies, tmp_path / "m.jsonl")
    assert main(["reason", "build-vqa", str(tmp_path / "m.jsonl"), "--out", str(tmp_path / "vqa"),
                 "--observe", "report"]) == 0
    recs = [json.loads(x) for x in (tmp_path / "vqa" / "vqa.jsonl").read_text().splitlines()]
    eff = [r for r in recs if r["task"] == "binary" and r["label"] == "pleural effusion" and r["variant"] == "option"]
    assert {r["study_id"] for r in eff if r["answer"] == "A"} <= {"s1", "s2", "s3"} and eff
    assert all(r["observed_from"] == "report" and r["process"] for r in recs)
    assert main(["reason", "build-vqa", str(tmp_path / "m.jsonl"), "--out", str(tmp_path / "v2"),
                 "--observe", "gold"]) == 1


def test_evaluate_cli_writes_json_and_html(tiny_model_dir, vqa_dir, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["reason", "evaluate", str(vqa_dir / "vqa.jsonl"), "--model", str(tiny_model_dir), "--out", str(out),
                 "--split", "train", "--image_size", "56", "--max_new_tokens", "6", "--max_items", "6"]) == 0
    res = json.loads((out / "scores.json").read_text())
    preds = [json.loads(x) for x in (out / "preds.jsonl").read_text().splitlines()]
    assert len(preds) == 6 and sum(r["n"] for r in res["tasks"].values()) == 6
    for row in res["tasks"].values():
        assert 0 <= row["chance"] <= 1 and row["format"] == 1 - row["malformed"] / row["n"]
    page = (out / "summary.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page.split("<body>")[1]
    assert all(name in page for name in res["tasks"])
    assert "chance" in capsys.readouterr().out
    assert main(["reason", "evaluate", str(vqa_dir / "vqa.jsonl"), "--model", str(tiny_model_dir),
                 "--split", "nope"]) == 1
