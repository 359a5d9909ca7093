"""Quality of the reasoner training path on synthetic VQA with a tiny model (CPU).

Pipeline: synthetic CXR studies -> binary VQA (effusion, edema; offline chains) -> tiny random
Qwen2-VL -> SFT (answer tokens weighted ``--answer-loss-weight``) for ``--sft-steps`` -> then, at
EQUAL EXTRA COMPUTE, (a) GRPO (format + outcome + process rewards) for ``--extra-steps`` steps and
(b) more SFT from the same checkpoint for the same wall-clock seconds as (a) took (measured in the
same run, same process, same single torch thread; Lightning ``max_time``). "Equal extra compute" =
equal training wall-clock; the sampled/trained token counts of both are printed beside it.
Each model is evaluated on the held-out (val + test) items with greedy decoding: format
compliance, accuracy per task with the chance level, its Wilson 95% CI and the one-sided binomial
p-value of beating chance, and RadRScore (offline judge); GRPO vs continued SFT is also compared
item by item (exact McNemar p-value). Bars (issue 6): SFT 100% format and binary accuracy
significantly above chance; GRPO after SFT better than SFT alone in accuracy or RadRScore.
Results: benchmarks/RESULTS.md. Torch runs on one thread (the box is shared, 2 cores).

Usage:
    python benchmarks/quality_reasoner.py            # the reported configuration (~8 min on 1 core)
    python benchmarks/quality_reasoner.py --quick    # ~25 s smoke run of the code path (no quality claim)
    python benchmarks/quality_reasoner.py --json out.json
    python benchmarks/quality_reasoner.py --workdir W --reuse-sft --grpo-beta 0.04   # GRPO variant, same SFT model
    # the issue-6 bar (RESULTS.md "Session 7"): chains for 15% of the studies, a label-only RL pool for the
    # rest; GRPO beat continued SFT on 5 of 5 fresh cohorts, pooled +0.020, p 0.0098 (~15 min on 1 core;
    # pool them with --combine). With --sft-fraction 0.3 it only ties.
    python benchmarks/quality_reasoner.py --data-seed 5 --sft-fraction 0.15 --labels-only-pool --grpo-balance \
        --grpo-prompts 8 --num-generations 4 --grpo-lr 1e-5 --grpo-select-pool 5000 --extra-steps 90 \
        --extra-seeds 2 --json F5.json
    python benchmarks/quality_reasoner.py --combine F5.json F6.json F7.json   # cohorts pooled (no run)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false",
               "OMP_NUM_THREADS": "1"}.items():
    os.environ.setdefault(_k, _v)


@dataclass
class Config:
    """Benchmark knobs (``--quick`` shrinks them). Defaults = the configuration reported in RESULTS.md."""

    n_studies: int = 2000
    image_size: int = 112          # 16 visual tokens per image after the 2x2 merge
    tasks: tuple[str, ...] = ("binary",)
    variants: tuple[str, ...] = ("option",)
    max_per_label: int = 100000
    # The two labels a 28x28-pixel logistic probe separates best on these images (0.85 / 0.82,
    # measured); the others sit at 0.43-0.61, where a tiny from-scratch model cannot beat chance.
    labels: tuple[str, ...] = ("pleural effusion", "edema")
    # With task "anomaly" and ``labels``, the open task asks "which of these labels are present?" (present
    # subset or "none", balanced; outcome = set-F1; `radkit.reasoning.vqa_open`).
    sft_steps: int = 900
    sft_lr: float = 1e-3
    batch_size: int = 16
    answer_loss_weight: float = 20.0  # measured: 1 -> 0.540 (always "No"), 20 -> 0.595 at 600 steps, n=200
    extra_steps: int = 30          # GRPO steps; continued SFT gets the same wall-clock seconds
    extra_seeds: int = 3           # GRPO / continued-SFT pairs (seeds seed, seed+1, ...) from the same SFT model
    extra_sft_lr: float = 3e-5     # = grpo_lr: both continuations take the same step size (constant lr)
    grpo_lr: float = 3e-5          # 1e-4: 0.810-0.853; 3e-5: 0.837-0.864 (greedy held-out, side runs)
    grpo_beta: float = 0.0
    num_generations: int = 8
    grpo_temperature: float = 0.7  # at 1.0 samples are ~20% malformed and GRPO lowered greedy accuracy (measured)
    grpo_prompts: int = 2          # prompts per GRPO step (x num_generations completions)
    grpo_iterations: int = 1       # optimizer passes per generated batch (PPO epochs)
    grpo_scale_rewards: str = "group"  # advantage scaling: group std (GRPO), batch std, none (Dr. GRPO)
    grpo_select_pool: int = 96     # train GRPO only on prompts whose SFT group has mixed outcomes (0: all);
    # without it 50-83% of groups at temperature 0.7 had zero reward variance (no gradient)
    grpo_select_rounds: int = 1    # > 1: split the GRPO steps into rounds, selecting mixed prompts afresh each;
    # 3 rounds matched 1 on dev at 1.8x the wall-clock (RESULTS.md session 7)
    grpo_balance: bool = False     # every GRPO step holds one prompt per gold answer (no answer-prior push)
    reward_weights: tuple[float, ...] = (0.1, 1.0, 0.1)  # format, outcome, process: outcome dominant
    sft_fraction: float = 1.0      # < 1: SFT trains on this share of the training studies and both
    # continuations (GRPO, continued SFT) on the rest, prompts the SFT model has not memorised
    labels_only_pool: bool = False  # with sft_fraction < 1: the rest is a LABEL-ONLY pool (answers, no report,
    # no chain; e.g. CheXpert/RSNA/SIIM in RadRBench): GRPO trains on it (outcome + format; no process reward
    # without a report); continued SFT, which needs chains, goes on over the SFT share
    max_new_tokens: int = 160      # binary targets are <= ~110 tokens
    max_eval: int = 400            # held-out items per task
    hidden: int = 128              # 64 did not even fit the training answers (measured)
    layers: int = 2
    seed: int = 0                  # model init, SFT batch order; GRPO / continued-SFT seeds are seed, seed+1, ...
    data_seed: int = 0             # synthetic studies + VQA sampling: 0 = the official split, 1 = dev (choose settings there)
    threads: int = 1               # on a shared, loaded 2-core box 1 thread was 15-25x faster than 2 (measured)


# --quick keeps plain CE: with weight 20 and only ~100 steps the hidden-64 model learned the answer tags
# before the chain and emitted "<answer> B </answer>" loops (format 0, measured).
QUICK = dict(n_studies=40, hidden=64, image_size=56, max_per_label=8, sft_steps=150, sft_lr=2e-3, batch_size=8,
             answer_loss_weight=1.0, extra_steps=2,
             num_generations=2, grpo_prompts=2, max_new_tokens=120, max_eval=16, labels=(), extra_seeds=1,
             grpo_select_pool=0)


def make_data(work: Path, cfg: Config) -> tuple[Path, list[dict]]:
    """Synthesise studies, build VQA with chains; returns (vqa.jsonl, held-out records)."""
    from radkit.data.synth import synthesize
    from radkit.reasoning.vqa import build_vqa, read_jsonl, write_jsonl

    manifest = synthesize(work / "synth", "cxr", n=cfg.n_studies, seed=cfg.data_seed, size=(cfg.image_size,) * 2,
                          progress=False)
    variants = tuple(cfg.variants) + (("no_option",) if "anomaly" in cfg.tasks else ())  # anomaly = the open form
    path = build_vqa(manifest, work / "vqa", seed=cfg.data_seed, tasks=cfg.tasks, variants=variants,
                     max_per_label=cfg.max_per_label, open_labels=cfg.labels if "anomaly" in cfg.tasks else ())
    recs = read_jsonl(path)
    n_all = len(recs)
    recs = [r for r in recs if r["variant"] in cfg.variants or r["task"] == "anomaly"]  # no_option only for anomaly
    if cfg.labels:  # label-keyed tasks keep the listed labels; the open task already asks about only those
        recs = [r for r in recs if r.get("label") in cfg.labels or r["task"] == "anomaly"]
    if len(recs) != n_all:
        path = write_jsonl(recs, work / "vqa" / "vqa_labels.jsonl")
    held: list[dict] = []
    for task in sorted({r["task"] for r in recs}):
        held += [r for r in recs if r["split"] in ("val", "test") and r["task"] == task][:cfg.max_eval]
    return path, held


# What a label-only study lacks: the report and everything mined or structured from it.
REPORT_FIELDS = ("original_report", "process", "reason_steps", "gt_findings", "prior_report")


def split_training(vqa: Path, fraction: float, out: Path, labels_only: bool = False) -> tuple[Path, Path]:
    """Two copies of ``vqa``: training studies split by a hash of ``study_id`` into a ``fraction`` for SFT
    and the rest for the continuations; held-out records are in both. ``labels_only``: the rest keeps its
    question and answer but loses the report and chain (`REPORT_FIELDS` set to None).
    Returns (sft vqa, continuation vqa)."""
    import zlib

    from radkit.reasoning.vqa import read_jsonl, write_jsonl

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"sft_fraction={fraction}; valid: 0 < f < 1 (1 = no split)")
    recs = read_jsonl(vqa)
    first = [zlib.crc32(r["study_id"].encode()) / 2 ** 32 < fraction for r in recs]
    held = [r for r in recs if r["split"] != "train"]
    a = [r for r, f in zip(recs, first) if r["split"] == "train" and f]
    b = [r for r, f in zip(recs, first) if r["split"] == "train" and not f]
    if labels_only:
        b = [{**r, **{k: None for k in REPORT_FIELDS if k in r}} for r in b]
    if not a or not b:
        raise ValueError(f"sft_fraction={fraction} leaves {len(a)} SFT / {len(b)} continuation training records")
    return write_jsonl(a + held, out / "vqa_sft.jsonl"), write_jsonl(b + held, out / "vqa_more.jsonl")


def evaluate(model_dir: Path, records: list[dict], cfg: Config) -> dict:
    """Greedy outputs on ``records`` scored per task (accuracy, chance, format, RadRScore) + per-item correctness."""
    import torch

    from radkit.reasoning.evaluate import add_chance
    from radkit.reasoning.infer import generate_batch
    from radkit.reasoning.outcome import outcome_score, parse_output
    from radkit.reasoning.radrscore import OfflineJudge
    from radkit.reasoning.score import score_records, task_of
    from radkit.reasoning.tiny import load_model

    model, proc = load_model(model_dir)
    model.eval()
    torch.manual_seed(cfg.seed)
    preds = generate_batch(model, proc, records, cfg.image_size, cfg.max_new_tokens, batch_size=16)
    rows = add_chance(score_records([{**r, "pred": p} for r, p in zip(records, preds)], OfflineJudge(),
                                    per_item=True), records)
    # per-item outcome and RadRScore (mean of R_c, R_f, R_e; unjudged = 0) for the paired tests, back in
    # ``records`` order from the rows' per-group lists (the judge ran once, inside score_records)
    per_group = {name: iter(zip(row.pop("item_outcomes"), row.pop("item_components"))) for name, row in rows.items()}
    correct, radr = [], []
    for r in records:
        outcome, comps = next(per_group[task_of(r, "all")])
        correct.append(outcome)
        radr.append(_mean(list(comps)) if comps is not None else 0.0)
    for name, row in rows.items():  # graded (set-F1) tasks: chance = the best constant answer, scored per item
        recs = [r for r in records if task_of(r, "all") == name]
        if recs and recs[0]["task"] == "anomaly":
            row["chance"], row["chance_answer"] = best_constant(recs)
            row["chance_scores"] = [outcome_score(row["chance_answer"], r) for r in recs]
            row["scores"] = [c for r, c in zip(records, correct) if task_of(r, "all") == name]
    # Share of "A" (= "Yes" in binary option items): a drift here is a bias shift, not image reading.
    share_a = _mean([float((parse_output(p).usable_answer or "").strip().upper().startswith("A")) for p in preds])
    return {"tasks": rows, "correct": correct, "radr": radr, "examples": preds[:3], "share_a": share_a}


def best_constant(records: list[dict]) -> tuple[float, str]:
    """(mean outcome, answer) of the best answer a model could give to every open item without looking:
    each subset of the items' candidate labels (``"none"`` for the empty one). The chance level of set-F1."""
    from itertools import combinations

    from radkit.reasoning.outcome import outcome_score

    cands = list(dict.fromkeys(lab for r in records for lab in (r.get("candidates") or [])))
    answers = ["none"] + [", ".join(c) for k in range(1, len(cands) + 1) for c in combinations(cands, k)]
    return max((_mean([outcome_score(a, r) for r in records]), a) for a in answers)


def paired_permutation(a: list[float], b: list[float], draws: int = 20000, seed: int = 0,
                       one_sided: bool = False) -> float:
    """Sign-flip permutation p-value of mean(a - b) (paired per item); one-sided tests a > b."""
    import numpy as np

    d = np.asarray(a, float) - np.asarray(b, float)
    if not d.any():
        return 1.0
    flips = np.random.default_rng(seed).choice([-1.0, 1.0], size=(draws, d.size))
    null = flips @ d
    obs = d.sum()
    hits = (null >= obs - 1e-12) if one_sided else (np.abs(null) >= abs(obs) - 1e-12)
    return float((hits.sum() + 1) / (draws + 1))


def mean_ci(xs: list[float], z: float = 1.96) -> tuple[float, float]:
    """Normal-approximation 95% interval of a mean of graded scores (set-F1)."""
    n = len(xs)
    if n < 2:
        return (0.0, 1.0)
    m = _mean(xs)
    sd = (sum((x - m) ** 2 for x in xs) / (n - 1)) ** 0.5
    return (m - z * sd / n ** 0.5, m + z * sd / n ** 0.5)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def run(cfg: Config, work: Path, log=print, reuse_sft: bool = False) -> dict:
    """The whole benchmark; returns {"config", "models": {name: evaluate(...)}, "seconds", "compute", ...}.

    ``reuse_sft``: use the SFT model already in ``work/sft`` (from a run with the same settings).
    """
    import torch

    from radkit.reasoning.grpo import train_grpo
    from radkit.reasoning.sft_train import train_sft
    from radkit.reasoning.tiny import build_tiny

    if cfg.labels_only_pool and cfg.sft_fraction >= 1.0:
        raise ValueError("labels_only_pool needs sft_fraction < 1 (the label-only pool is the rest); e.g. 0.3")
    torch.set_num_threads(cfg.threads)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    vqa, held = make_data(work, cfg)
    secs["data"] = time.perf_counter() - t
    log(f"data: {vqa} ({len(held)} held-out items) in {secs['data']:.0f}s")
    sft_vqa = grpo_vqa = vqa
    if cfg.sft_fraction < 1.0:
        sft_vqa, grpo_vqa = split_training(vqa, cfg.sft_fraction, work / "vqa", labels_only=cfg.labels_only_pool)
        log(f"training studies split: SFT {sft_vqa.name}, continuations {grpo_vqa.name}"
            + (" (label-only: GRPO; continued SFT stays on the chain share)" if cfg.labels_only_pool else ""))
    # continued SFT imitates chains, so with a label-only pool it can only go on over the chain share
    more_vqa = sft_vqa if cfg.labels_only_pool else grpo_vqa
    tiny = build_tiny(work / "tiny", seed=cfg.seed, hidden=cfg.hidden, layers=cfg.layers, image_size=cfg.image_size)
    sft_kw = dict(lr=cfg.sft_lr, epochs=1000, batch_size=cfg.batch_size, global_batch=cfg.batch_size,
                  precision="32-true", gradient_checkpointing=False, image_size=cfg.image_size, accelerator="cpu",
                  devices=1, seed=cfg.seed, log_every=10 ** 6, warmup_ratio=0.05,
                  answer_loss_weight=cfg.answer_loss_weight)
    t = time.perf_counter()
    sft = work / "sft"
    if reuse_sft and (sft / "train_state.json").exists():  # the SFT stage is deterministic on CPU (measured)
        log(f"sft: reusing {sft}")
    else:
        sft = train_sft(str(tiny), str(sft_vqa), str(sft), max_steps=cfg.sft_steps, **sft_kw)
    secs["sft"] = time.perf_counter() - t
    log(f"sft: {cfg.sft_steps} steps in {secs['sft']:.0f}s")
    models = {"sft": evaluate(sft, held, cfg)}
    computes, grpo_logs = [], []
    for k in range(cfg.extra_seeds):  # GRPO sampling / SFT batch order seeds, same SFT start
        seed = cfg.seed + k
        t = time.perf_counter()
        grpo = train_grpo(str(sft), str(grpo_vqa), str(work / f"grpo{k}"), lr=cfg.grpo_lr, beta=cfg.grpo_beta,
                          num_generations=cfg.num_generations, batch_size=cfg.grpo_prompts * cfg.num_generations,
                          grad_accum=1, max_completion_length=cfg.max_new_tokens, max_steps=cfg.extra_steps,
                          temperature=cfg.grpo_temperature, reward_weights=list(cfg.reward_weights),
                          entropy_coef=0.0, num_iterations=cfg.grpo_iterations,
                          select_pool=cfg.grpo_select_pool, scale_rewards=cfg.grpo_scale_rewards,
                          balance_answers=cfg.grpo_balance, select_rounds=cfg.grpo_select_rounds,
                          image_size=cfg.image_size, use_cpu=True, bf16=False,
                          gradient_checkpointing=False, logging_steps=max(1, cfg.extra_steps // 5), seed=seed,
                          epochs=1000)
        secs[f"grpo{k}"] = time.perf_counter() - t
        # Equal extra compute: continued SFT from the same checkpoint for GRPO's measured wall-clock
        # (both through their library entry points, model load and save included on both sides).
        t = time.perf_counter()
        sft_more = train_sft(str(sft), str(more_vqa), str(work / f"sft_more{k}"), max_steps=-1,
                             max_time_s=secs[f"grpo{k}"],
                             **{**sft_kw, "lr": cfg.extra_sft_lr, "warmup_ratio": 0.0, "seed": seed})
        secs[f"sft_more{k}"] = time.perf_counter() - t
        state = json.loads((Path(sft_more) / "train_state.json").read_text())
        glog = json.loads((Path(grpo) / "grpo_log.json").read_text())
        grpo_steps = max((e.get("step", 0) for e in glog), default=0)  # 0 when TRL had no batch to train on
        n_gen = grpo_steps * cfg.grpo_prompts * cfg.num_generations
        mean_len = _mean([e["completions/mean_length"] for e in glog if "completions/mean_length" in e])
        sel = Path(grpo) / "grpo_selection.json"
        computes.append({
            "seed": seed, "grpo_seconds": round(secs[f"grpo{k}"], 1), "sft_more_seconds": round(secs[f"sft_more{k}"], 1),
            "grpo_selection": json.loads(sel.read_text()) if sel.exists() else None,  # its sampling is in grpo_seconds
            "grpo_steps": grpo_steps, "grpo_completions": n_gen,
            "grpo_completion_tokens": round(n_gen * mean_len) if n_gen else 0,
            "sft_more_steps": state["global_step"], "sft_more_sequences": state["global_step"] * cfg.batch_size})
        log(f"extra compute (seed {seed}): grpo {grpo_steps} steps {secs[f'grpo{k}']:.0f}s; "
            f"sft {state['global_step']} steps {secs[f'sft_more{k}']:.0f}s")
        models[f"sft+sft/s{seed}"] = evaluate(sft_more, held, cfg)
        models[f"sft+grpo/s{seed}"] = evaluate(grpo, held, cfg)
        grpo_logs.append(glog)
    compute = {"definition": "equal training wall-clock: continued SFT stops after GRPO's measured seconds",
               "runs": computes}
    rewards = [{k: v for k, v in e.items() if k.startswith("rewards/") and k.endswith("/mean")}
               for e in (grpo_logs[0] if grpo_logs else [])]
    return {"config": asdict(cfg), "models": models, "seconds": secs, "compute": compute,
            "grpo_rewards": [r for r in rewards if r]}


def p_above_chance(accuracy: float, n: int, p0: float) -> float:
    """One-sided binomial p-value of ``round(accuracy * n)`` successes or more under chance ``p0``."""
    from math import comb

    k = round(accuracy * n)
    return sum(comb(n, i) * p0 ** i * (1 - p0) ** (n - i) for i in range(k, n + 1))


def wilson(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    d = 1 + z * z / n
    c = (accuracy + z * z / (2 * n)) / d
    h = z * ((accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) ** 0.5) / d
    return (c - h, c + h)


def mcnemar(a: list[float], b: list[float]) -> tuple[int, int, float]:
    """Exact two-sided McNemar test on paired 0/1 outcomes: (a-only right, b-only right, p)."""
    from math import comb

    x = sum(1 for u, v in zip(a, b) if u > v)
    y = sum(1 for u, v in zip(a, b) if u < v)
    n = x + y
    if n == 0:
        return x, y, 1.0
    tail = sum(comb(n, i) for i in range(0, min(x, y) + 1)) / 2 ** n
    return x, y, min(1.0, 2 * tail)


def verdict(result: dict) -> dict:
    """The issue's bars, evaluated on a `run` result.

    "Above chance" must be significant (one-sided binomial p < 0.05 on the held-out items):
    a model that always answers "No" scores the held-out share of negatives, which is not
    exactly 0.5. GRPO vs continued SFT: point estimates, with the paired McNemar p-value.
    """
    m = result["models"]
    sft = m["sft"]["tasks"]
    grpo, more = continuations(m)
    out: dict = {"sft_format_100": all(r["format"] == 1.0 for r in sft.values())}
    if "binary_option" in sft:
        b = sft["binary_option"]
        out["sft_binary_above_chance"] = p_above_chance(b["accuracy"], b["n"], b["chance"]) < 0.05
    if "anomaly_no_option" in sft:  # set-F1 against the best constant answer, paired per item
        a = sft["anomaly_no_option"]
        out["sft_anomaly_p_above_chance"] = paired_permutation(a["scores"], a["chance_scores"], one_sided=True)

    def mean(evs, key):  # over seeds and tasks
        return _mean([r[key] for ev in evs for r in ev["tasks"].values()])

    out["grpo_accuracy"], out["sft_more_accuracy"] = mean(grpo, "accuracy"), mean(more, "accuracy")
    out["grpo_radrscore"], out["sft_more_radrscore"] = mean(grpo, "RadRScore"), mean(more, "RadRScore")
    out["grpo_beats_sft_accuracy"] = out["grpo_accuracy"] > out["sft_more_accuracy"]
    out["grpo_beats_sft_radrscore"] = out["grpo_radrscore"] > out["sft_more_radrscore"]
    # paired per seed: (GRPO-only right, SFT-only right, exact two-sided p)
    out["grpo_vs_sft_mcnemar"] = [mcnemar(g["correct"], s_["correct"]) for g, s_ in zip(grpo, more)]
    # graded outcomes (set-F1): (items GRPO scored higher, items SFT scored higher, sign-flip p on the mean)
    out["grpo_vs_sft_paired"] = [(*mcnemar(g["correct"], s_["correct"])[:2],
                                  paired_permutation(g["correct"], s_["correct"])) for g, s_ in zip(grpo, more)]
    out["grpo_vs_sft_paired_radrscore"] = [paired_permutation(g["radr"], s_["radr"]) for g, s_ in zip(grpo, more)
                                           if "radr" in g and "radr" in s_]
    # each item's outcome averaged over the seeds, then a sign-flip test: one p for the whole run, and
    # whether GRPO (or continued SFT) moved away from the SFT start at all
    if grpo and more:
        out["seed_mean_p"] = start_tests(seed_mean([g["correct"] for g in grpo]),
                                         seed_mean([x["correct"] for x in more]), m["sft"]["correct"])
    return out


def continuations(models: dict) -> tuple[list[dict], list[dict]]:
    """(GRPO runs, continued-SFT runs) of a result's ``models``, in seed order."""
    return ([v for k, v in models.items() if k.startswith("sft+grpo/")],
            [v for k, v in models.items() if k.startswith("sft+sft/")])


def start_tests(grpo: list[float], sft_more: list[float], start: list[float]) -> dict[str, float]:
    """Two-sided sign-flip p per item list (same item order): GRPO vs continued SFT, and each vs the start."""
    return {"grpo_vs_sft_more": paired_permutation(grpo, sft_more),
            "grpo_vs_start": paired_permutation(grpo, start),
            "sft_more_vs_start": paired_permutation(sft_more, start)}


def seed_mean(runs: list[list[float]]) -> list[float]:
    """Per-item mean over seeds: ``runs`` is one outcome list per seed, all in the same item order."""
    return [sum(col) / len(col) for col in zip(*runs)]


def combine(results: list[dict]) -> dict:
    """Several runs (cohorts: different ``data_seed``) pooled: one row per cohort and one paired test over
    all their held-out items. Each item's outcome is first averaged over its run's seeds (`seed_mean`),
    then the items of all cohorts are concatenated and sign-flip tested (two-sided): GRPO against
    continued SFT and each against its SFT start. Cohorts are independent samples, so the pooled test
    asks whether the mean per-item difference over cohorts is zero.

    Returns:
        {"cohorts": [{"data_seed", "n", "seeds", "start", "grpo", "sft_more"}], "n", "start", "grpo",
        "sft_more" (item-weighted means), "p": {"grpo_vs_sft_more", "grpo_vs_start", "sft_more_vs_start"}}.
    """
    if not results:
        raise ValueError("combine needs at least one result (a --json file of a run)")
    rows, pooled = [], {"start": [], "grpo": [], "sft_more": []}
    for res in results:
        m = res["models"]
        grpo, more = ([v["correct"] for v in runs] for runs in continuations(m))
        if not grpo or len(grpo) != len(more):
            raise ValueError(f"a result (data_seed {res['config'].get('data_seed')}) has {len(grpo)} GRPO and "
                             f"{len(more)} continued-SFT runs; combine needs runs with both (extra_seeds >= 1)")
        cols = {"start": m["sft"]["correct"], "grpo": seed_mean(grpo), "sft_more": seed_mean(more)}
        for k, v in cols.items():
            pooled[k] += v
        rows.append({"data_seed": res["config"].get("data_seed"), "n": len(cols["start"]), "seeds": len(grpo),
                     **{k: _mean(v) for k, v in cols.items()}})
    p = start_tests(pooled["grpo"], pooled["sft_more"], pooled["start"])
    return {"cohorts": rows, "n": len(pooled["start"]), **{k: _mean(v) for k, v in pooled.items()}, "p": p}


def combine_table(c: dict) -> str:
    """Markdown table of `combine`'s result: a row per cohort, the pooled row, the pooled p-values."""
    lines = ["| cohort (data seed) | items | seeds | SFT start | GRPO | continued SFT | GRPO - continued SFT |",
             "|---|---|---|---|---|---|---|"]
    for r in c["cohorts"] + [{"data_seed": "pooled", "n": c["n"], "seeds": "", **c}]:
        lines.append(f"| {r['data_seed']} | {r['n']} | {r['seeds']} | {r['start']:.3f} | {r['grpo']:.3f} | "
                     f"{r['sft_more']:.3f} | {r['grpo'] - r['sft_more']:+.3f} |")
    return "\n".join(lines) + "\npooled sign-flip p: " + json.dumps({k: round(v, 4) for k, v in c["p"].items()})


def table(result: dict) -> str:
    """Markdown table: one row per (model, task)."""
    lines = ["| model | task | n | accuracy | 95% CI | chance | p(>chance) | format | R_c | R_f | R_e | RadRScore |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, ev in result["models"].items():
        for task, r in ev["tasks"].items():
            if "scores" in r:  # graded task: CI of the mean, p vs the best constant answer (paired)
                p = paired_permutation(r["scores"], r["chance_scores"], one_sided=True)
                lo, hi = mean_ci(r["scores"])
            else:
                p = p_above_chance(r["accuracy"], r["n"], r["chance"])
                lo, hi = wilson(r["accuracy"], r["n"])
            lines.append(f"| {model} | {task} | {r['n']} | {r['accuracy']:.3f} | {lo:.3f}-{hi:.3f} | {r['chance']:.3f} | "
                         f"{p:.3f} | {r['format']:.3f} | {r['R_c']:.3f} | {r['R_f']:.3f} | {r['R_e']:.3f} | "
                         f"{r['RadRScore']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (~50 s; no quality claim)")
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("--workdir", help="keep intermediate files here (default: a temporary folder)")
    ap.add_argument("--reuse-sft", action="store_true",
                    help="with --workdir: reuse WORKDIR/sft from an earlier run of the same settings")
    for f, v in asdict(Config()).items():
        if isinstance(v, bool):
            ap.add_argument("--" + f.replace("_", "-"), action="store_true", default=None)
        elif not isinstance(v, tuple):
            ap.add_argument("--" + f.replace("_", "-"), type=type(v), default=None)
    ap.add_argument("--reward-weights", default=None, help="comma-separated format,outcome,process weights")
    ap.add_argument("--tasks", default=None, help="comma-separated VQA tasks (default binary)")
    ap.add_argument("--labels", default=None, help="comma-separated labels to keep ('' = all; default effusion, edema)")
    ap.add_argument("--combine", nargs="+", metavar="RESULT_JSON",
                    help="no run: pool the --json results of earlier runs (one per cohort) and print combine()")
    args = ap.parse_args(argv)
    if args.combine:
        missing = [f for f in args.combine if not Path(f).is_file()]
        if missing:
            ap.error(f"--combine: no such file {', '.join(missing)} (give the --json files of earlier runs)")
        print(combine_table(combine([json.loads(Path(f).read_text()) for f in args.combine])))
        return 0
    base = {**asdict(Config()), **(QUICK if args.quick else {})}
    for f in asdict(Config()):
        v = getattr(args, f, None)
        if v is not None and f not in ("tasks", "labels", "reward_weights"):
            base[f] = v
    if args.tasks:
        base["tasks"] = tuple(args.tasks.split(","))
    if args.reward_weights:
        base["reward_weights"] = tuple(float(x) for x in args.reward_weights.split(","))
    if args.labels is not None:
        base["labels"] = tuple(x for x in args.labels.split(",") if x)
    cfg = Config(**base)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        result = run(cfg, work, log=lambda m: print(m, file=sys.stderr, flush=True), reuse_sft=args.reuse_sft)
    result["verdict"] = verdict(result)
    result["total_seconds"] = time.perf_counter() - t0
    print(table(result))
    print("share of 'A' answers:", json.dumps({k: round(v["share_a"], 3) for k, v in result["models"].items()}))
    print("equal extra compute:", json.dumps(result["compute"]))
    print("grpo rewards (per logging step):", json.dumps(result["grpo_rewards"]))
    print("verdict:", json.dumps(result["verdict"]))
    print(f"total {result['total_seconds']:.0f}s; seconds: " + json.dumps({k: round(v, 1) for k, v in result["seconds"].items()}))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
