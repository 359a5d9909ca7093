"""Find the data folders (`models/`, `indexes/`, `configs/`, `cuda_kernels/`).

In a checkout (editable install) they sit beside the package; in a wheel they are
shipped as `radkit/_resources/<name>`. Users add their own folders through
`RADKIT_<NAME>_PATH` (os.pathsep-separated), searched first.
"""

from __future__ import annotations

import os
from pathlib import Path

RESOURCE_KINDS = ("models", "indexes", "configs", "cuda_kernels")
_PKG = Path(__file__).resolve().parent


def resource_dirs(kind: str) -> list[Path]:
    """Folders searched for resources of ``kind``, highest priority first.

    Raises:
        ValueError: ``kind`` is not one of RESOURCE_KINDS.
    """
    if kind not in RESOURCE_KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; valid: {', '.join(RESOURCE_KINDS)}")
    dirs = [Path(p) for p in os.environ.get(f"RADKIT_{kind.upper()}_PATH", "").split(os.pathsep) if p]
    for cand in (_PKG / "_resources" / kind, _PKG.parent / kind):
        if cand.is_dir():
            dirs.append(cand)
    return dirs


def find_resource(kind: str, name: str, suffixes: tuple[str, ...] = ("",)) -> Path:
    """Path of resource ``name`` (tried with each suffix) of ``kind``.

    Raises:
        FileNotFoundError: naming the searched folders and the available names.
    """
    dirs = resource_dirs(kind)
    for d in dirs:
        for suf in suffixes:
            p = d / f"{name}{suf}"
            if p.exists():
                return p
    avail = sorted({p.name for d in dirs for p in d.iterdir() if not p.name.startswith((".", "_"))})
    raise FileNotFoundError(
        f"no {kind} resource {name!r} in {[str(d) for d in dirs]}; available: {avail or 'none'}; "
        f"add a folder with RADKIT_{kind.upper()}_PATH")
