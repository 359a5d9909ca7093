"""Chain mining: the offline miner's chains agree with the ground truth; the LLM teacher and judge
against a fake OpenAI-compatible server on 127.0.0.1 (validation, retries, cache, failures counted)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fake_llm import FakeLLMServer  # noqa: E402

from radkit.reasoning import vqa  # noqa: E402
from radkit.reasoning.llm_judge import LLMJudge  # noqa: E402
from radkit.reasoning.llm_teacher import LLMTeacher  # noqa: E402
from radkit.reasoning.mining import OfflineTeacher, make_teacher, mine_items  # noqa: E402
from radkit.reasoning.radrscore import OfflineJudge, reference_of  # noqa: E402


def test_offline_chains_are_faithful_and_end_at_answer(studies):
    items = vqa.make_items(studies, seed=0)
    recs, stats = mine_items(items, {s.study_id: s for s in studies}, OfflineTeacher(), workers=2)
    assert stats == {"mined": len(items), "failed": 0, "errors": []}
    judge = OfflineJudge()
    for r in recs:
        ans = r["answer"] + ")" if r["variant"] == "option" else r["answer_content"]
        assert r["process"].rstrip(".").endswith(r["answer_content"]) and ans in r["process"]
        # The miner's own chain, judged against the ground truth, is fully factual.
        res = judge.judge(r["process"], r["reason_steps"], r["original_report"], reference_of(r))
        assert res.pred_findings > 0 and res.correct == res.pred_findings, r["process"]
    shapes = {r["task"]: type(r["reason_steps"]) for r in recs}
    assert shapes["binary"] is str and shapes["single"] is list and shapes["temporal"] is dict


def test_teacher_failure_is_counted_not_raised(studies):
    class Broken:
        def mine(self, *a, **k):
            raise TimeoutError("teacher timed out")
    items = vqa.make_items(studies, seed=0, tasks=["binary"])[:3]
    recs, stats = mine_items(items, {s.study_id: s for s in studies}, Broken())
    assert stats["failed"] == 3 and "TimeoutError" in stats["errors"][0]
    assert all(r["process"] is None for r in recs)


def test_make_teacher_errors():
    with pytest.raises(ValueError, match="valid: offline, llm"):
        make_teacher("gpt")
    with pytest.raises(ValueError, match="base_url"):
        make_teacher("llm")


def _teacher_reply(body):
    user = body["messages"][-1]["content"]
    if "write a plan" in user:
        return '```json\n{"plan": {"pleural effusion": "look for blunting"}}\n```'
    if "Refine the steps" in user:
        return json.dumps({"reason_steps": ["The problem requires analysis of pleural effusion.",
                                            "We observe blunting, so effusion is present.",
                                            "In conclusion, the final answer is A) Yes."]})
    return json.dumps({"reason_steps": ["From the images we observe blunting -> pleural effusion."]})


def test_llm_teacher_three_calls_with_cache(studies, tmp_path):
    items = [r for r in vqa.make_items(studies, seed=0, tasks=["binary"]) if r["answer"] == "A"][:2]
    by_id = {s.study_id: s for s in studies}
    with FakeLLMServer([_teacher_reply]) as srv:
        teacher = LLMTeacher.from_server(srv.url, "teacher", cache_dir=str(tmp_path / "cache"))
        recs, stats = mine_items(items, by_id, teacher, workers=2)
        assert stats["failed"] == 0 and len(srv.requests) == 6
        assert recs[0]["plan"] == {"pleural effusion": "look for blunting"}
        assert isinstance(recs[0]["reason_steps"], str) and recs[0]["process"].endswith("A) Yes.")
        assert "Observed image features" in srv.requests[0]["messages"][-1]["content"]
        mine_items(items, by_id, teacher)  # all cached: no new request
        assert len(srv.requests) == 6


def test_llm_teacher_invalid_json_counted(studies):
    items = vqa.make_items(studies, seed=0, tasks=["binary"])[:1]
    with FakeLLMServer(["not json at all"]) as srv:
        from radkit.llm import LLMClient
        teacher = LLMTeacher(LLMClient(srv.url, "m", max_retries=1, backoff=0))
        recs, stats = mine_items(items, {s.study_id: s for s in studies}, teacher)
    assert stats["failed"] == 1 and recs[0]["process"] is None and len(srv.requests) == 2


def _judge_reply(body):
    user = body["messages"][-1]["content"]
    if user.startswith("Reasoning text:"):
        return json.dumps({"key_conclusion": [{"observation": "effusion", "status": "present"},
                                              {"observation": "pneumothorax", "status": "absent"}]})
    if user.startswith("Ground-truth observations"):
        return json.dumps({"recalled_findings": [], "recalled_count": 1})
    if user.startswith("Chest X-ray report"):
        assert "unmentioned finding means normal" in user
        return json.dumps({"correct_steps": ["x"], "correct_count": 2})
    return json.dumps({"effective_steps": ["x"], "effective_count": 3, "ineffective_count": 1})


def test_llm_judge_five_calls():
    with FakeLLMServer([_judge_reply]) as srv:
        judge = LLMJudge.from_server(srv.url, "judge")
        res = judge.judge("<think> effusion </think><answer> A </answer>", ["step"], "report")
        assert len(srv.requests) == 5
    assert res.components() == (0.5, 1.0, 0.75)


def test_llm_judge_failure_drops_sample():
    with FakeLLMServer(['{"key_conclusion": "not a list"}']) as srv:
        from radkit.llm import LLMClient
        judge = LLMJudge(LLMClient(srv.url, "m", max_retries=1, backoff=0))
        assert judge.judge("x", ["s"], "r") is None and judge.failures == 1


def test_llm_judge_timeout_drops_sample():
    import time

    def slow(body):
        time.sleep(0.6)
        return json.dumps({"key_conclusion": []})

    with FakeLLMServer([slow]) as srv:
        from radkit.llm import LLMClient
        judge = LLMJudge(LLMClient(srv.url, "m", max_retries=0, backoff=0, timeout=0.2))
        assert judge.judge("x", ["s"], "r") is None and judge.failures == 1
