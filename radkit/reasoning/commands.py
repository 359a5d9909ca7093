"""`radkit reason ...`: VQA building, chain mining, scoring, SFT, GRPO, inference (thin shells)."""

from __future__ import annotations

import json
from pathlib import Path

from radkit.reasoning.grpo import train_grpo
from radkit.reasoning.sft_train import train_sft


def build_vqa(manifest: str, out: str = "vqa", seed: int = 0, tasks: list[str] | None = None,
              variants: list[str] | None = None, max_per_label: int = 200, miner: str = "offline",
              observe: str = "truth") -> int:
    """Build RadRBench-style VQA items (5 tasks x option/no_option) with reasoning chains.

    Example:
        radkit reason build-vqa data/synth/manifest.jsonl --out vqa

    Args:
        manifest: manifest of studies with findings.
        out: output folder (vqa.jsonl, summary.json).
        seed: sampling seed.
        tasks: subset of binary, single, multi, anomaly, temporal (default all).
        variants: subset of option, no_option (default both).
        max_per_label: binary positives (and negatives) per label.
        miner: "offline" (deterministic chains) or "none" (no chains; run `radkit reason mine`).
        observe: label source: "truth" (ground-truth findings of synthetic studies) or "report"
            (the report text through the report structurer; for real studies).
    """
    from radkit.reasoning import vqa

    path = vqa.build_vqa(manifest, out, seed, tasks or vqa.TASKS, variants or vqa.VARIANTS, max_per_label,
                         None if miner == "none" else miner, observe)
    print(f"wrote {path}")
    print((Path(out) / "summary.json").read_text())
    return 0


def mine(vqa: str, manifest: str, out: str = "vqa_mined.jsonl", teacher: str = "offline", base_url: str | None = None,
         model: str | None = None, cache_dir: str | None = None, workers: int = 8, observe: str = "truth") -> int:
    """(Re)mine reasoning chains for VQA records with the offline miner or an LLM teacher.

    Example:
        radkit reason mine vqa/vqa.jsonl data/manifest.jsonl --out vqa_llm.jsonl --teacher llm --base_url http://127.0.0.1:8000/v1 --model qwen

    Args:
        vqa: VQA JSONL to mine.
        manifest: the manifest the VQA was built from (observations, prior studies).
        out: output JSONL.
        teacher: "offline" or "llm" (OpenAI-compatible server at base_url serving model).
        cache_dir: on-disk cache of teacher replies.
        workers: thread-pool size.
        observe: "truth" (ground-truth findings) or "report" (structured report text).
    """
    from radkit.data.manifest import read_manifest
    from radkit.reasoning.labels import make_observer
    from radkit.reasoning.mining import make_teacher, mine_items
    from radkit.reasoning.vqa import read_jsonl, write_jsonl

    studies = {s.study_id: s for s in read_manifest(manifest)}
    recs, stats = mine_items(read_jsonl(vqa), studies, make_teacher(teacher, base_url, model, cache_dir),
                             observe=make_observer(observe), workers=workers, progress=True)
    write_jsonl(recs, out)
    print(json.dumps(stats, indent=1))
    return 0


def score(files: str, judge: str = "offline", base_url: str | None = None, model: str | None = None,
          cache_dir: str | None = None, out: str | None = None) -> int:
    """Accuracy per task and RadRScore components for prediction files (radkit or the release's format).

    Examples:
        radkit reason score eval/res/reasoning_res/ours_process_final_150 --judge recorded
        radkit reason score runs/eval/*.jsonl

    Args:
        files: prediction files (several words, or comma-separated) or folders of them (JSONL of
            records with `pred`, or the release's JSON lists).
        judge: "offline" (default; with recorded judge outputs present it also reports agreement),
            "recorded" (the release's GPT-4o outputs), or "llm" (needs base_url and model).
        out: optional JSON file for the full result.
    """
    from radkit.fileio import atomic_write_bytes
    from radkit.reasoning.infer import format_table
    from radkit.reasoning.radrscore import make_judge
    from radkit.reasoning.score import score_files

    paths: list[Path] = []
    for part in files.split(","):
        p = Path(part)
        paths += sorted(x for x in p.iterdir() if x.suffix in (".json", ".jsonl")) if p.is_dir() else [p]
    result = score_files(paths, make_judge(judge, base_url, model, cache_dir), compare_recorded=judge == "offline")
    print(format_table(result))
    if out:
        atomic_write_bytes(Path(out), json.dumps(result, indent=1).encode())
    return 0


score.many_positional = True  # `radkit reason score a.json b.json` (radkit.cli joins the words with commas)


def answer(question: str, model: str | None = None, image: str | None = None, image_size: int = 448, max_new_tokens: int = 512) -> int:
    """Answer a question about one or more images with a local Qwen2-VL-family model.

    Example:
        radkit reason answer "Does this chest X-ray show edema?" --model runs/grpo --image cxr.png

    Args:
        model: local model folder.
        question: the question (options may be appended as " Options:\\nA) ...").
        image: image path, or comma-separated paths (prior first, then current, for a temporal question).
    """
    from radkit.reasoning.infer import answer as run

    if not model or not image:
        raise ValueError("answer needs --model DIR (a local model folder) and --image PATH (repeat for several)")
    print(run(model, question, image.split(","), image_size, max_new_tokens))
    return 0


def predict(vqa: str, model: str | None = None, out: str = "preds.jsonl", split: str = "test", image_size: int = 448, max_new_tokens: int = 512,
            max_items: int | None = None) -> int:
    """Run a model over VQA records and write predictions for `radkit reason score`.

    Example:
        radkit reason predict vqa/vqa.jsonl --model runs/grpo --out preds.jsonl
    """
    from radkit.reasoning.infer import predict as run

    if not model:
        raise ValueError("predict needs --model DIR (a local model folder)")
    print(f"wrote {run(model, vqa, out, split, image_size, max_new_tokens, max_items)}")
    return 0


def evaluate(vqa: str, model: str | None = None, out: str = "eval", split: str = "test", judge: str = "offline",
             image_size: int = 448, max_new_tokens: int = 512, max_items: int | None = None, batch_size: int = 8) -> int:
    """Predict and score a VQA split: accuracy vs chance per task, format, RadRScore; JSON + HTML summary.

    Example:
        radkit reason evaluate vqa/vqa.jsonl --model runs/grpo --out eval

    Args:
        vqa: VQA JSONL (from `radkit reason build-vqa`).
        model: local model folder.
        out: output folder (preds.jsonl, scores.json, summary.html).
        split: records of this split.
        judge: RadRScore judge: "offline" or "llm" (see `radkit reason score`).
        max_items: evaluate only the first N records of the split.
        batch_size: prompts per generation batch.
    """
    from radkit.reasoning.evaluate import evaluate as run
    from radkit.reasoning.infer import format_table

    if not model:
        raise ValueError("evaluate needs --model DIR (a local model folder)")
    result = run(model, vqa, out, split, judge, image_size, max_new_tokens, max_items, batch_size)
    print(format_table(result))
    print(f"wrote {Path(out) / 'scores.json'} and {Path(out) / 'summary.html'}")
    return 0


def _with_config(fn):
    """``fn`` plus a ``--config FILE.yaml`` argument: YAML keys fill every argument left at its default.

    The CLI builds parsers from signatures, so the wrapper advertises ``fn``'s signature
    with ``config`` first. An argument typed on the command line (differing from its
    default) wins over the file.
    """
    import functools
    import inspect

    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def run(config: str | None = None, **kwargs):
        if config:
            import yaml

            cfg = yaml.safe_load(Path(config).read_text()) or {}
            unknown = set(cfg) - set(sig.parameters)
            if unknown:
                raise KeyError(f"config {config}: unknown key(s) {sorted(unknown)}; valid: {', '.join(sig.parameters)}")
            for k, v in cfg.items():
                if kwargs.get(k, sig.parameters[k].default) == sig.parameters[k].default:
                    kwargs[k] = v
        fn(**kwargs)
        return 0

    cfg_param = inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                  annotation="str | None")
    run.__signature__ = sig.replace(parameters=[cfg_param, *sig.parameters.values()], return_annotation=int)
    run.__annotations__ = {**fn.__annotations__, "config": "str | None", "return": "int"}
    run.__doc__ = (fn.__doc__ or "").replace("    Args:\n", "    Args:\n        config: YAML file of argument values "
                                            "(configs/reason_*.yaml); command-line values win.\n", 1)
    return run


COMMANDS = {"build-vqa": build_vqa, "mine": mine, "score": score, "sft": _with_config(train_sft),
            "grpo": _with_config(train_grpo),
            "answer": answer, "predict": predict, "evaluate": evaluate}
