"""Offline judge rules added to track the recorded GPT-4o judgments (hand-made records, known scores)."""

import pytest

from radkit.reasoning.extract import KeyFinding, current_part, extract, sides_from_report
from radkit.reasoning.radrscore import OfflineJudge, is_temporal, judge_record

TEMPORAL_Q = ("You are given two images: one reference image and one new image. Please identify the progression "
              "of pleural effusion. Options:\nA) stable\nB) worsening\nC) improving\n")
PAIR_REPORT = ("Previous Report: Small left pleural effusion, unchanged. No pneumothorax.\n"
               "Current Report: The left pleural effusion has increased. No pneumothorax.")
TEMPORAL_CHAIN = {"reason_steps": "I compare the two images for the pleural effusion. The left pleural effusion "
                                  "has increased since the reference image. Therefore the effusion is worsening."}


def _temporal(think: str, answer: str) -> dict:
    return {"question": TEMPORAL_Q, "answer": "<answer> B </answer>", "reason_steps": TEMPORAL_CHAIN,
            "original_report": PAIR_REPORT, "pred": f"<think> {think} </think><answer> {answer} </answer>"}


def test_extract_reads_progression_words():
    kfs = extract("The left pleural effusion has increased. Edema is improving. Pneumothorax is unchanged. "
                  "There is no consolidation.")
    assert kfs == [KeyFinding("effusion", "present", "worsening", "left"), KeyFinding("edema", "present", "improving"),
                   KeyFinding("pneumothorax", "present", "stable"), KeyFinding("consolidation", "absent", "")]


def test_current_part_of_a_report_pair():
    assert current_part(PAIR_REPORT).strip().startswith("The left pleural effusion has increased")
    assert current_part("No effusion.") == "No effusion."


def test_temporal_progression_decides_every_component():
    judge = OfflineJudge()
    right = _temporal("The left pleural effusion has increased. The effusion is worsening.", "B")
    wrong = _temporal("The left pleural effusion is unchanged. The effusion is stable.", "A")
    assert is_temporal(right)
    assert judge_record(judge, right).components() == (1.0, 1.0, 1.0)
    # Same finding, same polarity, wrong progression: not recalled, not factual, steps contradicted.
    assert judge_record(judge, wrong).components() == (0.0, 0.0, 0.0)


def test_progression_ignored_on_single_image_tasks():
    # On one image "increased opacity" is density, not a change: it must not contradict "persistent opacity".
    rec = {"question": "Does this chest X-ray show lung opacity? Options:\nA) Yes\nB) No\n",
           "reason_steps": "There is persistent opacity in the right lower lobe. The answer is A) Yes.",
           "original_report": "Persistent right lower lobe opacity.",
           "pred": "<think> There is increased opacity in the right lower lobe. </think><answer> A </answer>"}
    assert not is_temporal(rec)
    assert judge_record(OfflineJudge(), rec).components() == (1.0, 1.0, 1.0)


def test_chat_transcript_prompt_is_not_judged():
    """The release saves system + user prompt + reply in ``pred``; only the reply is ``y`` (SPEC §3.1)."""
    reply = "<think> There is no pleural effusion. The costophrenic angles are sharp. </think><answer> B </answer>"
    chat = ("system\nYou are a helpful assistant.\nuser\nDoes this chest X-ray show pleural effusion? Options:\n"
            "A) Yes\nB) No\nLet's think step by step. Enclose the reasoning within <think></think> and the answer "
            "within <answer></answer>.\nassistant\n" + reply)
    chain = "There is no pleural effusion. The costophrenic angles are sharp. The answer is B) No."
    judge = OfflineJudge()
    full = judge.judge(chat, chain, "No pleural effusion.")
    assert full == judge.judge(reply, chain, "No pleural effusion.")
    assert full.effective + full.ineffective == 2
    assert full.components() == pytest.approx((1.0, 1.0, 1.0))


def test_extract_reads_laterality_per_finding():
    kfs = extract("Left pleural effusion and right lower lobe atelectasis. Pneumothorax on the right. "
                  "Bibasilar opacities. Cardiomegaly is seen in both images.")
    sides = {k.key: k.side for k in kfs}
    assert sides == {"effusion": "left", "atelectasis": "right", "pneumothorax": "right", "lung opacity": "bilateral",
                     "cardiomegaly": ""}
    # The structurer's anatomies give the report's sides; left + right mentions make "bilateral".
    ref = sides_from_report("Small left pleural effusion. Right pleural effusion. Left lower lobe atelectasis.")
    assert ref["effusion"] == "bilateral" and ref["atelectasis"] == "left"


def test_wrong_side_is_not_factual_nor_supported():
    report = "Small left pleural effusion. No pneumothorax."
    chain = "There is a small left pleural effusion. No pneumothorax. The answer is A) Yes."
    judge = OfflineJudge()
    for side, expected in (("left", 1.0), ("right", 0.0), ("bilateral", 0.0), ("", 1.0)):
        res = judge.judge(f"<think> There is a {side} pleural effusion. </think><answer> A </answer>", chain, report)
        assert (res.components()[1], res.components()[2]) == (expected, expected), side
    # A one-sided claim fits a bilateral reference; recall ignores sides (it did not track GPT-4o better).
    res = judge.judge("<think> There is a right pleural effusion. </think><answer> A </answer>",
                      "Bilateral pleural effusions.", "Bilateral pleural effusions.")
    assert res.components() == (1.0, 1.0, 1.0)


def test_structurer_surface_forms_are_read():
    # "chest tube" and "vascular congestion" are the report structurer's surface forms (EXTRA_FINDINGS).
    keys = {k.key: k.status for k in extract("A right chest tube is in place. Mild vascular congestion.")}
    assert keys == {"support device": "present", "edema": "present"}
