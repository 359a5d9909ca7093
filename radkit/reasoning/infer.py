"""Inference: answer a question about images, and predict a VQA file for scoring."""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from radkit.reasoning.sft import build_messages, load_image
from radkit.reasoning.vqa import read_jsonl, write_jsonl


def generate(model, processor, record: dict, image_size: int = 448, max_new_tokens: int = 512,
             temperature: float = 0.0) -> str:
    """The model's raw output for one record (question + images), greedy when ``temperature`` is 0."""
    import torch

    images = [load_image(p, image_size) for p in record.get("image_path", [])]
    prompt = processor.apply_chat_template(build_messages(record), add_generation_prompt=True, tokenize=False)
    enc = processor(text=[prompt], images=images or None, return_tensors="pt").to(model.device)
    kw = dict(max_new_tokens=max_new_tokens, do_sample=temperature > 0)
    if temperature > 0:
        kw["temperature"] = temperature
    with torch.no_grad():
        out = model.generate(**enc, **kw)
    return processor.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)[0]


def generate_batch(model, processor, records: list[dict], image_size: int = 448, max_new_tokens: int = 512,
                   batch_size: int = 16, progress: bool = False, **sampling) -> list[str]:
    """Raw outputs for many records, ``batch_size`` at a time (left-padded prompts).

    Greedy by default: the same outputs as `generate` per record up to padding effects on numerics.
    ``sampling`` replaces the greedy setting with `generate` keyword arguments (e.g. ``do_sample=True,
    temperature=1.0, num_return_sequences=G``); with G sequences per prompt the flat result holds
    each record's G outputs next to each other, in record order.
    """
    import torch

    gen_kw = sampling or {"do_sample": False}
    outs: list[str] = []
    for i in tqdm(range(0, len(records), batch_size), desc="generate", disable=not progress):
        chunk = records[i:i + batch_size]
        texts = [processor.apply_chat_template(build_messages(r), add_generation_prompt=True, tokenize=False)
                 for r in chunk]
        images = [load_image(p, image_size) for r in chunk for p in r.get("image_path", [])]
        enc = processor(text=texts, images=images or None, return_tensors="pt", padding=True).to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, **gen_kw)
        outs += processor.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return outs


def answer(model_dir: str, question: str, images: list[str], image_size: int = 448, max_new_tokens: int = 512,
           temperature: float = 0.0) -> str:
    """Answer ``question`` about ``images`` with a local model; returns the raw ``<think>/<answer>`` text."""
    from radkit.reasoning.tiny import load_model

    model, proc = load_model(model_dir)
    model.eval()
    return generate(model, proc, {"question": question, "image_path": list(images)}, image_size, max_new_tokens,
                    temperature)


def predict(model_dir: str, vqa: str, out: str, split: str = "test", image_size: int = 448,
            max_new_tokens: int = 512, max_items: int | None = None, progress: bool = True) -> Path:
    """Write ``out`` = the VQA records of ``split`` with a ``pred`` field (input of `radkit reason score`)."""
    from radkit.reasoning.tiny import load_model

    model, proc = load_model(model_dir)
    model.eval()
    recs = [r for r in read_jsonl(vqa) if r.get("split", split) == split][:max_items]
    if not recs:
        raise ValueError(f"no {split!r} records in {vqa}; valid splits there: "
                         f"{sorted({r.get('split') for r in read_jsonl(vqa)})}")
    outs = []
    for r in tqdm(recs, desc="predict", disable=not progress):
        outs.append({**r, "pred": generate(model, proc, r, image_size, max_new_tokens)})
    return write_jsonl(outs, out)


def format_table(result: dict) -> str:
    """A plain-text table of `radkit.reasoning.score.score_files` output."""
    cols = ["n", "accuracy", "malformed", "judged", "dropped", "R_c", "R_f", "R_e", "RadRScore"]
    if any("chance" in r for r in result["tasks"].values()):
        cols.insert(2, "chance")
    lines = ["task".ljust(28) + "".join(c.rjust(10) for c in cols)]
    for name, row in list(result["tasks"].items()) + [("MACRO", result["macro"])]:
        cells = []
        for c in cols:
            v = row.get(c, "")
            cells.append((f"{v:.3f}" if isinstance(v, float) else str(v)).rjust(10))
        lines.append(name[:28].ljust(28) + "".join(cells))
        if row.get("problems"):
            lines.append("    malformed outputs (counted wrong): " + ", ".join(f"{k} {v}" for k, v in row["problems"].items()))
        if row.get("unknown_task"):
            lines.append(f"    {row['unknown_task']} record(s) with an unknown task type: kept apart, not in MACRO")
        if row.get("no_judgment"):
            lines.append(f"    {row['no_judgment']} record(s) carry no recorded judge outputs (an accuracy_res "
                         "file?): accuracy only; score the reasoning_res file for R_c/R_f/R_e")
        if row.get("dropped"):
            lines.append(f"    {row['dropped']} sample(s) unjudged (judge failed or its recorded output is "
                         "malformed), left out of R_c/R_f/R_e"
                         + (f"; first error: {row['judge_errors'][0]}" if row.get("judge_errors") else ""))
        for comp, a in (row.get("agreement") or {}).items():
            lines.append(f"    offline vs recorded {comp}: pearson {a['pearson']:.3f}  mean diff {a['mean_diff']:+.3f}"
                         f"  (n={a['n']})")
    return "\n".join(lines) + "\n" + json.dumps({"macro": result["macro"]})
