"""GRPO (TRL) sees what SFT trained on: same prompt tokens, rewards paired with their own prompt, and
log-probs equal to a plain forward pass at the sampling temperature.

These pin the properties checked when GRPO failed to beat continued SFT on the quality benchmark
(RESULTS.md "quality_reasoner"): a prompt-format mismatch, a reward scored against another prompt's
answer, or a forward pass without the image's M-RoPE inputs would each make GRPO train a different
policy than the one it samples.
"""

import pytest
import torch

TEMPERATURE = 0.7


@pytest.fixture
def captured(tiny_model_dir, vqa_dir, tmp_path, monkeypatch):
    """One GRPO step through `train_grpo` (lr 0, so the weights stay the SFT ones), with TRL's batch captured."""
    import trl

    from radkit.reasoning.grpo import train_grpo

    seen: dict = {}

    class Spy(trl.GRPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            seen["rows"] = [dict(x) for x in inputs]
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            seen["out"], seen["trainer"] = out, self
            return out

    monkeypatch.setattr(trl, "GRPOTrainer", Spy)
    train_grpo(str(tiny_model_dir), str(vqa_dir / "vqa.jsonl"), str(tmp_path / "grpo"), lr=0.0, beta=0.0,
               num_generations=2, batch_size=4, grad_accum=1, max_completion_length=6, max_steps=1,
               temperature=TEMPERATURE, image_size=56, use_cpu=True, bf16=False, gradient_checkpointing=False,
               logging_steps=1, max_samples=4, entropy_coef=0.0)
    return seen


def _question(row) -> str:
    content = row["prompt"][0]["content"]
    text = content if isinstance(content, str) else "".join(c.get("text", "") for c in content)
    return text.split("\nLet's think")[0]


def _record_of(row, vqa_dir):
    """The VQA record a TRL dataset row was built from (question + chain + report identify it)."""
    from radkit.reasoning.vqa import read_jsonl

    hits = [r for r in read_jsonl(vqa_dir / "vqa.jsonl") if r["question"] == _question(row)
            and (r.get("process") or "") == row["process"]
            and (r.get("original_report") or "") == row["original_report"]]
    assert hits, "a GRPO row matches no VQA record"
    return hits[0]


def _sft_prompt(record, proc):
    """Token ids of the prompt part of SFT's encoding of ``record`` (labels -100), and its model inputs."""
    from radkit.reasoning.sft import encode_sample

    enc = encode_sample(record, proc, 56)
    n = int((enc["labels"] == -100).sum())
    return enc, n


def test_grpo_prompt_equals_sft_prompt_and_rewards_pair_with_their_prompt(captured, vqa_dir):
    out, rows, trainer = captured["out"], captured["rows"], captured["trainer"]
    proc = trainer.processing_class
    assert len(rows) == out["prompt_ids"].shape[0] == 4
    for i, row in enumerate(rows):
        record = _record_of(row, vqa_dir)
        assert row["answer"] == str(record["answer"])  # the answer column scores this prompt's completion
        prompt = out["prompt_ids"][i][out["prompt_mask"][i].bool()]
        enc, n = _sft_prompt(record, proc)
        # token for token the prompt SFT trained on (system turn, image block, question, suffix)
        assert torch.equal(prompt, enc["input_ids"][:n])
    for k in (0, 2):  # a group = consecutive completions of one prompt
        assert _question(rows[k]) == _question(rows[k + 1]) and rows[k]["process"] == rows[k + 1]["process"]


def test_grpo_logprobs_equal_plain_forward_at_sampling_temperature(captured, vqa_dir):
    """TRL's per-token log-probs of its own completions = log_softmax(logits / T) of an SFT-style forward."""
    out, rows, trainer = captured["out"], captured["rows"], captured["trainer"]
    model = trainer.model
    model.eval()
    kw = {k: out[k] for k in ("pixel_values", "image_grid_thw", "mm_token_type_ids") if k in out}
    ids = torch.cat([out["prompt_ids"], out["completion_ids"]], 1)
    mask = torch.cat([out["prompt_mask"], out["completion_mask"]], 1)
    with torch.no_grad():
        trl_lp, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, out["completion_ids"].size(1),
                                                                   num_images=out.get("num_images"), **kw)
        for i, row in enumerate(rows):
            comp = out["completion_ids"][i][out["completion_mask"][i].bool()]
            assert len(comp) > 0
            enc, n = _sft_prompt(_record_of(row, vqa_dir), trainer.processing_class)
            full = torch.cat([enc["input_ids"][:n], comp])[None]
            mm = torch.cat([enc["mm_token_type_ids"][:n], torch.zeros_like(comp)])[None]
            logits = model(input_ids=full, attention_mask=torch.ones_like(full), pixel_values=enc["pixel_values"],
                           image_grid_thw=enc["image_grid_thw"], mm_token_type_ids=mm).logits[0]
            ref = torch.log_softmax(logits[n - 1:-1].float() / TEMPERATURE, -1).gather(-1, comp[:, None])[:, 0]
            mine = trl_lp[i][out["completion_mask"][i].bool()]
            torch.testing.assert_close(mine, ref, atol=1e-4, rtol=1e-4)


def test_scale_rewards_is_checked():
    from radkit.reasoning.grpo import train_grpo

    with pytest.raises(ValueError, match="valid: group, batch, none"):
        train_grpo("m", "v.jsonl", scale_rewards="std")


def test_interleave_by_answer_balances_every_run_of_prompts():
    from radkit.reasoning.grpo_select import interleave_by_answer

    recs = [{"id": i, "answer": "A" if i < 5 else "B"} for i in range(7)]  # 5 A, 2 B
    out = interleave_by_answer(recs, seed=3)
    assert len(out) == 10 and all({out[k]["answer"], out[k + 1]["answer"]} == {"A", "B"} for k in range(0, 10, 2))
    assert sorted(r["id"] for r in out if r["answer"] == "A") == [0, 1, 2, 3, 4]  # every majority prompt once
    assert {r["id"] for r in out if r["answer"] == "B"} == {5, 6}  # the minority is cycled
    assert interleave_by_answer(recs, seed=3) == out and interleave_by_answer(recs[:3]) == recs[:3]


def test_balance_answers_gives_every_grpo_step_both_answers(tiny_model_dir, vqa_dir, tmp_path, monkeypatch):
    """TRL must not reshuffle the balanced order: each step's 2 prompts carry different gold answers."""
    import trl

    from radkit.reasoning.grpo import train_grpo
    from radkit.reasoning.vqa import read_jsonl, write_jsonl

    recs = [r for r in read_jsonl(vqa_dir / "vqa.jsonl") if r["task"] == "binary" and r["variant"] == "option"
            and r["split"] == "train"]
    assert {r["answer"] for r in recs} == {"A", "B"}
    vqa = write_jsonl(recs, tmp_path / "binary.jsonl")
    steps: list = []

    class Spy(trl.GRPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            steps.append(sorted({x["answer"] for x in inputs}))
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

    monkeypatch.setattr(trl, "GRPOTrainer", Spy)
    kw = dict(lr=0.0, beta=0.0, num_generations=2, grad_accum=1, max_completion_length=4, max_steps=4,
              image_size=56, use_cpu=True, bf16=False, gradient_checkpointing=False, logging_steps=1,
              entropy_coef=0.0, balance_answers=True)
    train_grpo(str(tiny_model_dir), str(vqa), str(tmp_path / "g"), batch_size=4, **kw)
    assert steps == [["A", "B"]] * 4
    with pytest.raises(ValueError, match="cannot hold the 2 gold answers"):
        train_grpo(str(tiny_model_dir), str(vqa), str(tmp_path / "g2"), batch_size=2, **kw)
