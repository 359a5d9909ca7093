"""Manifest validation: find every problem, lose no row.

`validate_manifest` checks each row (parseable, unique id, known modality/split,
non-empty report, image files present) and returns a `ValidationReport`;
`split_valid` writes the clean rows and the rejects (with their reasons) so
`--skip-invalid` never drops data silently.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from radkit.data.manifest import read_rows, write_rows
from radkit.data.study import MODALITIES, SPLITS, Study


@dataclass
class Problem:
    """One problem of one manifest row (``line`` is 1-based, as an editor shows it)."""

    line: int
    study_id: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.study_id}): {self.kind}: {self.detail}"


@dataclass
class ValidationReport:
    """Result of `validate_manifest`.

    Attributes:
        path: the manifest.
        n_rows: rows read.
        problems: every problem found (a row may have several).
        counts: studies per (modality, split) among valid rows.
    """

    path: str
    n_rows: int
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def bad_lines(self) -> set[int]:
        """1-based line numbers with at least one problem."""
        return {p.line for p in self.problems}

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 20) -> str:
        """Human-readable summary: the first ``limit`` problems and the totals."""
        kinds = Counter(p.kind for p in self.problems)
        lines = [f"{self.path}: {self.n_rows} rows, {self.n_rows - len(self.bad_lines)} valid, "
                 f"{len(self.bad_lines)} invalid"]
        if kinds:
            lines.append("problems: " + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())))
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


def _row_problems(row: dict, line: int, base: Path, check_files: bool) -> tuple[Study | None, list[Problem]]:
    sid = str(row.get("study_id", "?"))
    try:
        study = Study.from_dict(row)
    except (KeyError, TypeError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return None, [Problem(line, sid, "unparseable", str(msg))]
    probs = []
    if study.modality not in MODALITIES:
        probs.append(Problem(line, sid, "unknown modality",
                             f"{study.modality!r}; valid: {', '.join(MODALITIES)}"))
    if study.split not in SPLITS:
        probs.append(Problem(line, sid, "unknown split", f"{study.split!r}; valid: {', '.join(SPLITS)}"))
    if not study.report.strip():
        probs.append(Problem(line, sid, "empty report", "the report text is empty"))
    if not study.image_paths:
        probs.append(Problem(line, sid, "no image", "image_paths is empty"))
    elif check_files:
        for p in study.image_paths:
            full = p if os.path.isabs(p) else base / p
            if not os.path.exists(full):
                probs.append(Problem(line, sid, "missing file", str(full)))
    return study, probs


def validate_manifest(path: str | os.PathLike, check_files: bool = True) -> ValidationReport:
    """Check every row of a manifest.

    Args:
        path: .jsonl, .csv or .parquet manifest.
        check_files: also check that each image path exists (relative to the manifest folder).

    Returns:
        A ValidationReport listing duplicate ids, missing files, empty reports, unknown
        modalities/splits and unparseable rows with their line numbers.
    """
    path = Path(path)
    return _validate_rows(read_rows(path), path, check_files)


def _validate_rows(rows: list[dict], path: Path, check_files: bool) -> ValidationReport:
    report = ValidationReport(str(path), len(rows))
    first_seen: dict[str, int] = {}
    counts: Counter = Counter()
    for i, row in enumerate(rows, 1):
        study, probs = _row_problems(row, i, path.parent, check_files)
        if study is not None:
            if study.study_id in first_seen:
                probs.append(Problem(i, study.study_id, "duplicate id",
                                     f"first seen on line {first_seen[study.study_id]}"))
            else:
                first_seen[study.study_id] = i
        report.problems.extend(probs)
        if study is not None and not probs:
            counts[f"{study.modality}/{study.split}"] += 1
    report.counts = dict(sorted(counts.items()))
    return report


def split_valid(path: str | os.PathLike, out: str | os.PathLike, rejects: str | os.PathLike | None = None,
                check_files: bool = True) -> tuple[ValidationReport, Path, Path]:
    """Write the valid rows of ``path`` to ``out`` and the invalid ones (with a ``_problems``
    column) to ``rejects``; rows are copied unchanged, so valid + rejects == input.

    Returns:
        (report, out path, rejects path).
    """
    path, out = Path(path), Path(out)
    if out.resolve() == path.resolve():
        raise ValueError(f"--out {out} would overwrite the input manifest; choose another file name")
    rejects = Path(rejects) if rejects else out.with_name(out.stem + ".rejects.jsonl")
    rows = read_rows(path)  # read once: the report and the copies come from the same rows
    report = _validate_rows(rows, path, check_files)
    bad = report.bad_lines
    why: dict[int, list[str]] = {}
    for p in report.problems:
        why.setdefault(p.line, []).append(f"{p.kind}: {p.detail}")
    write_rows([r for i, r in enumerate(rows, 1) if i not in bad], out)
    write_rows([{**r, "_line": i, "_problems": why[i]} for i, r in enumerate(rows, 1) if i in bad], rejects)
    return report, out, rejects
