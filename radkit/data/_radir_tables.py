"""Private reader of the RadIR table layout (SPEC_RADIR §1.5), used until
`radkit.reports.tables` lands; it reads the same files with the same rules:

    <root>/<split>.jsonl                       {"name", "img_path", "text"} per row
    <root>/<split>.npy                         N x N global similarity (row order = jsonl order)
    <root>/anatomy/<split>_entity/<a>.csv      column "File Path" (or "Volumename") = sample name
    <root>/anatomy/<split>_ratescore/<a>.npy   N_a x N_a similarity (row order = csv order)

Tables are cropped to the listing length, clipped to [0, 1] and kept as uint8 percent.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def to_percent(sim: np.ndarray, n: int) -> np.ndarray:
    """Crop to (n, n), clip to [0, 1], round to uint8 percent (the released loaders' storage)."""
    if sim.shape[0] < n or sim.shape[1] < n:
        raise ValueError(f"similarity table is {sim.shape} but its listing has {n} rows; rebuild the tables")
    return np.rint(np.clip(sim[:n, :n].astype(np.float32), 0.0, 1.0) * 100).astype(np.uint8)


@dataclass
class SplitTables:
    """One split: sample names (row order), their rows, the global table and per-anatomy tables.

    Attributes:
        names: sample names, row order of ``sim``.
        rows: the jsonl rows (name, img_path, text).
        sim: (N, N) uint8 percent.
        anatomy: anatomy -> (row indices into ``names`` (N_a,), (N_a, N_a) uint8 percent).
    """

    names: list[str]
    rows: list[dict]
    sim: np.ndarray
    anatomy: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def load_split(root: str | Path, split: str) -> SplitTables:
    """Read one split of a RadIR table folder.

    Raises:
        FileNotFoundError: the listing or global table is missing (names the command that makes them).
    """
    root = Path(root)
    listing, table = root / f"{split}.jsonl", root / f"{split}.npy"
    for p in (listing, table):
        if not p.is_file():
            raise FileNotFoundError(f"similarity table file {p} not found; build the tables with "
                                    "`radkit data tables --manifest <manifest> --out <dir>` (or point to a "
                                    "MIMIC-IR / CTRATE-IR download)")
    rows = [json.loads(line) for line in listing.read_text().splitlines() if line.strip()]
    names = [str(r["name"]) for r in rows]
    sim = to_percent(np.load(table, allow_pickle=False), len(rows))
    out = SplitTables(names, rows, sim)
    where = {n: i for i, n in enumerate(names)}
    ent = root / "anatomy" / f"{split}_entity"
    for csv_path in sorted(ent.glob("*.csv")) if ent.is_dir() else []:
        npy = root / "anatomy" / f"{split}_ratescore" / f"{csv_path.stem}.npy"
        if not npy.is_file():
            continue
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            col = "File Path" if "File Path" in (reader.fieldnames or []) else "Volumename"
            ids = [str(r[col]) for r in reader]
        a_sim = to_percent(np.load(npy, allow_pickle=False), len(ids))
        keep = [i for i, n in enumerate(ids) if n in where]  # ids without an image row are dropped
        idx = np.array([where[ids[i]] for i in keep], dtype=np.int64)
        out.anatomy[csv_path.stem] = (idx, a_sim[np.ix_(keep, keep)])
    return out
