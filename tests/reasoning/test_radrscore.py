"""RadRScore on hand-made chains where the right score is known, outcome metrics, file scoring."""

import json

import pytest

from radkit.reasoning.outcome import normalise_letter, outcome_score, parse_output, set_f1
from radkit.reasoning.radrscore import JudgeResult, OfflineJudge, RecordedJudge
from radkit.reasoning.infer import format_table
from radkit.reasoning.score import score_files, score_records

REPORT = ("Moderate right pleural effusion. Mild cardiomegaly. No pneumothorax. "
          "Left lower lobe consolidation.")
CHAIN = ["The problem requires analysis of pleural effusion, so I should examine the costophrenic angles.",
         "From the images we observe blunting of the right costophrenic angle, consistent with pleural effusion.",
         "The heart is enlarged, consistent with cardiomegaly.",
         "There is consolidation in the left lower lobe.",
         "No pneumothorax is seen.",
         "In conclusion, the final answer is A) Yes."]


def test_faithful_chain_scores_high():
    pred = "<think> " + " ".join(CHAIN) + " </think><answer> A </answer>"
    res = OfflineJudge().judge(pred, CHAIN, REPORT)
    rc, rf, re_ = res.components()
    assert res.gt_findings == 4 and rc == 1.0 and rf == 1.0 and re_ == 1.0


def test_contradicting_chain_scores_low_factuality():
    pred = ("<think> There is no pleural effusion. The heart size is normal without cardiomegaly. "
            "A large right pneumothorax is present. </think><answer> B </answer>")
    rc, rf, re_ = OfflineJudge().judge(pred, CHAIN, REPORT).components()
    assert rf == 0.0 and rc == 0.0 and re_ < 0.5


def test_half_recall_gives_half_completeness():
    pred = "<think> There is a right pleural effusion. Cardiomegaly is present. </think><answer> A </answer>"
    res = OfflineJudge().judge(pred, CHAIN, REPORT)
    rc, rf, _ = res.components()
    assert rc == pytest.approx(0.5) and rf == 1.0


def test_closed_world_unmentioned_means_normal():
    judge = OfflineJudge()
    # Fracture is not in the report: calling it absent is correct, calling it present is not.
    ok = judge.judge("<think> No fracture. </think><answer> B </answer>", CHAIN, REPORT)
    bad = judge.judge("<think> There is a rib fracture. </think><answer> A </answer>", CHAIN, REPORT)
    assert ok.components()[1] == 1.0 and bad.components()[1] == 0.0


def test_zero_denominator_contributes_zero():
    res = OfflineJudge().judge("<think> Let me look. </think><answer> A </answer>", CHAIN, REPORT)
    assert res.pred_findings == 0 and res.components()[1] == 0.0
    assert JudgeResult(0, 0, 0, 0, 0, 0).components() == (0.0, 0.0, 0.0)


def _recorded(rec, correct, n_pred, eff, ineff, gt=4, pred="<think> x </think><answer> A </answer>"):
    return {"question": "Q", "answer": "<answer> A </answer>", "pred": pred, "reason_steps": "chain",
            "original_report": "r", "gt_key_finding": {"key_conclusion": [{"observation": "o"}] * gt},
            "pred_key_finding": {"key_conclusion": [{"observation": "o"}] * n_pred},
            "recall_res": {"recalled_count": rec}, "precision_res": {"correct_count": correct},
            "efficiency": {"effective_count": eff, "ineffective_count": ineff}}


def test_recorded_judge_and_aggregation(tmp_path):
    recs = [_recorded(2, 3, 4, 1, 1), _recorded(4, 0, 0, 0, 0),  # zero denominators count as 0
            {**_recorded(1, 1, 1, 1, 1), "efficiency": {"effective_count": 1}},  # unparsable -> dropped
            _recorded(1, 1, 1, 1, 1, pred="no tags at all")]
    rows = score_records(recs, RecordedJudge(), group="mimic_binary")
    row = rows["mimic_binary"]
    assert row["judged"] == 3 and row["dropped"] == 1
    assert row["R_c"] == pytest.approx((0.5 + 1.0 + 0.25) / 3)
    assert row["R_f"] == pytest.approx((0.75 + 0.0 + 1.0) / 3)
    assert row["R_e"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    assert row["accuracy"] == pytest.approx(3 / 4) and row["malformed"] == 1
    path = tmp_path / "mimic_binary_evaluation_res.json"
    path.write_text(json.dumps(recs))
    out = score_files([path], RecordedJudge(), progress=False)
    assert out["tasks"]["mimic_binary"]["R_c"] == pytest.approx(row["R_c"])


def test_offline_agreement_with_recorded():
    pred = "<think> " + " ".join(CHAIN) + " </think><answer> A </answer>"
    recs = [{**_recorded(4, 4, 4, 6, 0, pred=pred), "reason_steps": CHAIN, "original_report": REPORT},
            {**_recorded(0, 0, 3, 0, 3, pred="<think> No effusion. Large pneumothorax. </think><answer> B </answer>"),
             "reason_steps": CHAIN, "original_report": REPORT}]
    rows = score_records(recs, OfflineJudge(), group="t", compare_recorded=True)
    agr = rows["t"]["agreement"]
    assert agr["R_f"]["pearson"] == pytest.approx(1.0) and agr["R_c"]["n"] == 2


def test_parse_output_problems():
    assert parse_output("<think> a </think><answer> B </answer>").problem == ""
    assert parse_output("B").problem == "no answer tag"
    assert parse_output("<think>a</think><answer>A</answer><answer>B</answer>").problem == "multiple answers"
    assert parse_output("<think> </think><answer> A </answer>").problem == "empty think"
    assert parse_output("system ... user ... assistant\n<think>x</think><answer> C) </answer>").answer == "C)"


def test_outcome_scores():
    assert normalise_letter(" b). ") == "B"
    assert outcome_score("B)", {"answer": "<answer> B </answer>", "variant": "option"}) == 1.0
    assert outcome_score("A", {"answer": "B", "variant": "option"}) == 0.0
    assert outcome_score(None, {"answer": "B"}) == 0.0
    assert outcome_score("Yes, there is.", {"answer": "Yes", "variant": "no_option", "task": "binary"}) == 1.0
    item = {"answer": "pleural effusion, cardiomegaly", "task": "anomaly", "variant": "no_option",
            "positives": ["cardiomegaly", "pleural effusion"]}
    assert outcome_score("effusion and cardiomegaly", item) == 1.0
    assert outcome_score("cardiomegaly", item) == pytest.approx(2 / 3)
    assert set_f1(set(), set()) == 1.0 and set_f1({"a"}, set()) == 0.0


def _rec(pred, answer="A", task="binary", variant="option"):
    return {"pred": pred, "answer": answer, "task": task, "variant": variant, "item_id": pred[:10],
            "reason_steps": CHAIN, "original_report": REPORT}


def test_malformed_outputs_counted_and_scored_wrong():
    """No tags, two answers (first one right), empty think, empty answer: each counted; none inflates accuracy."""
    recs = [_rec("<think> Pleural effusion. </think><answer> A </answer>"), _rec("A"),
            _rec("<think> x </think><answer> A </answer><answer> B </answer>"),
            _rec("<think> </think><answer> A </answer>"), _rec("<think> effusion </think><answer> </answer>"),
            {**_rec("placeholder"), "pred": None}]
    row = score_records(recs, OfflineJudge(), group="g")["binary_option"]
    assert row["n"] == 6 and row["malformed"] == 5
    assert row["problems"] == {"no answer tag": 2, "multiple answers": 1, "empty think": 1, "empty answer": 1}
    # Only the well-formed output and the empty-think output (its single answer is usable) are right.
    assert row["accuracy"] == pytest.approx(2 / 6)
    assert row["judged"] == 6 and row["dropped"] == 0  # every sample still judged on its text


def test_unknown_task_kept_apart_from_macro():
    recs = [_rec("<think> effusion </think><answer> A </answer>"),
            _rec("<think> effusion </think><answer> B </answer>", task="segmentation")]
    rows = score_records(recs, None, group="g")
    assert rows["segmentation_option"]["unknown_task"] == 1 and "unknown_task" not in rows["binary_option"]
    from radkit.reasoning.score import macro
    m = macro(rows)
    assert m["accuracy"] == 1.0 and m["skipped_groups"] == 1


def test_judge_that_raises_or_times_out_is_counted_not_fatal():
    class Flaky:
        calls = 0

        def judge(self, pred, chain, report, reference=None, record=None):
            Flaky.calls += 1
            if Flaky.calls % 2 == 0:
                raise TimeoutError("judge timed out")
            return JudgeResult(2, 1, 2, 2, 1, 1)

    recs = [_rec("<think> effusion </think><answer> A </answer>")] * 4
    row = score_records(recs, Flaky(), group="g")["binary_option"]
    assert row["judged"] == 2 and row["dropped"] == 2 and "TimeoutError" in row["judge_errors"][0]
    assert row["R_c"] == 0.5 and row["R_f"] == 1.0 and row["accuracy"] == 1.0  # mean over judged samples only


def test_per_item_scores_follow_the_group_order_and_leave_unjudged_records_empty():
    """``per_item``: each record's outcome and components, None where the judge dropped or skipped it."""
    class Flaky:
        calls = 0

        def judge(self, pred, chain, report, reference=None, record=None):
            Flaky.calls += 1
            if Flaky.calls == 2:
                raise TimeoutError("judge timed out")
            return JudgeResult(2, 1, 2, 2, 1, Flaky.calls)  # R_e differs per call: order is visible

    recs = [_rec("<think> effusion </think><answer> A </answer>"), _rec("<think> x </think><answer> B </answer>"),
            {**_rec("<think> y </think><answer> A </answer>"), "reason_steps": None},
            _rec("<think> z </think><answer> A </answer>")]
    row = score_records(recs, Flaky(), group="g", per_item=True)["binary_option"]
    assert row["item_outcomes"] == [1.0, 0.0, 1.0, 1.0]
    comps = row["item_components"]
    assert comps[1] is None and comps[2] is None  # judge raised; no chain to judge against
    assert comps[0] == JudgeResult(2, 1, 2, 2, 1, 1).components() and comps[3] == JudgeResult(2, 1, 2, 2, 1, 3).components()
    assert "item_outcomes" not in score_records(recs[:1], None, group="g")["binary_option"]


def test_release_record_shapes(tmp_path):
    # shapes seen in the released files: the whole chat transcript in "pred", spaced answer tags,
    # "Error" efficiency stubs (dropped from every component, SPEC §3.1), and accuracy_res records
    # without judge fields (not judged, and not reported as judge failures)
    chat = ("system\nYou are a helpful assistant.\nuser\nDoes this chest X-ray show edema? Options:\nA) Yes\nB) No\n"
            "assistant\n<think> No signs of edema. </think><answer> B </answer>")
    ok = {**_recorded(1, 2, 2, 3, 1, pred=chat), "answer": "<answer> B </answer>"}
    err = {**ok, "efficiency": {"reason_steps": "Error", "refined_steps": [], "final_conclusion": ""}}
    row = score_records([ok, err], RecordedJudge(), group="mimic_binary")["mimic_binary"]
    assert row["accuracy"] == 1.0 and row["malformed"] == 0
    assert row["judged"] == 1 and row["dropped"] == 1 and "no_judgment" not in row
    assert (row["R_c"], row["R_f"], row["R_e"]) == pytest.approx((0.25, 1.0, 0.75))
    acc_only = [{k: ok[k] for k in ("question", "answer", "pred")}] * 3
    path = tmp_path / "mimic_binary_test_option.json"
    path.write_text(json.dumps(acc_only))
    out = score_files([path], RecordedJudge(), progress=False)
    row = out["tasks"]["mimic_binary_test_option"]
    assert row["no_judgment"] == 3 and row["dropped"] == 0 and row["accuracy"] == 1.0
    text = format_table(out)
    assert "no recorded judge outputs" in text and "unjudged" not in text
