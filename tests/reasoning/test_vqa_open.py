"""Open anomaly detection over a restricted label space: gold subsets, balance, chains, scoring."""

import pytest

from radkit.reasoning import vqa
from radkit.reasoning.mining import OfflineTeacher, mine_items
from radkit.reasoning.outcome import outcome_score
from radkit.reasoning.vqa_open import NONE_ANSWER, open_items

SPACE = ("pleural effusion", "edema")


def test_gold_is_the_present_subset_and_negatives_balance_positives(studies):
    items = open_items(studies, seed=0, label_space=SPACE)
    by_id = {r["study_id"]: r for r in items}
    # s1: right effusion; s2: cardiomegaly + edema + effusion; s3: effusion (pneumothorax absent)
    assert by_id["s1"]["answer"] == "pleural effusion" and by_id["s1"]["positives"] == ["pleural effusion"]
    assert by_id["s2"]["answer"] == "pleural effusion, edema"  # label-space order, not the report's
    assert by_id["s3"]["positives"] == ["pleural effusion"]
    pos = [r for r in items if r["positives"]]
    neg = [r for r in items if not r["positives"]]
    assert len(pos) == 3 and len(neg) == 3  # 5 studies without either label; 3 drawn to match
    assert all(r["answer"] == NONE_ANSWER for r in neg)
    for r in items:
        assert r["task"] == "anomaly" and r["variant"] == "no_option" and r["options"] == []
        assert r["candidates"] == list(SPACE) and "pleural effusion, edema?" in r["question"]


def test_deterministic_by_seed_and_input_order(studies):
    a = open_items(studies, seed=3, label_space=SPACE)
    assert a == open_items(list(reversed(studies)), seed=3, label_space=SPACE)
    negs = {tuple(r["study_id"] for r in open_items(studies, seed=s, label_space=SPACE) if not r["positives"])
            for s in range(8)}
    assert len(negs) > 1  # the negative sample depends on the seed


def test_uncertain_study_is_skipped_and_bad_labels_rejected(studies):
    items = open_items(studies, seed=0, label_space=("lung lesion",))
    assert "s4" not in {r["study_id"] for r in items}  # s4's nodule is uncertain: no clean gold set
    with pytest.raises(ValueError, match="unknown \\['effusion'\\]"):
        open_items(studies, seed=0, label_space=("effusion",))


def test_make_items_routes_anomaly_and_chain_reasons_about_each_label(studies):
    items = vqa.make_items(studies, seed=0, tasks=["anomaly"], variants=["no_option"], open_labels=SPACE)
    assert items and all(r["candidates"] == list(SPACE) for r in items) and all("gt_findings" in r for r in items)
    full = vqa.make_items(studies, seed=0, tasks=["anomaly"], variants=["no_option"])
    assert all(len(r["positives"]) >= 2 for r in full)  # without open_labels: the release's open task
    by_id = {s.study_id: s for s in studies}
    mined, stats = mine_items(items, by_id, OfflineTeacher())
    assert stats["failed"] == 0
    s2 = next(r for r in mined if r["study_id"] == "s2")
    assert "consistent with pleural effusion" in s2["process"] and "consistent with edema" in s2["process"]
    assert s2["process"].endswith("the final answer is pleural effusion, edema.")


def test_set_f1_outcome_on_open_items(studies):
    s2 = next(r for r in open_items(studies, seed=0, label_space=SPACE) if r["study_id"] == "s2")
    neg = next(r for r in open_items(studies, seed=0, label_space=SPACE) if not r["positives"])
    assert outcome_score("pleural effusion, edema", s2) == 1.0
    assert abs(outcome_score("edema", s2) - 2 / 3) < 1e-12  # P 1, R 1/2
    assert outcome_score(NONE_ANSWER, s2) == 0.0
    assert outcome_score(NONE_ANSWER, neg) == 1.0 and outcome_score("edema", neg) == 0.0
