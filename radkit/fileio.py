"""Atomic writes and JSON Lines, shared by manifests, RadIR tables and VQA files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_jsonl(text: str, path: str | os.PathLike) -> list[dict]:
    """Objects of JSON Lines ``text`` (blank lines skipped); ``path`` only names the source in errors.

    Raises:
        ValueError: a line that is not valid JSON, named as ``path:line``.
    """
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e.msg}); fix or remove the line") from None
    return rows


def read_jsonl(path: str | os.PathLike, missing_hint: str, label: str = "") -> list[dict]:
    """Objects of a JSON Lines file.

    Args:
        path: the file.
        missing_hint: what to do when it is missing (appended to the FileNotFoundError).
        label: what the file is ("manifest", "VQA file"), prefixed to the missing-file message.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{label + ' ' if label else ''}{path} not found; {missing_hint}")
    return parse_jsonl(path.read_text(encoding="utf-8"), path)


def write_jsonl(rows: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write ``rows`` as JSON Lines (UTF-8, non-ASCII kept), atomically; returns the path."""
    path = Path(path)
    atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
    return path
