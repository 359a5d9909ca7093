"""GRPO rewards on hand-made completions, and a tiny TRL GRPO run on CPU."""

import json

import pytest

from radkit.reasoning.rewards import FormatReward, OutcomeReward, ProcessReward, completion_text, make_rewards

GOOD = "<think> There is a moderate right pleural effusion. No pneumothorax. </think><answer> A </answer>"
WRONG = "<think> No pleural effusion. A large pneumothorax is present. </think><answer> B </answer>"
COLS = {"answer": ["A", "A"], "task": ["binary", "binary"], "variant": ["option", "option"],
        "positives": [json.dumps(["pleural effusion"])] * 2,
        "gt_findings": [json.dumps([{"finding": "effusion", "status": "present"}])] * 2,
        "process": ["We observe a right pleural effusion. No pneumothorax. The answer is A."] * 2,
        "original_report": ["Moderate right pleural effusion. No pneumothorax."] * 2}


def test_format_reward():
    r = FormatReward()(completions=[GOOD, "A", "<think>x</think><answer>A</answer><answer>B</answer>",
                                    " <think>\nok\n</think>\n<answer> B </answer>\n", "<think></think><answer>A</answer>"])
    assert r == [1.0, 0.0, 0.0, 1.0, 0.0]


def test_outcome_reward():
    assert OutcomeReward()(completions=[GOOD, WRONG], **COLS) == [1.0, 0.0]
    conv = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": "no tags"}]]
    assert OutcomeReward()(completions=conv, **COLS) == [1.0, 0.0]
    assert completion_text(conv[0]) == GOOD


def test_process_reward_rewards_faithful_reasoning():
    good, bad = ProcessReward()(completions=[GOOD, WRONG], **COLS)
    assert good == 1.0 and bad == 0.0
    cols = {**COLS, "process": ["", ""]}
    assert ProcessReward()(completions=[GOOD, GOOD], **cols) == [0.0, 0.0]  # no chain: no process reward
    with pytest.raises(ValueError, match="valid: format"):
        make_rewards(["style"])


def test_grpo_tiny_run(tiny_model_dir, vqa_dir, tmp_path):
    """One GRPO step with TRL on CPU: rewards are computed and logged, the policy is saved."""
    from radkit.reasoning.grpo import train_grpo

    out = train_grpo(str(tiny_model_dir), str(vqa_dir / "vqa.jsonl"), str(tmp_path / "grpo"), lr=1e-3,
                     num_generations=2, batch_size=2, grad_accum=1, max_completion_length=8, max_steps=1,
                     image_size=56, use_cpu=True, bf16=False, gradient_checkpointing=False, logging_steps=1,
                     max_samples=4, entropy_coef=0.001, select_pool=4, num_iterations=2)
    log = json.loads((out / "grpo_log.json").read_text())
    sel = json.loads((out / "grpo_selection.json").read_text())
    assert sel["candidates"] == 4 and 0 <= sel["kept"] <= 4
    keys = set().union(*log)
    assert {"rewards/format/mean", "rewards/outcome/mean", "rewards/process/mean"} <= keys
    assert (out / "model.safetensors").exists()


def test_rewards_on_malformed_and_failing_judge():
    bad = ["<think> </think><answer> A </answer>", "<think> x </think><answer> A </answer><answer> A </answer>"]
    assert FormatReward()(completions=bad) == [0.0, 0.0]
    assert OutcomeReward()(completions=bad, **COLS) == [1.0, 0.0]  # empty think: the single answer still counts

    class Raises:
        def judge(self, *a, **k):
            raise TimeoutError("judge timed out")
    pr = ProcessReward(Raises())
    assert pr(completions=[GOOD, GOOD], **COLS) == [0.0, 0.0]
    assert pr.failures == 2 and "TimeoutError" in pr.errors[0]


def test_select_mixed_keeps_only_groups_with_different_outcomes(tiny_model_dir, vqa_dir, monkeypatch):
    from radkit.reasoning import grpo_select
    from radkit.reasoning.tiny import load_model
    from radkit.reasoning.vqa import read_jsonl

    model, proc = load_model(tiny_model_dir)
    recs = [r for r in read_jsonl(vqa_dir / "vqa.jsonl") if r["task"] == "binary"][:3]
    # real sampling: one group of 2 outputs per record
    groups = grpo_select.sample_groups(model, proc, recs, 2, temperature=1.0, image_size=56, max_new_tokens=4)
    assert [len(g) for g in groups] == [2, 2, 2]

    def ans(x):
        return f"<think> t </think><answer> {x} </answer>"

    wrong = {"A": "B", "B": "A"}
    fake = [[ans(recs[0]["answer"]), ans(wrong[recs[0]["answer"]])],   # mixed -> kept
            [ans(recs[1]["answer"])] * 2,                               # all right -> dropped
            ["no tags", ans(wrong[recs[2]["answer"]])]]                 # all wrong -> dropped
    monkeypatch.setattr(grpo_select, "sample_groups", lambda *a, **k: fake)
    kept, stats = grpo_select.select_mixed(model, proc, recs, 2, image_size=56, max_new_tokens=4)
    assert kept == [recs[0]] and stats == {"candidates": 3, "kept": 1, "mean_outcome": 3 / 6, "fallback": False}
    # fewer mixed groups than a step's prompts (here 2): the whole pool, flagged, instead of an
    # empty dataloader (TRL then silently trains zero steps)
    kept, stats = grpo_select.select_mixed(model, proc, recs, 2, image_size=56, max_new_tokens=4, min_keep=2)
    assert kept == recs and stats["kept"] == 1 and stats["fallback"]
    # no mixed group at all: GRPO still gets every prompt
    monkeypatch.setattr(grpo_select, "sample_groups", lambda *a, **k: [fake[1]] * 3)
    kept, stats = grpo_select.select_mixed(model, proc, recs, 2, image_size=56, max_new_tokens=4)
    assert kept == recs and stats["kept"] == 0 and stats["fallback"]


def test_grpo_refuses_fewer_records_than_one_step(tiny_model_dir, vqa_dir, tmp_path):
    from radkit.reasoning.grpo import train_grpo

    with pytest.raises(ValueError, match="a GRPO step needs 4 prompts"):
        train_grpo(str(tiny_model_dir), str(vqa_dir / "vqa.jsonl"), str(tmp_path / "g"), num_generations=2,
                   batch_size=8, max_samples=3, use_cpu=True)
    with pytest.raises(ValueError, match="multiple of num_generations"):
        train_grpo(str(tiny_model_dir), str(vqa_dir / "vqa.jsonl"), str(tmp_path / "g"), num_generations=3,
                   batch_size=8, use_cpu=True)


def test_select_rounds_reselect_with_the_current_policy(tiny_model_dir, vqa_dir, tmp_path, monkeypatch):
    """select_rounds=2: the mixed prompts are chosen again after round 0 with the updated policy, round k
    trains on round k's choice, the steps split 2 + 1 and the log counts them in one running total."""
    import radkit.reasoning.grpo as grpo_mod
    from radkit.reasoning import grpo_select
    from radkit.reasoning.vqa import read_jsonl, write_jsonl

    recs = [{**r, "id": i} for i, r in enumerate(r for r in read_jsonl(vqa_dir / "vqa.jsonl") if r["split"] == "train")][:6]
    vqa = write_jsonl(recs, tmp_path / "six.jsonl")  # "id": a tag for this test, kept through read_jsonl
    seen, trained = [], []

    def fake_select(net, proc, pool, *a, **k):
        seen.append(sum(float(p.detach().abs().sum()) for p in net.parameters()))
        chosen = sorted(pool, key=lambda r: r["id"])[2 * (len(seen) - 1):2 * len(seen)]
        return chosen, {"candidates": len(pool), "kept": len(chosen), "mean_outcome": 0.5, "fallback": False}

    real_ds = grpo_mod.to_dataset
    monkeypatch.setattr(grpo_select, "select_mixed", fake_select)
    monkeypatch.setattr(grpo_mod, "to_dataset", lambda rs, size: trained.append([r["id"] for r in rs]) or real_ds(rs, size))
    out = grpo_mod.train_grpo(str(tiny_model_dir), str(vqa), str(tmp_path / "g"), lr=1e-2, beta=0.0,
                              num_generations=2, batch_size=2, grad_accum=1, max_completion_length=6, max_steps=3,
                              image_size=56, use_cpu=True, bf16=False, gradient_checkpointing=False,
                              logging_steps=1, entropy_coef=0.0, select_pool=6, select_rounds=2,
                              reward_weights=[1.0, 1.0, 1.0])
    ids = sorted(r["id"] for r in recs)
    assert trained == [ids[0:2], ids[2:4]]                       # each round trains on its own selection
    assert len(seen) == 2 and seen[0] != seen[1]                 # round 1 selected with the updated policy
    sel = json.loads((out / "grpo_selection.json").read_text())
    assert [s["round"] for s in sel] == [0, 1] and all(s["kept"] == 2 for s in sel)
    log = json.loads((out / "grpo_log.json").read_text())
    assert max(e["step"] for e in log) == 3 and {e["round"] for e in log} == {0, 1}
    with pytest.raises(ValueError, match="select_rounds=2 needs select_pool > 0"):
        grpo_mod.train_grpo(str(tiny_model_dir), str(vqa), str(tmp_path / "g2"), num_generations=2,
                            batch_size=2, max_steps=3, use_cpu=True, select_rounds=2)
