"""`radkit evaluate`: the RadIR protocols on similarity tables, JSON + HTML report."""

from __future__ import annotations

from typing import Optional


def evaluate(*, tables: str, out: str, model: Optional[str] = None, compare: Optional[str] = None,
             index: Optional[str] = None, split: str = "test", manifest: Optional[str] = None,
             anatomies: Optional[list[str]] = None, max_per_anatomy: int = 2000, batch_size: int = 16) -> int:
    """Evaluate retrieval (unconditional i2i/i2r/r2i and per-anatomy) against RadIR-layout tables.

    Writes OUT/metrics.json and a self-contained OUT/report.html (tables, plots, example queries).

    Example: radkit evaluate --model runs/radir-tiny/model --tables data/tables --split test --out runs/eval

    Args:
        tables: RadIR table folder (<split>.jsonl, <split>.npy, anatomy/<split>_entity|_ratescore/).
        out: output folder for metrics.json and report.html.
        model: model name, saved model folder or package.module:factory.
        compare: a second model, reported side by side.
        index: evaluate the embeddings stored in an index folder instead of --model.
        split: split of the tables.
        manifest: manifest mapping table sample names (study ids) to images and reports.
        anatomies: restrict the conditional protocol to these anatomies.
        max_per_anatomy: first rows of each anatomy table (RadIR: 2000).
        batch_size: images per forward pass.
    """
    from rich.console import Console
    from rich.table import Table

    from radkit.evaluation.protocol import evaluate as run
    from radkit.evaluation.report import write_report

    if model is None and index is None:
        raise ValueError("pass --model NAME|DIR or --index DIR")
    sources = ([{"index_dir": index}] if index else []) + [{"model": m} for m in (model, compare) if m]
    results = [run(tables, split=split, manifest=manifest, anatomies=anatomies, max_per_anatomy=max_per_anatomy,
                   batch_size=batch_size, **src) for src in sources]
    js, page = write_report(results, out)
    t = Table(title=f"RadIR metrics (%), split {split}")
    cols = [("i2i", "recall@1"), ("i2i", "recall@5"), ("i2i", "ndcg@10"), ("i2r", "recall@5"), ("r2i", "recall@5")]
    for c in ["model"] + [f"{a} {m}" for a, m in cols] + ["cond R@3", "cond R@5", "cond R@10"]:
        t.add_column(c)
    for r in results:
        u, cm = r["unconditional"], r["conditional"]["mean"]
        t.add_row(str(r.get("label", r["model"])), *[f"{100 * u[a].get(m, float('nan')):.2f}" for a, m in cols],
                  *[f"{100 * cm[k]:.2f}" if k in cm else "-" for k in ("recall@3", "recall@5", "recall@10")])
    Console(width=160).print(t)
    for r in results:
        for a, why in r["conditional"].get("skipped", {}).items():
            print(f"{r.get('label', r['model'])}: skipped anatomy {a!r}: {why}")
    print(f"wrote {js} and {page}")
    return 0


COMMAND = evaluate
