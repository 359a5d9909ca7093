"""Read and write manifests (JSONL, CSV or Parquet) of `Study` records.

One module owns the format: the file suffix chooses the codec; list/struct columns
(image_paths, findings) are stored as JSON strings in CSV, natively in JSONL/Parquet.
Writes are atomic (temp file in the same folder, then rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from radkit.data.study import Study
from radkit.fileio import atomic_write_bytes, read_jsonl, write_jsonl

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"manifest {path}: unknown suffix {path.suffix!r}; valid: {', '.join(FORMATS)}; "
                         "rename the file or convert it")
    return fmt


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Raw rows of a manifest as dicts (no validation), in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown suffix, or a line that is not valid JSON (line number named).
    """
    path = Path(path)
    fmt = _format(path)
    missing = ("create one with `radkit data synth` or an adapter (`radkit data from-radir`, "
               "`radkit data from-dicom`)")
    if fmt == "jsonl":
        return read_jsonl(path, missing, label="manifest")
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} not found; {missing}")
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False) if fmt == "csv" else pd.read_parquet(path)
    rows = df.to_dict(orient="records")
    for r in rows:
        for key in ("image_paths", "findings"):
            v = r.get(key)
            if isinstance(v, str) and v.startswith("["):
                r[key] = json.loads(v)
            elif hasattr(v, "tolist"):
                r[key] = v.tolist()
        for key, v in list(r.items()):
            if v == "":
                r[key] = None if key not in ("report",) else ""
    return rows


def read_manifest(path: str | os.PathLike, resolve_paths: bool = True) -> list[Study]:
    """Read a manifest into `Study` records.

    Args:
        path: .jsonl, .csv or .parquet file.
        resolve_paths: make relative image paths absolute against the manifest's folder.

    Raises:
        ValueError / KeyError: naming the row number and the bad field (use
            `radkit data validate` for a full report).
    """
    path = Path(path)
    out = []
    for i, row in enumerate(read_rows(path), 1):
        try:
            s = Study.from_dict(row)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: row {i}: {e}; run `radkit data validate {path}`") from None
        if resolve_paths:
            s.image_paths = [p if os.path.isabs(p) else str((path.parent / p).resolve()) for p in s.image_paths]
        out.append(s)
    return out


def write_rows(rows: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write raw dict rows to a manifest file (atomic). Returns the path."""
    path = Path(path)
    fmt = _format(path)
    rows = list(rows)
    if fmt == "jsonl":
        return write_jsonl(rows, path)
    import io

    import pandas as pd

    flat = [{k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()} for r in rows]
    df = pd.DataFrame(flat)
    buf = io.BytesIO()
    if fmt == "csv":
        df.to_csv(buf, index=False)
    else:
        df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_manifest(studies: Iterable[Study], path: str | os.PathLike) -> Path:
    """Write `Study` records to ``path`` (.jsonl/.csv/.parquet), atomically. Returns the path."""
    return write_rows((s.to_dict() for s in studies), path)
