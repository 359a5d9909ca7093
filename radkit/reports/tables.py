"""Read and write similarity tables in the RadIR release layout (SPEC_RADIR.md §1.5).

Layout of one dataset folder::

    <root>/
      <split>.jsonl                          # one line per study: {"name": id, "img_path": path, "text": report}
      <split>.npy                            # (N, N) float32 global similarity; row/col order = jsonl line order
      anatomy/<split>_entity/<anatomy>.csv   # one row per study mentioning <anatomy>; column "File Path" = name
                                             #   (older releases: column "Volumename")
      anatomy/<split>_ratescore/<anatomy>.npy  # (N_a, N_a) similarity; row/col order = csv row order

The released CT-RATE folder stores the test split's anatomy tables under ``val_*``;
the reader falls back to ``val`` when ``test`` is missing. Release semantics kept by
the reader: a .npy larger than its csv/jsonl is cropped to the top-left block;
studies whose image file is missing are dropped with their rows and columns; values
are clipped to [0, 1] (a counted warning says how many were outside); optional uint8
percent quantisation (``round(100 * S)``, divide by 100 to use); anatomy tables are
symmetrised by ``max(S, S.T)``; the training cap (random subset, seed 42, original
order kept) and the evaluation filter (keep a study only if another one has S > 0.9).
All writes are atomic (temp file + rename), so an interrupted run leaves only
complete files.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from radkit.fileio import atomic_write_bytes, read_jsonl, write_jsonl

ID_COLUMNS = ("File Path", "Volumename")
EVAL_THRESHOLD = 0.9
TRAIN_MAX_SAMPLES = 12000


# ----------------------------------------------------------------------------------------- writing

def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write an .npy atomically (float32 unless uint8)."""
    path = Path(path)
    arr = array if array.dtype == np.uint8 else np.asarray(array, dtype=np.float32)
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())
    return path


def open_npy_for_write(path: str | os.PathLike, n: int) -> tuple[np.memmap, Path]:
    """A memory-mapped (n, n) float32 .npy at a temp name; call `commit_npy` when filled."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    return np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, n)), tmp


def commit_npy(mm: np.memmap, tmp: Path, path: str | os.PathLike) -> Path:
    """Flush a memory-mapped table written by `open_npy_for_write` and move it into place."""
    mm.flush()
    del mm
    os.replace(tmp, path)
    return Path(path)


def write_split_jsonl(root: str | os.PathLike, split: str, names: Sequence[str], img_paths: Sequence[str],
                      texts: Sequence[str]) -> Path:
    """Write ``<root>/<split>.jsonl`` ({"name", "img_path", "text"} per line), atomically."""
    if not len(names) == len(img_paths) == len(texts):
        raise ValueError(f"names/img_paths/texts lengths differ: {len(names)}, {len(img_paths)}, {len(texts)}")
    return write_jsonl(({"name": n, "img_path": p, "text": t} for n, p, t in zip(names, img_paths, texts)),
                       Path(root) / f"{split}.jsonl")


def write_entity_csv(root: str | os.PathLike, split: str, anatomy: str, ids: Sequence[str]) -> Path:
    """Write ``anatomy/<split>_entity/<anatomy>.csv`` with the "File Path" column, atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([ID_COLUMNS[0]])
    w.writerows([i] for i in ids)
    path = entity_csv_path(root, split, anatomy)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


def entity_csv_path(root, split: str, anatomy: str) -> Path:
    """Path of the entity csv of ``anatomy`` in ``split``."""
    return Path(root) / "anatomy" / f"{split}_entity" / f"{anatomy}.csv"


def anatomy_npy_path(root, split: str, anatomy: str) -> Path:
    """Path of the similarity .npy of ``anatomy`` in ``split``."""
    return Path(root) / "anatomy" / f"{split}_ratescore" / f"{anatomy}.npy"


# ----------------------------------------------------------------------------------------- reading

@dataclass
class Table:
    """Similarity table with its study ids.

    Attributes:
        ids: study names, in row order.
        sim: (N, N) float32 in [0, 1], or uint8 percent when quantised.
        img_paths: image path per id ("" when unknown).
        texts: report per id ("" when unknown).
    """

    ids: list[str]
    sim: np.ndarray
    img_paths: list[str]
    texts: list[str]


def read_jsonl_rows(path: str | os.PathLike) -> list[dict]:
    """Rows of a split jsonl; a bad line raises ValueError naming it."""
    return read_jsonl(path, "expected the RadIR layout (<split>.jsonl next to <split>.npy), "
                            "write one with `radkit data annotate`")


def read_entity_ids(path: str | os.PathLike) -> list[str]:
    """Study ids of an entity csv (column "File Path", or legacy "Volumename")."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        col = next((c for c in ID_COLUMNS if c in (reader.fieldnames or [])), None)
        if col is None:
            raise ValueError(f"{path}: no id column; expected one of {ID_COLUMNS}, found {reader.fieldnames}")
        return [row[col] for row in reader]


def _load_square(path: Path, n: int) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"similarity table {path} not found; run `radkit data annotate` or check the folder")
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.ndim != 2 or arr.shape[0] < n or arr.shape[1] < n:
        raise ValueError(f"{path} has shape {arr.shape} but its id list has {n} rows; the table and the "
                         "id list do not belong together (a smaller table would shift rows), rebuild it")
    return arr[:n, :n]  # release loaders crop a larger table


def _clean(sim: np.ndarray, where: str, quantize: bool, symmetrize: bool) -> np.ndarray:
    sim = np.asarray(sim, dtype=np.float32)
    if np.isnan(sim).any():
        raise ValueError(f"{where}: table contains NaN; rebuild it")
    outside = int(((sim < 0) | (sim > 1)).sum())
    if outside:
        warnings.warn(f"{where}: {outside} values outside [0, 1] clipped", stacklevel=3)
    sim = np.clip(sim, 0.0, 1.0)
    if symmetrize:
        sim = np.maximum(sim, sim.T)
    return np.round(sim * 100).astype(np.uint8) if quantize else sim


def _existing(paths: list[str], root: Path) -> np.ndarray:
    return np.array([bool(p) and (Path(p) if os.path.isabs(p) else root / p).exists() for p in paths], bool)


def read_global(root: str | os.PathLike, split: str, check_images: bool = True,
                quantize: bool = False) -> Table:
    """Read ``<split>.jsonl`` + ``<split>.npy`` (cropped; rows with missing images dropped)."""
    root = Path(root)
    rows = read_jsonl_rows(root / f"{split}.jsonl")
    sim = _load_square(root / f"{split}.npy", len(rows))
    ids = [str(r["name"]) for r in rows]
    paths = [str(r.get("img_path") or "") for r in rows]
    texts = [str(r.get("text") or "") for r in rows]
    keep = _existing(paths, root) if check_images else np.ones(len(rows), bool)
    if not keep.all():
        warnings.warn(f"{root}/{split}: {int((~keep).sum())} of {len(rows)} studies dropped (image file missing)",
                      stacklevel=2)
    idx = np.flatnonzero(keep)
    sim = _clean(np.asarray(sim)[np.ix_(idx, idx)], f"{root}/{split}.npy", quantize, symmetrize=False)
    return Table([ids[i] for i in idx], sim, [paths[i] for i in idx], [texts[i] for i in idx])


def _anatomy_split(root: Path, split: str, anatomy: str) -> str:
    if split == "test" and not entity_csv_path(root, "test", anatomy).exists() \
            and entity_csv_path(root, "val", anatomy).exists():
        return "val"  # the CT-RATE release keeps its test split's anatomy tables under val_*
    return split


def list_table_anatomies(root: str | os.PathLike, split: str) -> list[str]:
    """Anatomies that have an entity csv for ``split`` (sorted)."""
    root = Path(root)
    for s in ([split, "val"] if split == "test" else [split]):
        d = root / "anatomy" / f"{s}_entity"
        if d.is_dir():
            return sorted(p.stem for p in d.glob("*.csv"))
    return []


def read_anatomy(root: str | os.PathLike, split: str, anatomy: str, index: Table | None = None,
                 quantize: bool = False, symmetrize: bool = True, max_samples: int | None = None,
                 seed: int = 42, eval_filter: bool = False, threshold: float = EVAL_THRESHOLD) -> Table:
    """Read one anatomy table as the RadIR loaders do.

    Args:
        root: dataset folder.
        split: "train", "val" or "test" (test falls back to the val_* folders).
        anatomy: anatomy name (file stem).
        index: the split's global `Table` (from `read_global`); ids absent from it (for
            example because their image is missing) are dropped with their rows/cols.
        quantize: return uint8 percent instead of float32.
        symmetrize: ``S <- max(S, S.T)``.
        max_samples: training cap: random subset of this many rows (``seed``), order kept.
        eval_filter: keep only studies with another study above ``threshold``.

    Raises:
        FileNotFoundError: the anatomy has no csv/npy (the message lists available anatomies).
    """
    root = Path(root)
    s = _anatomy_split(root, split, anatomy)
    csv_path = entity_csv_path(root, s, anatomy)
    if not csv_path.is_file():
        avail = list_table_anatomies(root, split)
        raise FileNotFoundError(f"no table for anatomy {anatomy!r} in split {split!r} under {root}/anatomy; "
                                f"available: {avail[:20] or 'none'}")
    ids = read_entity_ids(csv_path)
    sim = _load_square(anatomy_npy_path(root, s, anatomy), len(ids))
    keep = np.arange(len(ids))
    meta = {}
    if index is not None:
        meta = {i: (p, t) for i, p, t in zip(index.ids, index.img_paths, index.texts)}
        keep = np.array([k for k in keep if ids[k] in meta], dtype=np.int64)
    if max_samples is not None and len(keep) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=max_samples, replace=False))
    sim = _clean(np.asarray(sim)[np.ix_(keep, keep)], str(csv_path.with_suffix(".npy")), False, symmetrize)
    ids = [ids[k] for k in keep]
    if eval_filter:
        mask = evaluation_mask(sim, threshold)
        sim, ids = sim[np.ix_(mask, mask)], [i for i, m in zip(ids, mask) if m]
    if quantize:
        sim = np.round(sim * 100).astype(np.uint8)
    return Table(ids, sim, [meta.get(i, ("", ""))[0] for i in ids], [meta.get(i, ("", ""))[1] for i in ids])


def evaluation_mask(sim: np.ndarray, threshold: float = EVAL_THRESHOLD) -> np.ndarray:
    """(N,) bool: study i has at least one *other* study j with ``sim[i, j] > threshold``.

    ``sim`` may be float in [0, 1] or uint8 percent.
    """
    s = sim.astype(np.float32) / (100.0 if sim.dtype == np.uint8 else 1.0)
    s = s.copy()
    np.fill_diagonal(s, -1.0)
    return (s > threshold).any(axis=1)
