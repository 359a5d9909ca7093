"""An index folder: metadata + item table + one `VectorIndex` per embedding space.

Layout of ``DIR/``::

    metadata.json          model name + fingerprint, preprocessing hash, modality, dim,
                           recipe, radkit version, spaces, next row id
    items.parquet          one row per study: row_id, study_id, patient_id, modality, split,
                           view, study_date, image_path, report (the ``where=`` filters)
    image.faiss/.ids.npy/.vectors.npy      global image embeddings
    report.faiss/...                        report embeddings (image->report search)
    anatomy_000.faiss/...                   anatomy-conditioned image embeddings, one space
                                            per anatomy (names in metadata "spaces")

Writes are atomic at folder level: the new version is written to a hidden sibling
folder, then swapped in with two renames. A crash between the two renames leaves
the previous version as ``.DIR.old-*``, which `IndexStore.load` puts back.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from radkit.retrieval.index import VectorIndex
from radkit.retrieval.recipe import IndexRecipe

FORMAT_VERSION = 1
ITEM_COLUMNS = ("row_id", "study_id", "patient_id", "modality", "split", "view", "study_date",
                "image_path", "report")
Where = "Mapping[str, object] | str | Callable | None"


def anatomy_space(anatomy: str) -> str:
    """Space name of an anatomy's conditioned embeddings."""
    return f"anatomy:{anatomy}"


class IndexStore:
    """The contents of one index folder, in memory.

    Attributes:
        meta: the metadata dict (see module docstring).
        items: pandas DataFrame indexed by row_id.
        spaces: {space name: VectorIndex}; names "image", "report", "anatomy:<name>".
    """

    def __init__(self, meta: dict, items, spaces: dict[str, VectorIndex]):
        self.meta, self.items, self.spaces = meta, items, spaces

    @classmethod
    def create(cls, recipe: IndexRecipe, dim: int, model_name: str, fingerprint: str, modality: str,
               preprocessing_hash: str | None = None) -> "IndexStore":
        import pandas as pd

        from radkit import __version__

        meta = {"format_version": FORMAT_VERSION, "radkit_version": __version__, "model_name": model_name,
                "model_fingerprint": fingerprint, "preprocessing_hash": preprocessing_hash,
                "modality": modality, "dim": int(dim), "metric": "ip", "normalized": True,
                "recipe": recipe.to_dict(), "spaces": {}, "next_row_id": 0,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        items = pd.DataFrame({c: pd.Series(dtype="int64" if c == "row_id" else "object") for c in ITEM_COLUMNS})
        return cls(meta, items.set_index("row_id"), {})

    @property
    def recipe(self) -> IndexRecipe:
        return IndexRecipe(**self.meta["recipe"])

    @property
    def anatomies(self) -> list[str]:
        return sorted(s.split(":", 1)[1] for s in self.spaces if s.startswith("anatomy:"))

    # ---- content ----------------------------------------------------------------------
    def add(self, rows: list[dict], embeddings: Mapping[str, np.ndarray]) -> np.ndarray:
        """Add items and their embeddings.

        Args:
            rows: one dict per study (keys of ITEM_COLUMNS except row_id).
            embeddings: {space: (len(rows), D) L2-normalised}; every space listed gets
                every row.

        Returns:
            (len(rows),) int64 row ids assigned.
        """
        import pandas as pd

        existing = set(self.items["study_id"])
        dup = [r["study_id"] for r in rows if r["study_id"] in existing]
        if dup:
            raise ValueError(f"study ids already in the index: {dup[:5]}; remove them first "
                             "(`radkit index remove`) or build a new index")
        start = int(self.meta["next_row_id"])
        ids = np.arange(start, start + len(rows), dtype=np.int64)
        for space, vecs in embeddings.items():
            if len(vecs) != len(rows):
                raise ValueError(f"space {space!r}: {len(vecs)} embeddings for {len(rows)} rows")
            if space not in self.spaces:
                self.spaces[space] = VectorIndex(self.recipe, self.meta["dim"])
            self.spaces[space].add(vecs, ids)
        new = pd.DataFrame([{c: r.get(c) for c in ITEM_COLUMNS[1:]} for r in rows], index=pd.Index(ids, name="row_id"))
        self.items = new if self.items.empty else pd.concat([self.items, new])
        self.meta["next_row_id"] = start + len(rows)
        return ids

    def remove(self, study_ids: list[str]) -> int:
        """Remove studies by study id from the item table and every space; returns the count.

        Raises:
            KeyError: none of the ids is in the index (lists a few that are).
        """
        mask = self.items["study_id"].isin([str(s) for s in study_ids])
        if not mask.any():
            raise KeyError(f"none of {list(study_ids)[:5]} is in the index; "
                           f"example ids: {self.items['study_id'].head(3).tolist()}")
        rows = self.items.index[mask].to_numpy()
        for space in self.spaces.values():
            space.remove(rows)
        self.items = self.items[~mask]
        return int(mask.sum())

    def select(self, where: Where) -> np.ndarray | None:
        """Row ids passing a filter, or None for no filter.

        Args:
            where: {column: value or list of values}, a pandas query string
                (``"split == 'test' and study_date >= '2020'"``), or a callable
                DataFrame -> boolean Series. Columns: ITEM_COLUMNS.
        """
        if where is None:
            return None
        df = self.items
        try:
            if callable(where):
                mask = np.asarray(where(df), dtype=bool)
            elif isinstance(where, str):
                mask = df.eval(where).to_numpy(dtype=bool)
            else:
                mask = np.ones(len(df), dtype=bool)
                for col, val in dict(where).items():
                    if col not in df.columns:
                        raise KeyError(f"unknown filter column {col!r}; valid: {list(df.columns)}")
                    vals = val if isinstance(val, (list, tuple, set)) else [val]
                    mask &= df[col].isin(list(vals)).to_numpy()
        except KeyError:
            raise
        except Exception as e:  # pandas raises many types for a bad query string
            raise ValueError(f"bad where filter {where!r}: {e}; columns: {list(df.columns)}") from None
        return np.sort(df.index.to_numpy()[mask])

    def lookup(self) -> "ItemLookup":
        """Per-row item fields as Python lists, cached until the item table changes.

        Pandas' arrow-backed strings cost ~0.2 ms per column access and a row-id search per
        query would dominate a sub-millisecond HNSW search, so hits are built from plain lists
        indexed through ``rowpos`` (row id -> list position; see `ItemLookup`).
        """
        cache = getattr(self, "_lookup", None)
        if cache is None or cache.items is not self.items:
            cache = self._lookup = ItemLookup.of(self.items)
        return cache

    def columns(self, ids: np.ndarray, names=("study_id", "report", "image_path")) -> dict[str, np.ndarray]:
        """Item columns for an array of row ids (any shape; -1 gives None), vectorised."""
        lk = self.lookup()
        pos = lk.positions(ids)
        out = {}
        for c in names:
            col = lk.column(c)
            out[c] = col[pos.reshape(-1)].reshape(np.shape(ids))
        return out

    def search(self, space: str, queries: np.ndarray, k: int, where: Where = None):
        """Top-k rows of one space.

        Args:
            space: "image", "report" or "anatomy:<name>".
            queries: (Q, D) L2-normalised.
            k: results per query.
            where: filter (see `select`).

        Returns:
            scores (Q, k') and row ids (Q, k'), best first.
        """
        vi = self.spaces.get(space)
        if vi is None:
            raise KeyError(f"index has no {space!r} embeddings; available: {sorted(self.spaces)}")
        if where is None:
            return vi.search(queries, k)
        rows = self.select(where)
        return vi.search(queries, k, np.nonzero(np.isin(vi.ids, rows))[0])

    # ---- persistence ------------------------------------------------------------------
    def save(self, out: str | os.PathLike, progress_hook: Callable[[Path], None] | None = None) -> Path:
        """Write the folder atomically (temp sibling, then swap). Returns the path.

        Args:
            progress_hook: called with the temp folder once it exists (tests use it to
                kill a half-done write).
        """
        out = Path(out).resolve()
        if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "metadata.json").is_file())):
            # never replace (and delete) something that is not a radkit index
            raise FileExistsError(f"{out} exists and is not a radkit index; choose another --out or remove it")
        out.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(out)
        tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            if progress_hook:
                progress_hook(tmp)
            spaces = {}
            for i, (name, space) in enumerate(sorted(self.spaces.items())):
                stem = name if name in ("image", "report") else f"anatomy_{i:03d}"
                space.save(tmp, stem)
                spaces[name] = {"file": stem, "n": len(space)}
            self.meta["spaces"] = spaces
            self.meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            self.items.reset_index().to_parquet(tmp / "items.parquet", index=False)
            (tmp / "metadata.json").write_text(json.dumps(self.meta, indent=2))  # written last: marks complete
            old = None
            if out.exists():
                old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(out, old)
            os.replace(tmp, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "IndexStore":
        """Read an index folder.

        Raises:
            FileNotFoundError: not an index folder (no metadata.json).
            ValueError: corrupt or inconsistent files, named, with the fix.
        """
        import pandas as pd

        folder = Path(folder).resolve()
        _recover(folder)
        meta_path = folder / "metadata.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{folder} is not a radkit index (no metadata.json); "
                                    "build one with `radkit index build --recipe flat --model M --manifest F --out DIR`")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{meta_path} is corrupt ({e.msg}); rebuild the index") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: index format {meta.get('format_version')!r}, this radkit reads "
                             f"{FORMAT_VERSION}; rebuild the index with this radkit version")
        missing = [k for k in ("recipe", "spaces", "dim", "modality", "model_fingerprint") if k not in meta]
        if missing:
            raise ValueError(f"{meta_path} lacks {missing}; it was not written by radkit or was edited; "
                             "rebuild the index")
        recipe = IndexRecipe(**meta["recipe"])
        spaces = {name: VectorIndex.load(folder, info["file"], recipe, meta["dim"])
                  for name, info in meta["spaces"].items()}
        try:
            items = pd.read_parquet(folder / "items.parquet").set_index("row_id")
        except Exception as e:
            raise ValueError(f"{folder / 'items.parquet'} is unreadable ({e}); rebuild the index") from None
        return cls(meta, items, spaces)


class ItemLookup:
    """Item fields as Python lists for building hits without pandas.

    Attributes:
        items: the DataFrame this was built from (identity = cache key).
        rowpos: (max row id + 2,) int64: row id -> list position. Its last entry points at
            the trailing sentinel of each list (None), so FAISS's padding id -1 needs no test.
        study_id, report, image_path: lists of len(items) + 1 (sentinel last); reports as
            str ("" for missing), study ids as str.
    """

    def __init__(self, items, rowpos, study_id, report, image_path):
        self.items, self.rowpos = items, rowpos
        self.study_id, self.report, self.image_path = study_id, report, image_path
        self.pad = len(study_id) - 1

    @classmethod
    def of(cls, items) -> "ItemLookup":
        rid = items.index.to_numpy(dtype=np.int64)
        n = len(rid)
        rowpos = np.full((int(rid.max()) + 2 if n else 1), n, dtype=np.int64)
        rowpos[rid] = np.arange(n)
        sid = [str(x) for x in items["study_id"].tolist()] + [None]
        rep = [str(x) if isinstance(x, str) else "" for x in items["report"].tolist()] + [None]
        img = [x if isinstance(x, str) else None for x in items["image_path"].tolist()] + [None]
        return cls(items, rowpos, sid, rep, img)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """List positions of row ids (any shape; -1 or an unknown id -> the sentinel ``pad``)."""
        ids = np.asarray(ids, dtype=np.int64)
        ok = (ids >= 0) & (ids < len(self.rowpos) - 1)
        return np.where(ok, self.rowpos[np.where(ok, ids, -1)], self.pad)

    def column(self, name: str) -> np.ndarray:
        """One item column as an object array with the sentinel last (``pad`` -> None)."""
        if name in ("study_id", "report", "image_path"):
            vals = getattr(self, name)
        else:
            vals = self.items[name].tolist() + [None]
        out = np.empty(len(vals), dtype=object)
        out[:] = vals
        if name == "report":
            out[-1] = None
        return out


def _recover(out: Path) -> None:
    """Put back a previous version left by a crash between the two renames of `save`."""
    if out.exists():
        return
    olds = sorted(out.parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.replace(olds[-1], out)


def _clean_stale(out: Path) -> None:
    """Remove temp folders of killed writes (never the live folder)."""
    _recover(out)
    for p in out.parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    if out.exists():
        for p in out.parent.glob(f".{out.name}.old-*"):
            shutil.rmtree(p, ignore_errors=True)
