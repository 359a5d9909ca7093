"""`annotate`: manifest -> RadIR-layout similarity tables (global + per anatomy), resumable."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from radkit.data.manifest import read_manifest
from radkit.fileio import atomic_write_bytes
from radkit.reports import tables as T
from radkit.reports.anatomy import list_anatomies, taxonomy
from radkit.reports.similarity import BACKENDS, similarity_matrix, structure_all

STATE = "annotate_state.json"


def _fingerprint(names, texts, backend: str, modality: str) -> str:
    h = hashlib.sha256(f"{backend}|{modality}".encode())
    for n, t in zip(names, texts):
        h.update(f"{n}\x00{t}\x01".encode())
    return h.hexdigest()


def annotate(manifest: str | os.PathLike, out_dir: str | os.PathLike, backend: str = "lexicon",
             modality: str | None = None, progress: bool = True, block: int = 256,
             min_studies: int = 2) -> dict:
    """Write global and per-anatomy similarity tables of a manifest in the RadIR layout.

    One table set per split present in the manifest (see `radkit.reports.tables` for the
    layout). Each report is structured once. Finished files are skipped on a rerun with
    the same studies and backend (resumable); every file is written atomically.

    Args:
        manifest: manifest path (.jsonl/.csv/.parquet).
        out_dir: output dataset folder.
        backend: "lexicon", "embedding" or "ratescore".
        modality: "cxr" or "ct"; required when the manifest mixes modalities (only those
            studies are used).
        progress: show progress bars.
        block: rows per similarity block (memory bound).
        min_studies: anatomies mentioned by fewer studies get no table.

    Returns:
        {split: {"n": N, "anatomies": {anatomy: N_a}, "skipped": [files kept from a previous run],
         "warnings": count of unparseable sentences}}.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    studies = read_manifest(manifest)
    mods = sorted({s.modality for s in studies})
    if modality is None:
        if len(mods) != 1:
            raise ValueError(f"manifest {manifest} has modalities {mods}; pass --modality cxr or --modality ct")
        modality = mods[0]
    taxonomy(modality)
    studies = [s for s in studies if s.modality == modality]
    if not studies:
        raise ValueError(f"manifest {manifest} has no {modality} studies (found {mods})")
    out = Path(out_dir)
    state_path = out / STATE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    summary = {}
    for split in sorted({s.split for s in studies}):
        group = [s for s in studies if s.split == split]
        names = [s.study_id for s in group]
        if len(set(names)) != len(names):
            raise ValueError(f"split {split!r}: duplicate study_id values; ids must be unique (run `radkit data validate`)")
        texts = [s.report for s in group]
        fp = _fingerprint(names, texts, backend, modality)
        fresh = state.get(split) == fp
        reps = structure_all(texts, modality, progress=progress)
        info = {"n": len(group), "anatomies": {}, "skipped": [],
                "warnings": sum(len(r.warnings) for r in reps)}
        jsonl, gnpy = out / f"{split}.jsonl", out / f"{split}.npy"
        if fresh and jsonl.is_file() and gnpy.is_file():
            info["skipped"].append(gnpy.name)
        else:
            # the state is cleared first so a crash never marks stale anatomy files as current
            state.pop(split, None)
            atomic_write_bytes(state_path, json.dumps(state).encode())
            T.write_split_jsonl(out, split, names, [s.image_paths[0] if s.image_paths else "" for s in group], texts)
            mm, tmp = T.open_npy_for_write(gnpy, len(group))
            similarity_matrix(reps, modality, backend, out=mm, block=block, progress=progress)
            T.commit_npy(mm, tmp, gnpy)
        anats = list_anatomies(modality)
        if progress:
            from tqdm.auto import tqdm

            anats = tqdm(anats, desc=f"{split} anatomy tables", unit="anatomy")
        for a in anats:
            rows = [i for i, r in enumerate(reps) if a in r.anatomies()]
            if len(rows) < min_studies:
                continue
            info["anatomies"][a] = len(rows)
            csv_p, npy_p = T.entity_csv_path(out, split, a), T.anatomy_npy_path(out, split, a)
            if fresh and csv_p.is_file() and npy_p.is_file():
                info["skipped"].append(f"{a}.npy")
                continue
            mm, tmp = T.open_npy_for_write(npy_p, len(rows))
            similarity_matrix([reps[i] for i in rows], modality, backend, anatomy=a, out=mm, block=block)
            # npy before csv: a csv without its npy is never left behind as "finished"
            T.commit_npy(mm, tmp, npy_p)
            T.write_entity_csv(out, split, a, [names[i] for i in rows])
        state[split] = fp
        atomic_write_bytes(state_path, json.dumps(state).encode())
        summary[split] = info
    return summary


def tables_info(root: str | os.PathLike) -> dict:
    """Summary of a RadIR-layout folder: per split N, anatomies with their sizes, value ranges."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    out = {}
    for jl in sorted(root.glob("*.jsonl")):
        split = jl.stem
        rows = T.read_jsonl_rows(jl)
        npy = root / f"{split}.npy"
        g = np.load(npy, mmap_mode="r") if npy.is_file() else None
        anat = {}
        for a in T.list_table_anatomies(root, split):
            s = T._anatomy_split(root, split, a)
            anat[a] = len(T.read_entity_ids(T.entity_csv_path(root, s, a)))
        out[split] = {"n": len(rows), "global_shape": None if g is None else list(g.shape),
                      "global_range": None if g is None or g.size == 0 else [float(g.min()), float(g.max())],
                      "anatomies": anat}
    if not out:
        raise FileNotFoundError(f"{root} has no <split>.jsonl; is it a RadIR-layout folder?")
    return out
