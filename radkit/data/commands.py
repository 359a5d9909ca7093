"""`radkit data ...` commands: thin wrappers over radkit.data (and radkit.reports)."""

from __future__ import annotations

import json
from typing import Literal, Optional


def synth(out: Optional[str] = None, modality: Literal["cxr", "ct"] = "cxr", n: int = 20, seed: int = 0,
          format: Optional[Literal["png", "dicom", "nifti"]] = None, size: Optional[list[int]] = None) -> int:
    """Synthesise phantom studies with reports and known findings.

    Example: radkit data synth --out runs/synth-cxr --modality cxr --n 50 --format dicom

    Args:
        out: output folder (images + manifest.jsonl); default runs/synth-<modality>.
        modality: cxr (2D) or ct (3D).
        n: number of studies.
        seed: random seed (same seed, same bytes).
        format: cxr: png|dicom (default png); ct: nifti|dicom (default nifti).
        size: image size, e.g. [256, 256] (cxr) or [64, 64, 48] (ct).
    """
    from radkit.data.synth import synthesize

    out = out or f"runs/synth-{modality}"
    path = synthesize(out, modality=modality, n=n, seed=seed, fmt=format,
                      size=tuple(size) if size else None, progress=True)
    print(f"wrote {n} {modality} studies; manifest: {path}")
    return 0


def validate(manifest: str, skip_invalid: bool = False, out: Optional[str] = None,
             check_files: bool = True) -> int:
    """Check a manifest: duplicate ids, missing files, empty reports, unknown modality.

    Exits 1 when problems are found. With --skip_invalid, writes the valid rows to --out
    (default: <name>.clean.jsonl) and the others to <out>.rejects.jsonl: nothing is lost.

    Example: radkit data validate runs/synth-cxr/manifest.jsonl --skip_invalid true

    Args:
        manifest: manifest file (.jsonl, .csv, .parquet).
        skip_invalid: write the clean manifest plus a rejects file.
        out: clean manifest path (with --skip_invalid).
        check_files: check that image files exist.
    """
    from pathlib import Path

    from radkit.data.validate import split_valid, validate_manifest

    if skip_invalid:
        out = out or str(Path(manifest).with_name(Path(manifest).stem + ".clean.jsonl"))
        report, out_path, rej = split_valid(manifest, out, check_files=check_files)
        print(report.summary())
        print(f"clean manifest: {out_path} ({report.n_rows - len(report.bad_lines)} rows); "
              f"rejects: {rej} ({len(report.bad_lines)} rows)")
        return 0
    report = validate_manifest(manifest, check_files=check_files)
    print(report.summary())
    return 0 if report.ok else 1


def info(manifest: str, json_output: bool = False) -> int:
    """Summarise a manifest: studies, patients, splits, finding prevalence.

    Example: radkit data info runs/synth-cxr/manifest.jsonl

    Args:
        manifest: manifest file (.jsonl, .csv, .parquet).
        json_output: print JSON instead of text.
    """
    from radkit.data.info import format_info, manifest_info

    data = manifest_info(manifest)
    print(json.dumps(data, indent=2) if json_output else format_info(data))
    return 0


def _write_adapted(studies, out: str) -> int:
    from radkit.data.manifest import write_manifest

    write_manifest(studies, out)
    print(f"wrote {len(studies)} studies to {out}; check it with `radkit data validate {out}`")
    return 0


def from_radir(root: str, out: str = "manifest.jsonl", modality: Literal["cxr", "ct"] = "ct") -> int:
    """Build a manifest from a RadIR release folder (train.jsonl / test.jsonl).

    Example: radkit data from-radir /dataset/CT_RATE --out ct_rate.jsonl --modality ct

    Args:
        root: folder holding train.jsonl and/or test.jsonl ({"name","img_path","text"}).
        out: manifest to write (.jsonl, .csv, .parquet).
        modality: modality of the studies.
    """
    from radkit.data.adapters import manifest_from_radir

    return _write_adapted(manifest_from_radir(root, modality=modality), out)


def from_dicom(root: str, out: str = "manifest.jsonl", modality: Literal["cxr", "ct"] = "ct") -> int:
    """Build a manifest from a folder of DICOM studies with reports as text files.

    Layout: <root>/<study>/ holds the DICOM file(s) (CXR) or a series folder (CT) and
    report.txt (or <study>.txt beside the folder).

    Example: radkit data from-dicom /data/pacs_export --out pacs.jsonl --modality ct

    Args:
        root: folder of study folders.
        out: manifest to write (.jsonl, .csv, .parquet).
        modality: modality of the studies.
    """
    from radkit.data.adapters import manifest_from_dicom_folder

    return _write_adapted(manifest_from_dicom_folder(root, modality=modality), out)


COMMANDS = {"synth": synth, "validate": validate, "info": info, "from-radir": from_radir,
            "from-dicom": from_dicom}

# Report structuring commands live with their code (radkit.reports) and are mounted here:
# `radkit data annotate`, `radkit data anatomies`, `radkit data structure`.
try:
    from radkit.reports.commands import COMMANDS as _REPORT_COMMANDS
except ModuleNotFoundError as _e:  # pragma: no cover - only while that area is absent
    if _e.name != "radkit.reports.commands":
        raise
else:
    COMMANDS.update(_REPORT_COMMANDS)
