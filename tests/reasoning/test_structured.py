"""VQA and the offline judge from report text (the structurer) agree with the ground-truth path
on synthetic studies, so real reports without ground truth can be used."""

import random

import pytest

from radkit.data.synth import synthesize_arrays
from radkit.reasoning import vqa
from radkit.reasoning.extract import reference_from_report
from radkit.reasoning.labels import make_observer, observations_from_report, observations_from_study
from radkit.reasoning.mining import OfflineTeacher, mine_items
from radkit.reasoning.radrscore import OfflineJudge, reference_of


@pytest.fixture(scope="module")
def cohort():
    return {m: synthesize_arrays(m, n=120, seed=1, size=(32, 32) if m == "cxr" else (16, 16, 16))[1]
            for m in ("cxr", "ct")}


def _key(r):
    return r["question"], r["answer"], r["answer_content"], tuple(r["image_path"])


@pytest.mark.parametrize("modality", ["cxr", "ct"])
def test_vqa_from_reports_matches_ground_truth(cohort, modality):
    studies = cohort[modality]
    truth = {r["item_id"]: _key(r) for r in vqa.make_items(studies, seed=0, observe="truth")}
    rep_items = vqa.make_items(studies, seed=0, observe="report")
    report = {r["item_id"]: _key(r) for r in rep_items}
    same = sum(truth[k] == report.get(k) for k in truth)
    # Observed (2026-11, this cohort: synth seed 1, n=120): CXR 1298/1300 items identical (99.85%; the
    # misses are temporal items whose change word the structurer reads differently), CT 1196/1196 (100%).
    # With n=300: CXR 2838/2842 (99.86%), CT 3074/3074.
    assert same / len(truth.keys() | report.keys()) >= 0.95, (same, len(truth), len(report))
    assert {r["observed_from"] for r in rep_items} == {"report"}


def test_report_observer_reads_text_not_findings(cohort):
    s = cohort["cxr"][0]
    blank = type(s)(**{**s.__dict__, "findings": []})  # no ground truth at all, as for real data
    assert observations_from_report(blank) == observations_from_report(s)
    positives = {o.finding for o in observations_from_study(s) if o.status == "present"}
    assert positives <= {o.finding for o in observations_from_report(blank) if o.status == "present"}
    with pytest.raises(ValueError, match="valid: truth, report"):
        make_observer("gold")


def test_structured_reference_reads_negation_and_label_keys():
    ref = reference_from_report("FINDINGS: Small left pleural effusion. No pneumothorax. "
                                "Right lower lobe opacity, concerning for pneumonia.", "cxr")
    assert ref["effusion"] == "present" and ref["pneumothorax"] == "absent"
    assert ref.get("pneumonia") in ("present", "uncertain") and "lung opacity" in ref


def test_offline_judge_from_report_matches_ground_truth_reference(cohort):
    """RadRScore of mined chains with the report read by the structurer vs. the ground-truth reference.

    Observed (synth cxr seed 2, n=120, 1300 items): faithful chains R_c/R_f/R_e 1.000/0.984/0.977 with the
    ground-truth reference and 1.000/0.985/0.977 from the report; chains of random other items
    0.115/0.525/0.358 vs 0.115/0.526/0.358.
    """
    studies = cohort["cxr"]
    items = vqa.make_items(studies, seed=0, tasks=["binary", "single", "multi"])
    recs, stats = mine_items(items, {s.study_id: s for s in studies}, OfflineTeacher())
    assert stats["failed"] == 0
    rng = random.Random(0)
    recs = rng.sample(recs, 150)
    judge = OfflineJudge()
    for kind in ("self", "other"):
        gt, rep = [], []
        for r in recs:
            chain = r["process"] if kind == "self" else rng.choice(recs)["process"]
            pred = f"<think> {chain} </think><answer> A </answer>"
            gt.append(judge.judge(pred, r["reason_steps"], r["original_report"], reference_of(r)).components()[1])
            rep.append(judge.judge(pred, r["reason_steps"], r["original_report"], None, {"modality": "cxr"})
                       .components()[1])
        assert abs(sum(gt) - sum(rep)) / len(recs) < 0.02, kind
        if kind == "self":
            assert sum(rep) / len(rep) > 0.95
        else:
            assert sum(rep) / len(rep) < 0.8
