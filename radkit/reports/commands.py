"""Report commands, mounted under `radkit data ...` (annotate, anatomies, structure, tables-info)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional


def annotate(manifest: str, out: Optional[str] = None, backend: Literal["lexicon", "embedding", "ratescore"] = "lexicon",
             modality: Optional[Literal["cxr", "ct"]] = None, block: int = 256) -> int:
    """Write global and per-anatomy report-similarity tables in the RadIR layout (resumable).

    Example: radkit data annotate runs/synth-cxr/manifest.jsonl --out runs/synth-cxr/tables --backend lexicon

    Args:
        manifest: manifest file (.jsonl, .csv, .parquet).
        out: output folder (<split>.jsonl, <split>.npy, anatomy/<split>_entity|_ratescore/);
            default: a "tables" folder next to the manifest.
        backend: lexicon (offline rules), embedding (offline MiniLM), ratescore (pip install ratescore).
        modality: cxr or ct; needed when the manifest mixes modalities.
        block: rows per similarity block (bounds memory).
    """
    from radkit.reports.annotate import annotate as run

    out = out or str(Path(manifest).parent / "tables")
    summary = run(manifest, out, backend=backend, modality=modality, block=block, progress=True)
    for split, info in summary.items():
        print(f"{split}: {info['n']} studies, {len(info['anatomies'])} anatomy tables, "
              f"{len(info['skipped'])} files kept from a previous run, {info['warnings']} unparsed sentences")
    print(f"tables in {out}")
    return 0


def anatomies(modality: Literal["cxr", "ct"] = "cxr") -> int:
    """List the anatomy names of a modality with their parent (the names tables and queries use).

    Example: radkit data anatomies --modality ct
    """
    from radkit.reports.anatomy import taxonomy

    for a in taxonomy(modality).values():
        print(f"{a.name}\t{a.parent or '-'}")
    return 0


def structure(text: str, modality: Literal["cxr", "ct"] = "cxr") -> int:
    """Structure a report (text, or a path to a .txt file) into anatomy/finding/status items (JSON lines).

    Example: radkit data structure "Small left pleural effusion. No pneumothorax." --modality cxr
    """
    from radkit.reports.structure import structure_report

    p = Path(text)
    if len(text) < 255 and p.suffix == ".txt" and p.is_file():
        text = p.read_text(encoding="utf-8")
    rep = structure_report(text, modality)
    for it in rep.items:
        print(json.dumps({"anatomy": it.anatomy, "finding": it.finding, "status": it.status,
                          "severity": it.severity, "change": it.change, "size_mm": it.size_mm,
                          "sentence": rep.sentences[it.sentence].text}))
    for w in rep.warnings:
        print(f"warning: {w}")
    return 0


def tables_info(root: str) -> int:
    """Summarise a RadIR-layout table folder: studies per split, global table range, anatomy sizes.

    Example: radkit data tables-info runs/synth-cxr/tables
    """
    from radkit.reports.annotate import tables_info as info

    for split, d in info(root).items():
        print(f"{split}: {d['n']} studies, global table {d['global_shape']} range {d['global_range']}, "
              f"{len(d['anatomies'])} anatomies")
        for a, n in sorted(d["anatomies"].items(), key=lambda kv: -kv[1]):
            print(f"  {a}\t{n}")
    return 0


COMMANDS = {"annotate": annotate, "anatomies": anatomies, "structure": structure, "tables-info": tables_info}
