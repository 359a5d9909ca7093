"""Evaluate a model on VQA records: predictions, per-task scores with chance levels, JSON + HTML summary.

`evaluate` = batched greedy prediction (`radkit.reasoning.infer.generate_batch`) +
`radkit.reasoning.score.score_records` + the chance level and format compliance of
each task. `write_html` renders the result as one self-contained HTML page (inline
CSS, no scripts, no external files) for sharing.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from radkit.reasoning.prompts import LETTERS


def chance(task: str, variant: str, n_options: int) -> float:
    """Accuracy of a uniform random guess: 1/#options; binary no-option 1/2, temporal 1/3; NaN for open anomaly."""
    if variant == "option" and n_options:
        return 1.0 / n_options
    return {"binary": 0.5, "temporal": 1 / 3}.get(task, float("nan"))


def add_chance(rows: dict[str, dict], records: list[dict]) -> dict[str, dict]:
    """Add ``chance`` and ``format`` (share of well-formed outputs) to `score_records` rows (in place)."""
    for name, row in rows.items():
        recs = [r for r in records if f"{r.get('task')}_{r.get('variant')}" == name]
        if recs:
            n_opt = len(recs[0].get("options") or [])
            row["chance"] = chance(recs[0]["task"], recs[0]["variant"], n_opt)
        row["format"] = 1 - row["malformed"] / row["n"] if row["n"] else 0.0
    return rows


def evaluate(model_dir: str | os.PathLike, vqa: str | os.PathLike, out_dir: str | os.PathLike,
             split: str = "test", judge: str = "offline", image_size: int = 448, max_new_tokens: int = 512,
             max_items: int | None = None, batch_size: int = 8, progress: bool = True) -> dict:
    """Predict ``split`` of ``vqa`` with a local model and score it; writes preds.jsonl, scores.json, summary.html.

    Returns:
        ``{"model", "vqa", "split", "tasks": {task_variant: row}, "macro": {...}}`` with the rows of
        `radkit.reasoning.score.score_records` plus ``chance`` and ``format``.

    Raises:
        ValueError: no records of ``split``.
    """
    from radkit.fileio import atomic_write_bytes
    from radkit.reasoning.infer import generate_batch
    from radkit.reasoning.radrscore import make_judge
    from radkit.reasoning.score import macro, score_records
    from radkit.reasoning.tiny import load_model
    from radkit.reasoning.vqa import read_jsonl, write_jsonl

    all_recs = read_jsonl(vqa)
    recs = [r for r in all_recs if r.get("split", split) == split][:max_items]
    if not recs:
        raise ValueError(f"no {split!r} records in {vqa}; valid splits there: "
                         f"{sorted({str(r.get('split')) for r in all_recs})}")
    model, proc = load_model(model_dir)
    model.eval()
    preds = generate_batch(model, proc, recs, image_size, max_new_tokens, batch_size, progress)
    scored = [{**r, "pred": p} for r, p in zip(recs, preds)]
    out = Path(out_dir)
    write_jsonl(scored, out / "preds.jsonl")
    rows = add_chance(score_records(scored, make_judge(judge), progress=progress), scored)
    result = {"model": str(model_dir), "vqa": str(vqa), "split": split, "judge": judge, "tasks": rows,
              "macro": macro(rows), "examples": {name: next(p["pred"] for p in scored
                                                            if f"{p['task']}_{p['variant']}" == name)
                                                 for name in rows}}
    atomic_write_bytes(out / "scores.json", json.dumps(result, indent=1).encode())
    atomic_write_bytes(out / "summary.html", write_html(result).encode("utf-8"))
    return result


def _fmt(v) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


def write_html(result: dict) -> str:
    """One self-contained HTML page: a table per task (accuracy vs chance, format, RadRScore) and notes."""
    cols = ["n", "accuracy", "chance", "format", "R_c", "R_f", "R_e", "RadRScore", "judged", "dropped"]
    head = "".join(f"<th>{c}</th>" for c in ["task"] + cols)
    body = []
    for name, row in result["tasks"].items():
        cells = "".join(f"<td>{_fmt(row.get(c, ''))}</td>" for c in cols)
        flag = " class=warn" if row.get("accuracy", 0) <= row.get("chance", -1) else ""
        body.append(f"<tr{flag}><td>{html.escape(name)}</td>{cells}</tr>")
    m = result.get("macro", {})
    body.append("<tr class=macro><td>macro</td>" + "".join(f"<td>{_fmt(m.get(c, ''))}</td>" for c in cols) + "</tr>")
    notes = []
    for name, row in result["tasks"].items():
        if row.get("problems"):
            notes.append(f"{html.escape(name)}: malformed outputs (scored wrong): "
                         + ", ".join(f"{html.escape(k)} {v}" for k, v in row["problems"].items()))
        if row.get("unknown_task"):
            notes.append(f"{html.escape(name)}: {row['unknown_task']} record(s) of an unknown task type (not in macro)")
        if row.get("dropped"):
            notes.append(f"{html.escape(name)}: {row['dropped']} sample(s) the judge could not score "
                         "(left out of R_c/R_f/R_e)")
    examples = "".join(f"<h3>{html.escape(k)}</h3><pre>{html.escape(v)}</pre>"
                       for k, v in (result.get("examples") or {}).items())
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>radkit reason evaluate</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:4px 8px;text-align:right}td:first-child{text-align:left}.warn{background:#fde2e2}"
            ".macro{font-weight:bold}pre{white-space:pre-wrap;background:#f6f6f6;padding:8px}</style></head><body>"
            f"<h1>Reasoner evaluation</h1><p>model <code>{html.escape(str(result.get('model')))}</code>, "
            f"VQA <code>{html.escape(str(result.get('vqa')))}</code>, split {html.escape(str(result.get('split')))}, "
            f"judge {html.escape(str(result.get('judge')))}. Chance = uniform guess over the options "
            f"({'/'.join(LETTERS[:4])}); red rows are at or below chance.</p>"
            f"<table><tr>{head}</tr>{''.join(body)}</table>"
            + (f"<h2>Notes</h2><ul>{''.join(f'<li>{n}</li>' for n in notes)}</ul>" if notes else "")
            + f"<h2>Example outputs</h2>{examples}</body></html>")
