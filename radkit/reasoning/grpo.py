"""GRPO (SPEC_REASONER §4.4, §4.7) with TRL's `GRPOTrainer` and radkit's rewards.

`train_grpo` turns VQA records into a conversational multimodal dataset (prompt =
question + think/answer suffix, images resized, reward columns kept), builds the
rewards of `radkit.reasoning.rewards`, and runs TRL. The §4.4 settings are the
defaults in ``configs/reason_grpo.yaml``: lr 5e-7, beta 0.001 (k3 KL as a loss),
epsilon 0.2, 8 generations, temperature 1.0, token-level loss, entropy 0.001.
"""

from __future__ import annotations

import json
from pathlib import Path

from radkit.reasoning import prompts
from radkit.reasoning.vqa import read_jsonl


def to_dataset(records: list[dict], image_size: int = 448):
    """A `datasets.Dataset` for TRL: ``prompt`` (conversational), ``images`` and the reward columns."""
    from datasets import Dataset

    from radkit.reasoning.sft import load_image

    rows = []
    for r in records:
        rows.append({
            "prompt": [{"role": "user", "content": prompts.user_text(r["question"])}],
            "images": [load_image(p, image_size) for p in r.get("image_path", [])],
            "answer": str(r["answer"]), "task": r.get("task", ""), "variant": r.get("variant", "option"),
            "modality": r.get("modality") or "cxr",
            # Mixed-type fields travel as JSON strings (Arrow columns need one type).
            "positives": json.dumps(r.get("positives") or []), "gt_findings": json.dumps(r.get("gt_findings") or []),
            "process": r.get("process") or "", "original_report": r.get("original_report") or "",
        })
    return Dataset.from_list(rows)


def train_grpo(model: str | None = None, vqa: str | None = None, out_dir: str = "runs/grpo", rewards: list[str] | None = None,
               reward_weights: list[float] | None = None, completeness_weight: float = 0.0,
               lr: float = 5e-7, beta: float = 0.001, epsilon: float = 0.2, num_generations: int = 8,
               batch_size: int = 8, grad_accum: int = 32, temperature: float = 1.0, top_p: float = 1.0,
               max_completion_length: int = 2048, entropy_coef: float = 0.001, weight_decay: float = 0.01,
               max_grad_norm: float = 1.0, loss_type: str = "dapo", epochs: float = 3, max_steps: int = -1,
               image_size: int = 448, split: str = "train", bf16: bool = True, gradient_checkpointing: bool = True,
               use_vllm: bool = False, lora: bool = False, use_cpu: bool = False, seed: int = 0,
               logging_steps: int = 10, save_steps: int = 40, max_samples: int | None = None,
               num_iterations: int = 1, select_pool: int = 0, scale_rewards: str = "group",
               balance_answers: bool = False, select_rounds: int = 1) -> Path:
    """Run GRPO (TRL) from a local SFT model on VQA records; saves the policy to ``out_dir``.

    Args:
        model: local model folder (the SFT checkpoint).
        vqa: ``vqa.jsonl`` (records with answers; chains/reports enable the process reward).
        rewards: reward names; ``reward_weights`` one weight each (None: all 1, §4.5).
        completeness_weight: share of R_c in the process reward.
        batch_size, grad_accum, num_generations: completions per device step, accumulation, group size
            (§4.4: 256 prompts x 8 per update).
        loss_type: TRL loss aggregation ("dapo" = token mean over the accumulated batch, as verl's token-mean).
        use_vllm: generate with vLLM (GPU); lora: train LoRA adapters (merged on save).
        max_samples: use only the first N records (smoke runs).
        num_iterations: optimizer passes over each generated batch (verl ``ppo_epochs``, 1 in §4.4);
            above 1 the PPO clip (``epsilon``) becomes active and generation cost is amortised.
        select_pool: if > 0, sample a group for this many (shuffled) training prompts with the
            starting policy and train only on those with mixed outcomes
            (`radkit.reasoning.grpo_select.select_mixed`); 0 = all prompts (§4.4).
        scale_rewards: advantage = (r - group mean) / group std ("group", GRPO and §4.4), / batch std
            ("batch"), or unscaled ("none", Dr. GRPO): with "group" a group whose completions differ
            only in a low-weight reward (e.g. 0.1 x format) gets advantages of unit size all the same.
        select_rounds: with ``select_pool``, split ``max_steps`` into this many rounds and select the
            mixed prompts afresh with the current policy before each (DAPO's dynamic sampling, per round
            instead of per batch): prompts the policy has solved drop out and newly uncertain ones come
            in. Each round is a new TRL trainer, so the optimizer state restarts per round.
        balance_answers: order the prompts so each step holds every gold answer equally
            (`radkit.reasoning.grpo_select.interleave_by_answer`; option tasks) and do not shuffle;
            batch_size / num_generations must then be a multiple of the number of answers.

    Returns:
        ``out_dir``.

    Example:
        radkit reason grpo --config configs/reason_grpo.yaml --model runs/sft --vqa vqa/vqa.jsonl --out_dir runs/grpo

    Raises:
        ValueError: no records of ``split`` or fewer than one step's prompts; unknown reward;
            weights/rewards length mismatch; batch_size not a multiple of num_generations;
            select_rounds > 1 without select_pool or without max_steps >= select_rounds.
    """
    from trl import GRPOConfig, GRPOTrainer

    from radkit.reasoning.rewards import make_rewards
    from radkit.reasoning.tiny import load_model

    if scale_rewards not in ("group", "batch", "none"):
        raise ValueError(f"scale_rewards={scale_rewards!r}; valid: group, batch, none")
    if not model or not vqa:
        raise ValueError("train_grpo needs model (the SFT model folder, --model DIR) and vqa (--vqa FILE.jsonl)")
    recs = [r for r in read_jsonl(vqa) if r.get("split", split) == split][:max_samples]
    if not recs:
        raise ValueError(f"no {split!r} records in {vqa}; build them with `radkit reason build-vqa`")
    rewards = list(rewards or ["format", "outcome", "process"])
    funcs = make_rewards(rewards, completeness_weight=completeness_weight)
    if reward_weights is not None and len(reward_weights) != len(funcs):
        raise ValueError(f"reward_weights has {len(reward_weights)} values for {len(funcs)} rewards {list(rewards)}")
    if batch_size % num_generations:
        raise ValueError(f"batch_size={batch_size} must be a multiple of num_generations={num_generations} "
                         "(completions per step = prompts per step x group size)")
    need = batch_size // num_generations  # prompts per device step; fewer would give TRL zero batches
    if len(recs) < need:
        raise ValueError(f"{len(recs)} {split!r} record(s) but a GRPO step needs {need} prompts (batch_size "
                         f"{batch_size} / num_generations {num_generations}); lower batch_size or add records")
    if select_rounds < 1 or (select_rounds > 1 and (select_pool <= 0 or max_steps < select_rounds)):
        raise ValueError(f"select_rounds={select_rounds} needs select_pool > 0 and max_steps >= select_rounds "
                         f"(got select_pool={select_pool}, max_steps={max_steps}); use select_rounds=1 otherwise")
    net, proc = load_model(model, dtype="float32")
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "v_proj"],
                                 task_type="CAUSAL_LM")
    selections, history = [], []
    for k in range(select_rounds):
        # round k's steps: max_steps split as evenly as possible (-1, epochs decide, when one round)
        steps = max_steps if select_rounds == 1 else max_steps // select_rounds + (k < max_steps % select_rounds)
        train = recs
        if select_pool > 0:
            train, selection = _select_prompts(net, proc, recs, select_pool, num_generations, temperature,
                                               image_size, max_completion_length, seed + k, need)
            selections.append({"round": k, **selection})
        if balance_answers:
            train = _balanced(train, need, seed + k)
        args = GRPOConfig(
            output_dir=str(out_dir), learning_rate=lr, beta=beta, epsilon=epsilon, num_generations=num_generations,
            per_device_train_batch_size=batch_size, gradient_accumulation_steps=grad_accum, temperature=temperature,
            top_p=top_p, max_completion_length=max_completion_length, entropy_coef=entropy_coef,
            weight_decay=weight_decay, max_grad_norm=max_grad_norm, loss_type=loss_type, num_train_epochs=epochs,
            max_steps=steps, bf16=bf16 and not use_cpu, gradient_checkpointing=gradient_checkpointing,
            use_vllm=use_vllm, use_cpu=use_cpu, seed=seed + k, logging_steps=logging_steps, save_steps=save_steps,
            reward_weights=reward_weights, report_to="none", lr_scheduler_type="constant", warmup_steps=0,
            save_strategy="no", disable_tqdm=False, num_iterations=num_iterations, scale_rewards=scale_rewards,
            shuffle_dataset=not balance_answers,  # balanced order is the point; TRL would reshuffle it
        )
        trainer = GRPOTrainer(model=net, reward_funcs=funcs, args=args, train_dataset=to_dataset(train, image_size),
                              processing_class=proc, peft_config=peft_config if k == 0 else None)
        trainer.train()
        done = history[-1]["step"] if history else 0  # steps of the rounds before (logs carry running totals)
        history += [{**e, "step": e.get("step", 0) + done, "round": k} for e in trainer.state.log_history]
        net = trainer.model
    policy = trainer.model.merge_and_unload() if lora else trainer.model
    out = Path(out_dir)
    policy.save_pretrained(out)
    proc.save_pretrained(out)
    (out / "grpo_log.json").write_text(json.dumps(history, indent=1))
    if selections:  # one round: the stats object as before; several: a list, one per round
        (out / "grpo_selection.json").write_text(json.dumps(selections[0] if len(selections) == 1 else selections))
    return out


def _select_prompts(net, proc, recs: list[dict], select_pool: int, num_generations: int, temperature: float,
                    image_size: int, max_new_tokens: int, seed: int, need: int) -> tuple[list[dict], dict]:
    """`grpo_select.select_mixed` on a seeded sample of ``select_pool`` records (all when fewer)."""
    import random
    import warnings

    from radkit.reasoning.grpo_select import select_mixed

    pool = random.Random(seed).sample(recs, min(select_pool, len(recs)))
    kept, selection = select_mixed(net, proc, pool, num_generations, temperature, image_size, max_new_tokens,
                                   seed, min_keep=need)
    if selection["fallback"]:
        warnings.warn(f"GRPO prompt selection: {selection['kept']} of {selection['candidates']} groups had "
                      f"mixed outcomes (mean outcome {selection['mean_outcome']:.3f}), fewer than the {need} "
                      "prompts a step needs; training on the whole pool, where most groups have zero "
                      "advantage. Use prompts the policy still gets wrong (another split, a larger "
                      "select_pool) or a higher temperature.", stacklevel=3)
    return kept, selection


def _balanced(recs: list[dict], need: int, seed: int) -> list[dict]:
    """``recs`` interleaved by gold answer (`grpo_select.interleave_by_answer`); refuses a step size
    (``need`` prompts) that cannot hold every answer equally."""
    from radkit.reasoning.grpo_select import answer_classes, interleave_by_answer

    n_ans = len(answer_classes(recs))
    if need % n_ans:
        raise ValueError(f"balance_answers: {need} prompts per step cannot hold the {n_ans} gold answers "
                         f"equally; use batch_size = num_generations x a multiple of {n_ans}")
    return interleave_by_answer(recs, seed)
