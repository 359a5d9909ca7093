"""Evaluation reports: JSON plus one self-contained HTML file (tables, matplotlib plots
embedded as base64 PNG, example queries with thumbnails). Several results (models) are
shown side by side."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from radkit.fileio import atomic_write_bytes


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _thumb(path: str, size: int = 96) -> str:
    """A grayscale thumbnail (middle axial slice for CT) as a data URI; "" if unreadable."""
    try:
        from PIL import Image

        from radkit.retrieval.embed import load_image

        arr = np.asarray(load_image(path).array, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[:, :, arr.shape[2] // 2].T
        lo, hi = np.percentile(arr, [1, 99])
        arr = np.clip((arr - lo) / max(hi - lo, 1e-6), 0, 1)
        im = Image.fromarray((arr * 255).astype(np.uint8))
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:  # a missing thumbnail must not sink the report
        return ""


def _table(header: list[str], rows: list[list]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _fmt(v) -> str:
    return f"{100 * v:.2f}" if isinstance(v, float) else str(v)


def _ks(metrics: dict, prefix: str) -> list[int]:
    return sorted(int(k.split("@")[1]) for k in metrics if k.startswith(prefix + "@"))


def _plots(results: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, task in zip(axes, ("i2i", "i2r", "r2i")):
        for r in results:
            m = r["unconditional"][task]
            ks = _ks(m, "recall")
            ax.plot(ks, [100 * m[f"recall@{k}"] for k in ks], marker="o", label=r.get("label", r["model"]))
        ax.set(title=f"{task} R@K", xlabel="K", ylabel="%", xscale="log", ylim=(0, 102))
        if task == "i2i" and all(r["unconditional"]["i2i"]["n_valid"] == 0 for r in results):
            ax.text(0.5, 0.5, "no query has a partner with S > 0.9", transform=ax.transAxes, ha="center")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    out.append(_png(fig))
    anats = sorted({a for r in results for a in r["conditional"]["per_anatomy"]})
    if anats:
        k = _ks(next(iter(results[0]["conditional"]["per_anatomy"].values()), {}) or {"recall@3": 0}, "recall")[0]
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(anats) * len(results)), 3.5))
        w = 0.8 / len(results)
        for i, r in enumerate(results):
            vals = [100 * r["conditional"]["per_anatomy"].get(a, {}).get(f"recall@{k}", np.nan) for a in anats]
            ax.bar(np.arange(len(anats)) + i * w, vals, w, label=r.get("label", r["model"]))
        ax.set_xticks(np.arange(len(anats)) + 0.4 - w / 2, anats, rotation=45, ha="right")
        ax.set(title=f"conditional R@{k} per anatomy", ylabel="%", ylim=(0, 102))
        ax.legend(fontsize=8)
        out.append(_png(fig))
    return out


def render_html(results: Sequence[dict]) -> str:
    """The HTML report of one or more `radkit.evaluation.protocol.evaluate` results."""
    results = list(results)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>radkit evaluation</title><style>"
             "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{margin:2px}"
             "</style></head><body><h1>radkit retrieval evaluation</h1>",
             "<p>Recall@K is a hit rate (trec_eval success.K), relevant = S &gt; 0.9; NDCG@K uses graded gains S; "
             "values in %. Image-&gt;image excludes the query itself.</p>"]
    parts.append(_table(["model", "fingerprint", "split", "n", "tables"],
                        [[r.get("label", r["model"]), r["fingerprint"], r["split"], r["n"], r["tables"]] for r in results]))
    for task in ("i2i", "i2r", "r2i"):
        keys = [k for k in results[0]["unconditional"][task] if "@" in k and not k.startswith("upper")]
        parts.append(f"<h2>unconditional {task}</h2>")
        parts.append(_table(["model"] + keys, [[r.get("label", r["model"])] + [r["unconditional"][task][k] for k in keys]
                                               for r in results]))
    mean = results[0]["conditional"]["mean"]
    if mean:
        keys = [k for k in mean if k.startswith(("recall@", "ndcg@"))]
        parts.append("<h2>conditional (mean over anatomies)</h2>")
        parts.append(_table(["model"] + keys, [[r.get("label", r["model"])] + [r["conditional"]["mean"].get(k, "") for k in keys]
                                               for r in results]))
        anats = sorted({a for r in results for a in r["conditional"]["per_anatomy"]})
        rk = [k for k in keys if k.startswith("recall@")][:3]
        parts.append("<h2>conditional per anatomy</h2>")
        parts.append(_table(["anatomy"] + [f"{r.get('label', r['model'])} {k}" for r in results for k in rk],
                            [[a] + [r["conditional"]["per_anatomy"].get(a, {}).get(k, "") for r in results for k in rk]
                             for a in anats]))
    skipped = [[r.get("label", r["model"]), a, why] for r in results
               for a, why in r["conditional"].get("skipped", {}).items()]
    if skipped:
        parts.append("<h2>conditional: skipped anatomies</h2>")
        parts.append(_table(["model", "anatomy", "reason"], skipped))
    parts += [f"<img src='{p}'>" for p in _plots(results)]
    for r in results:
        if r.get("examples"):
            parts.append(f"<h2>example image-&gt;image queries ({html.escape(str(r.get('label', r['model'])))})</h2>")
            for ex in r["examples"]:
                cells = [f"<figure style='display:inline-block'><img src='{_thumb(ex['image'])}'>"
                         f"<figcaption>query {html.escape(ex['query'])}</figcaption></figure>"]
                cells += [f"<figure style='display:inline-block'><img src='{_thumb(h['image'])}'><figcaption>"
                          f"{html.escape(h['name'])}<br>cos {h['score']:.3f} S {h['S']:.2f}</figcaption></figure>"
                          for h in ex["hits"]]
                parts.append("<div>" + "".join(cells) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results: dict | Sequence[dict], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``report.html`` (atomic) into ``out_dir``; returns both paths."""
    results = [results] if isinstance(results, dict) else list(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js, page = out / "metrics.json", out / "report.html"
    atomic_write_bytes(js, json.dumps(results if len(results) > 1 else results[0], indent=2).encode())
    atomic_write_bytes(page, render_html(results).encode())
    return js, page
