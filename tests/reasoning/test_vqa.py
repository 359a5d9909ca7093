"""VQA builder: each task's answer matches the ground truth; determinism; label mapping complete."""

import json

import pytest

from radkit.data.manifest import write_manifest
from radkit.reasoning import vqa
from radkit.reasoning.labels import (
    LABEL_MAP, LABELS, NO_FINDING, SINGLE_LABELS, TEMPORAL_LABELS, label_values, observations_from_items,
    observations_from_study,
)
from radkit.reasoning.prompts import LETTERS, THINK_SUFFIX
from radkit.reports.anatomy import FINDINGS


def test_label_mapping_complete():
    assert set(FINDINGS) <= set(LABEL_MAP), "every radkit finding must be mapped (possibly to no label)"
    reached = {lab for labs in LABEL_MAP.values() for lab in labs}
    assert reached == set(LABELS), "every benchmark label must be reachable"
    assert len(LABELS) == 12 and len(SINGLE_LABELS) == 13 and set(TEMPORAL_LABELS) <= set(LABELS)


def test_label_values_rules(studies):
    v = label_values(observations_from_study(studies[4]))
    assert v["consolidation"] == 1 and v["lung opacity"] == 1 and v["lung lesion"] == -1 and v[NO_FINDING] == 0
    assert label_values([])[NO_FINDING] == 1
    # support devices alone do not make a study abnormal (CheXpert convention)
    from radkit.reasoning.labels import Observation
    assert label_values([Observation("support device")])[NO_FINDING] == 1
    assert label_values([Observation("emphysema")])[NO_FINDING] == 0
    items = observations_from_items([{"finding": "effusion", "status": "present", "anatomy": "left pleura"},
                                     {"finding": "unknown thing", "status": "present"}])
    assert [o.finding for o in items] == ["effusion"]


def _truth(studies, rec):
    return label_values(observations_from_study({s.study_id: s for s in studies}[rec["study_id"]]))


def _option_text(rec):
    return rec["options"][LETTERS.index(rec["answer"])]


def test_binary_balanced_and_correct(studies):
    items = vqa.binary_items(studies, seed=0)
    assert items
    for r in items:
        truth = _truth(studies, r)[r["label"]] if r["label"] in _truth(studies, r) else 0
        expected = "Yes" if truth == 1 else "No"
        assert truth in (0, 1), "uncertain labels must not be sampled"
        assert r["answer_content"] == expected
        if r["variant"] == "option":
            assert r["question"].endswith(" Options:\nA) Yes\nB) No") and _option_text(r) == expected
        else:
            assert r["answer"] == expected and "Options" not in r["question"]
    opt = [r for r in items if r["variant"] == "option"]
    for lab in {r["label"] for r in opt}:
        answers = [r["answer"] for r in opt if r["label"] == lab]
        assert answers.count("A") == answers.count("B")


def test_single_correct(studies):
    for r in vqa.single_items(studies, seed=3, variants=["option"]):
        truth = _truth(studies, r)
        assert len(r["options"]) == 4 and len(set(r["options"])) == 4
        assert truth.get(_option_text(r)) == 1
        for o in r["options"]:
            if o != _option_text(r):
                assert truth.get(o, 0) == 0, "distractors must be clear negatives"


def test_multi_and_anomaly_correct(studies):
    items = vqa.multi_items(studies, seed=1)
    multi = [r for r in items if r["task"] == "multi"]
    anomaly = [r for r in items if r["task"] == "anomaly"]
    assert multi and len(multi) == len(anomaly)
    for r in multi:
        pos = [lab for lab in LABELS if _truth(studies, r).get(lab) == 1]
        assert 2 <= len(pos) <= 5
        assert _option_text(r).split(", ") == pos
        assert len({o for o in r["options"]}) == 4 and all(len(o.split(", ")) == len(pos) for o in r["options"])
    for r in anomaly:
        assert r["answer"].split(", ") == r["positives"] and r["options"] == []


def test_temporal_correct(studies):
    items = vqa.temporal_items(studies, seed=0)
    assert {r["label"] for r in items} == {"pleural effusion"}
    r = [x for x in items if x["variant"] == "option"][0]
    assert r["answer"] == "B" and r["answer_content"] == "worsening"  # "worse" -> worsening
    assert r["image_path"] == ["img/s2.png", "img/s3.png"]  # reference first


def test_deterministic_and_seed_dependent(studies):
    a = vqa.make_items(studies, seed=5)
    b = vqa.make_items(list(reversed(studies)), seed=5)
    key = lambda r: r["item_id"]  # noqa: E731
    assert sorted(a, key=key) == sorted(b, key=key)
    c = vqa.make_items(studies, seed=6)
    assert [r["question"] for r in a] != [r["question"] for r in c]
    assert len({r["item_id"] for r in a}) == len(a)


def test_unknown_task_errors(studies):
    with pytest.raises(ValueError, match="valid: binary"):
        vqa.make_items(studies, tasks=["nope"])


def test_build_vqa_writes_records_with_chains(studies, tmp_path):
    m = tmp_path / "manifest.jsonl"
    write_manifest(studies, m)
    path = vqa.build_vqa(m, tmp_path / "vqa", seed=0)
    recs = vqa.read_jsonl(path)
    assert recs and all(r["process"] for r in recs)
    for key in ("item_id", "image_path", "question", "answer", "dataset_name", "process", "original_report",
                "reason_steps"):
        assert key in recs[0]
    assert THINK_SUFFIX == ("Let's think step by step. Enclose the reasoning within <think></think> and the "
                            "answer within <answer></answer>.")
    summary = json.loads((tmp_path / "vqa" / "summary.json").read_text())
    assert sum(summary["counts"].values()) == len(recs)
    assert summary["mining"]["failed"] == 0 and summary["observed_from"] == "truth"
