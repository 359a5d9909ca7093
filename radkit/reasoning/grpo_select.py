"""Prompt selection for GRPO: keep prompts on which the starting policy's group has mixed outcomes.

GRPO's advantage is ``(r_i - mean(r)) / std(r)`` within a prompt's group; a group whose
completions all score the same has zero advantage and contributes no gradient. After SFT
most prompts are such groups at moderate temperature (measured on the tiny benchmark: 50-83%
of groups at temperature 0.7), so a step spends its compute on nothing. `select_mixed`
samples a group per candidate prompt once with the starting policy and keeps the prompts
whose outcome rewards differ (DAPO's dynamic sampling, done once up front instead of per step).
Its sampling cost is part of the GRPO run's compute.
"""

from __future__ import annotations

from radkit.reasoning.infer import generate_batch
from radkit.reasoning.outcome import outcome_score, parse_output


def sample_groups(model, processor, records: list[dict], num_generations: int, temperature: float = 1.0,
                  image_size: int = 448, max_new_tokens: int = 512, batch_prompts: int = 4,
                  progress: bool = False) -> list[list[str]]:
    """``num_generations`` sampled outputs per record (``batch_prompts`` records per `generate` call)."""
    flat = generate_batch(model, processor, records, image_size, max_new_tokens, batch_prompts, progress,
                          do_sample=True, temperature=temperature, top_p=1.0, num_return_sequences=num_generations)
    return [flat[j * num_generations:(j + 1) * num_generations] for j in range(len(records))]


def select_mixed(model, processor, records: list[dict], num_generations: int, temperature: float = 1.0,
                 image_size: int = 448, max_new_tokens: int = 512, seed: int = 0,
                 min_keep: int = 1) -> tuple[list[dict], dict]:
    """Records whose sampled group has at least two different outcome rewards.

    Returns:
        (kept records, stats {"candidates", "kept", "mean_outcome", "fallback"}); when fewer than
        ``min_keep`` groups are mixed (a GRPO step needs that many prompts) the input is returned
        unchanged with ``fallback`` True: GRPO still runs, and the stats say why it may not learn.
    """
    import torch

    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    groups = sample_groups(model, processor, records, num_generations, temperature, image_size, max_new_tokens)
    model.train(was_training)
    kept, total = [], []
    for r, g in zip(records, groups):
        scores = [outcome_score(parse_output(o).usable_answer, r) for o in g]
        total += scores
        if max(scores) > min(scores):
            kept.append(r)
    fallback = len(kept) < max(1, min_keep)
    stats = {"candidates": len(records), "kept": len(kept), "mean_outcome": sum(total) / max(1, len(total)),
             "fallback": fallback}
    return (records if fallback else kept), stats


def answer_classes(records: list[dict]) -> dict[str, list[dict]]:
    """Records grouped by gold answer (stripped text), in input order within each group."""
    classes: dict[str, list[dict]] = {}
    for r in records:
        classes.setdefault(str(r.get("answer", "")).strip(), []).append(r)
    return classes


def interleave_by_answer(records: list[dict], seed: int = 0) -> list[dict]:
    """Records reordered so every run of ``k`` consecutive prompts (k = number of distinct answers)
    holds one prompt per answer; smaller answer classes are cycled to the size of the largest.

    Why: with a few prompts per GRPO step, a step whose prompts share one gold answer pushes the
    answer prior one way, and group-normalised advantages have no restoring force (a group that
    drifts to all-wrong has zero advantage). On the tiny binary benchmark the held-out share of
    "Yes" answers drifted from 0.5 to 0.15-0.64 in 30 steps (measured). Balanced steps remove the
    batch-composition part of that push. Measured there, balance alone still drifted (0.29-0.59 at
    2 prompts x 8); balance with 8 prompts x 4 per step held it at 0.34-0.42 (RESULTS.md, session 6).
    Meant for option tasks (answers are letters); train without shuffling.
    """
    import random

    rng = random.Random(seed)
    groups = [rng.sample(v, len(v)) for _, v in sorted(answer_classes(records).items())]
    if len(groups) < 2:
        return list(records)
    n = max(len(g) for g in groups)
    return [g[i % len(g)] for i in range(n) for g in groups]
