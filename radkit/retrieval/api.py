"""The retrieval library surface: build an index from a manifest, load it, search it.

    >>> from radkit.retrieval import Retriever, build_index
    >>> build_index("radir-tiny", "data/manifest.jsonl", "indexes/built/demo", recipe="flat")
    >>> r = Retriever.load("indexes/built/demo")
    >>> hits = r.search(image="query.png", k=5)                      # image -> image
    >>> hits = r.search(image="query.png", target="report")          # image -> report
    >>> hits = r.search(text="right pleural effusion")               # report -> image
    >>> hits = r.search(image="query.png", anatomy="right lower lobe")  # anatomy-conditioned

Scores are cosine similarities of L2-normalised embeddings, clamped to [-1, 1].
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from radkit.retrieval.build import MODEL_SUBDIR, resolve_model
from radkit.retrieval.embed import SPACE_IMAGE, SPACE_REPORT, load_image, model_device
from radkit.retrieval.store import IndexStore, anatomy_space


@dataclass(slots=True)
class Hit:
    """One search result.

    Attributes:
        study_id: the retrieved study.
        score: cosine similarity in [-1, 1] (clamped: float error can exceed 1).
        rank: 1-based rank.
        report: the study's report.
        image_path: the study's (first) image.
        anatomy: the anatomy the search was conditioned on, or None.
        target: "image" or "report": what was matched.
    """

    study_id: str
    score: float
    rank: int
    report: str
    image_path: str | None
    anatomy: str | None = None
    target: str = "image"

    def to_dict(self) -> dict:
        return asdict(self)


class Retriever:
    """Search an index folder with images or report text.

    Use `Retriever.load`. Attributes: ``store`` (`IndexStore`), ``model``.
    """

    def __init__(self, store: IndexStore, model, index_dir: Path):
        self.store, self.model, self.index_dir = store, model, index_dir

    @classmethod
    def load(cls, index_dir: str | os.PathLike, model=None, device: str | None = None) -> "Retriever":
        """Open an index folder.

        Args:
            index_dir: a folder written by `build_index`.
            model: the query model (see `resolve_model`); None loads the one recorded in the index.
            device: "cpu" / "cuda" / "auto" for the FAISS indexes; None = the recipe's.

        Raises:
            ValueError: the model's fingerprint, dimension or modality differ from the index's.
        """
        index_dir = Path(index_dir)
        store = IndexStore.load(index_dir)
        meta = store.meta
        if model is None:
            spec = meta.get("model_spec") or meta["model_name"]
            if spec == MODEL_SUBDIR:
                spec = str(index_dir / MODEL_SUBDIR)
            model, _ = resolve_model(spec, modality=meta["modality"])
        else:
            model, _ = resolve_model(model, modality=meta["modality"])
        if hasattr(model, "eval"):
            model.eval()
        fp = model.fingerprint()
        if fp != meta["model_fingerprint"] or model.embed_dim != meta["dim"] or model.modality != meta["modality"]:
            raise ValueError(
                f"query model {model.name!r} (fingerprint {fp}, dim {model.embed_dim}, {model.modality}) does not "
                f"match index {index_dir} (built with {meta['model_name']!r}, fingerprint {meta['model_fingerprint']}, "
                f"dim {meta['dim']}, {meta['modality']}); query with the model that built the index "
                "(omit `model` to load it) or rebuild the index with `radkit index build --model ...`")
        for space in store.spaces.values():
            space.to_device(device)
        return cls(store, model, index_dir)

    def __len__(self) -> int:
        return len(self.store.items)

    # ---- queries ------------------------------------------------------------------------
    def _space(self, anatomy: str | None, target: str, text: bool) -> str:
        if target not in ("image", "report"):
            raise ValueError(f"target {target!r}; valid: 'image', 'report'")
        if anatomy is None:
            space = SPACE_IMAGE if target == "image" else SPACE_REPORT
            if space not in self.store.spaces:
                raise KeyError(f"index {self.index_dir} has no {target} embeddings; rebuild with reports=True")
            return space
        if text or target == "report":
            raise ValueError("anatomy-conditioned search takes an image query and image targets; "
                             "drop `anatomy` or query with an image")
        space = anatomy_space(anatomy)
        if space not in self.store.spaces:
            raise KeyError(self._unknown_anatomy(anatomy))
        return space

    def _unknown_anatomy(self, anatomy: str) -> str:
        built = self.store.anatomies
        try:
            from radkit.reports.anatomy import list_anatomies

            vocab = list_anatomies(self.store.meta["modality"])
        except (ImportError, ValueError, KeyError):
            vocab = []
        close = difflib.get_close_matches(anatomy, list(dict.fromkeys(built + vocab)), n=3)
        hint = f" closest: {close};" if close else ""
        if anatomy in vocab:
            return (f"anatomy {anatomy!r} has no sub-index in {self.index_dir}; built: {built or 'none'};{hint} "
                    f"rebuild with `radkit index build ... --anatomies \"{anatomy}\"`")
        return f"unknown anatomy {anatomy!r}; built: {built or 'none'};{hint} valid names: {vocab}"

    @torch.inference_mode()
    def _encode(self, images, texts, anatomy: str | None) -> np.ndarray:
        m = self.model
        if texts is not None:
            return m.encode_text(list(texts)).float().cpu().numpy()
        mod = self.store.meta["modality"]
        # arrays carry no header: they get the index modality; files declare their own
        loaded = [load_image(x, mod if isinstance(x, (np.ndarray, torch.Tensor)) else None) for x in images]
        for x, img in zip(images, loaded):
            got = getattr(img, "modality", None)
            if got and got != mod:
                name = x if isinstance(x, (str, os.PathLike)) else f"{type(x).__name__} query"
                raise ValueError(f"query image {name} has modality {got!r} but index {self.index_dir} holds {mod!r} "
                                 f"studies (model {self.store.meta['model_name']!r}); query with a {mod} image or "
                                 f"search an index built from {got} studies with a {got} model")
        pixels = torch.stack([m.preprocess_image(img) for img in loaded]).to(model_device(m))
        z = m.encode_image(pixels) if anatomy is None else m.encode_image_anatomy(pixels, [anatomy] * len(images))
        return z.float().cpu().numpy()

    def search_many(self, images: Sequence | None = None, texts: Sequence[str] | None = None,
                    anatomy: str | None = None, k: int = 10, where=None, target: str = "image") -> list[list[Hit]]:
        """Batched `search`: one list of hits per query (images or texts, not both)."""
        if (images is None) == (texts is None):
            raise ValueError("pass exactly one of images=... or texts=...")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        space = self._space(anatomy, target, texts is not None)
        queries = list(images if images is not None else texts)
        if not queries:
            return []
        if len(self.store.spaces[space]) == 0:
            raise ValueError(f"index {self.index_dir} is empty; add studies with `radkit index add`")
        z = self._encode(queries if images is not None else None, queries if texts is not None else None, anatomy)
        return self.search_vectors(z, space, k, where, anatomy=anatomy, target=target)

    def search_vectors(self, queries: np.ndarray, space: str = "image", k: int = 10, where=None,
                       anatomy: str | None = None, target: str = "image") -> list[list[Hit]]:
        """Search with precomputed query embeddings (Q, D), L2-normalised, in one space
        ("image", "report" or "anatomy:<name>"); one list of hits per query."""
        scores, ids = self.store.search(space, np.asarray(queries, np.float32), int(k), where)
        lk = self.store.lookup()
        # plain lists from here: per-element numpy access costs ~100 ns, list access ~20 ns, and
        # this loop is most of what the Retriever adds to a 0.2 ms FAISS search
        pos = lk.rowpos[ids].tolist()  # ids from the index: row ids or -1 (-> the sentinel)
        sc = np.minimum(np.maximum(scores, -1.0), 1.0).tolist()
        sid, rep, img, pad = lk.study_id, lk.report, lk.image_path, lk.pad
        # FAISS pads with -1 (-> ``pad``) only at the end of a row, so ranks stay 1..n
        return [[Hit(sid[p], s, r, rep[p], img[p], anatomy, target)
                 for r, (p, s) in enumerate(zip(prow, srow), 1) if p != pad]
                for prow, srow in zip(pos, sc)]

    def search(self, image=None, text: str | None = None, anatomy: str | None = None, k: int = 10,
               where=None, target: str = "image") -> list[Hit]:
        """Top-k studies for one query.

        Args:
            image: path, numpy array or `radkit.io.Image` (image -> image/report).
            text: report text (report -> image/report).
            anatomy: condition an image query on an anatomy (uses that anatomy's sub-index).
            k: number of hits (fewer if the index or filter has fewer studies).
            where: filter on the item table: {column: value | list}, a pandas query string
                ("split == 'test'") or a callable; columns: study_id, patient_id, modality, split,
                view, study_date, image_path, report.
            target: "image" (match image embeddings) or "report" (match report embeddings).
        """
        if image is not None and text is not None:
            raise ValueError("pass image=... or text=..., not both")
        return self.search_many(images=None if image is None else [image],
                                texts=None if text is None else [text], anatomy=anatomy, k=k,
                                where=where, target=target)[0]

    def explain(self, anatomies: Sequence[str] | None = None, k: int = 10, where=None) -> list[dict]:
        """How a search would run: per requested anatomy (None = every built one, plus the global
        spaces), whether a sub-index exists, its size, and the search path chosen with the reason
        (`radkit.retrieval.plan`; e.g. filtered search on a GPU flat index runs through radkit's
        similarity_topk with the allowed ids, since FAISS GPU indexes lack IDSelector)."""
        names = list(self.store.spaces) if anatomies is None else [anatomy_space(a) for a in anatomies]
        rows = self.store.select(where)
        out = []
        for name in names:
            vi = self.store.spaces.get(name)
            entry = {"space": name, "anatomy": name.split(":", 1)[1] if name.startswith("anatomy:") else None}
            if vi is None:
                entry.update(available=False, reason=self._unknown_anatomy(entry["anatomy"]))
            else:
                n_sel = None if rows is None else int(np.isin(vi.ids, rows).sum())
                plan = vi.plan(k, n_sel)
                entry.update(available=True, size=len(vi), selected=n_sel, factory=vi.recipe.factory,
                             backend=vi.recipe.backend,
                             device="cuda" if vi.on_gpu else "cpu", path=plan.path, reason=plan.reason)
            out.append(entry)
        return out

    def info(self) -> dict:
        """Index metadata plus space sizes."""
        meta = dict(self.store.meta)
        meta["n_studies"] = len(self.store.items)
        meta["anatomies"] = self.store.anatomies
        return meta
