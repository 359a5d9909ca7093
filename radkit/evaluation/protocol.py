"""RadIR evaluation protocols (SPEC_RADIR.md §5) over similarity tables in the RadIR layout.

Unconditional: image->image (self excluded, relevance S > 0.9, graded NDCG on S),
image->report and report->image (the paired item is the only relevant one; NDCG on S).
Conditional: for each anatomy table, the first ``max_per_anatomy`` rows, S symmetrised by
max, queries without a partner S > 0.9 removed; images embedded conditioned on the
anatomy name; metrics per anatomy, then averaged across anatomies with equal weight.

Embeddings come from a model, or from an index folder built over the same studies
(study ids = the table's sample names), which avoids embedding twice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from radkit.evaluation.metrics import (DEFAULT_KS_CONDITIONAL, DEFAULT_KS_UNCONDITIONAL, RELEVANCE_THRESHOLD,
                                       average_over_anatomies, identity_metrics, retrieval_metrics)

log = logging.getLogger("radkit.evaluation")


class _Source:
    """Embeddings by sample name, from a model (computed once, cached) or an index folder."""

    def __init__(self, model=None, index_dir=None, batch_size: int = 16, progress: bool = True):
        self.model, self.batch_size, self.progress, self.cache = model, batch_size, progress, {}
        self.store = None
        if index_dir is not None:
            from radkit.retrieval.store import IndexStore

            self.store = IndexStore.load(index_dir)
            self.row_of = dict(zip(self.store.items["study_id"], self.store.items.index))

    def missing_space(self, space: str) -> str | None:
        """Why ``space`` cannot be evaluated from this source, or None (a model embeds any space)."""
        if self.store is None or space in self.store.spaces:
            return None
        built = self.store.anatomies
        return (f"the index has no {space!r} sub-index (anatomies built: {built or 'none'}); rebuild it with "
                f"`radkit index build ... --anatomies \"{space.split(':', 1)[1]}\"` or evaluate with --model")

    def get(self, space: str, names: list[str], images: list[str], texts: list[str]) -> np.ndarray:
        if self.store is not None:
            vi = self.store.spaces.get(space)
            if vi is None:
                raise KeyError(f"index has no {space!r} embeddings; available: {sorted(self.store.spaces)}")
            pos = {int(r): i for i, r in enumerate(vi.ids)}
            missing = [n for n in names if n not in self.row_of or int(self.row_of[n]) not in pos]
            if missing:
                raise KeyError(f"{len(missing)} table samples are not in the index (e.g. {missing[:3]}); "
                               "build the index from the same split, or evaluate with --model")
            return vi.vectors[[pos[int(self.row_of[n])] for n in names]]
        from radkit.retrieval.embed import embed_images

        key = (space, tuple(names))
        if key not in self.cache:
            if space == "report":
                import torch

                with torch.inference_mode():
                    z = [self.model.encode_text(texts[b:b + self.batch_size]).float().cpu().numpy()
                         for b in range(0, len(texts), self.batch_size)]
                self.cache[key] = np.concatenate(z)
            else:
                anatomy = space.split(":", 1)[1] if space.startswith("anatomy:") else None
                self.cache[key] = embed_images(self.model, images, anatomy, self.batch_size,
                                               getattr(self.model, "modality", None), self.progress)
        return self.cache[key]


def _resolve(ids: list[str], img_paths: list[str], texts: list[str], root: Path, manifest):
    """Image paths and reports of table ids: from the manifest when given, else the jsonl."""
    if manifest is not None:
        from radkit.data.manifest import read_manifest

        by_id = {s.study_id: s for s in read_manifest(manifest)}
        missing = [n for n in ids if n not in by_id]
        if missing:
            raise KeyError(f"{len(missing)} table samples are not in manifest {manifest} (e.g. {missing[:3]}); "
                           "use the manifest the tables were built from")
        return [by_id[n].image_paths[0] for n in ids], [by_id[n].report for n in ids]
    return [p if os.path.isabs(p) else str(root / p) for p in img_paths], list(texts)


def evaluate(tables_root: str | os.PathLike, model=None, index_dir=None, split: str = "test",
             manifest=None, anatomies: Sequence[str] | None = None,
             ks_unconditional: Sequence[int] = DEFAULT_KS_UNCONDITIONAL,
             ks_conditional: Sequence[int] = DEFAULT_KS_CONDITIONAL, max_per_anatomy: int = 2000,
             threshold: float = RELEVANCE_THRESHOLD, batch_size: int = 16, progress: bool = True,
             n_examples: int = 3) -> dict:
    """Run the unconditional and conditional RadIR protocols.

    Args:
        tables_root: a RadIR table folder (``<split>.jsonl``, ``<split>.npy``, ``anatomy/...``).
        model: a `RetrievalModel` (or spec, see `radkit.retrieval.api.resolve_model`).
        index_dir: instead of a model, an index folder over the same samples.
        split: the split to evaluate.
        manifest: optional manifest mapping sample names (= study ids) to images/reports.
        anatomies: restrict the conditional protocol; None = every anatomy table present.
        max_per_anatomy: first rows of each anatomy table used (RadIR: 2000).
        n_examples: image->image example queries (top 5 hits) kept for the HTML report.

    Returns:
        {"model", "fingerprint", "split", "n", "unconditional": {"i2i", "i2r", "r2i"},
        "conditional": {"per_anatomy": {a: metrics}, "mean": metrics, "removed": {a: n},
        "skipped": {a: reason}}}: an anatomy is skipped (with the reason, and a logged warning)
        when the index lacks its sub-index or fewer than 2 of its samples remain.
    """
    if (model is None) == (index_dir is None):
        raise ValueError("pass exactly one of model=... or index_dir=...")
    if model is not None:
        from radkit.retrieval.build import resolve_model

        model, _ = resolve_model(model)
        if hasattr(model, "eval"):
            model.eval()
    from radkit.reports import tables as T

    root = Path(tables_root)
    glob = T.read_global(root, split, check_images=manifest is None, quantize=True)
    names = glob.ids
    images, texts = _resolve(names, glob.img_paths, glob.texts, root, manifest)
    src = _Source(model, index_dir, batch_size, progress)
    s_global = glob.sim.astype(np.float64) / 100.0  # uint8 percent, as the released loaders store it
    img = src.get("image", names, images, texts)
    rep = src.get("report", names, images, texts)
    i2r, r2i = img @ rep.T, rep @ img.T
    uncond = {"i2i": retrieval_metrics(img @ img.T, s_global, ks_unconditional, threshold, exclude_self=True)}
    for key, p in (("i2r", i2r), ("r2i", r2i)):
        m = identity_metrics(p, ks_unconditional)
        graded = retrieval_metrics(p, s_global, ks_unconditional, threshold)
        m.update({f"ndcg@{k}": graded[f"ndcg@{k}"] for k in ks_unconditional})
        m.update({f"soft_recall@{k}": graded[f"recall@{k}"] for k in ks_unconditional})
        uncond[key] = m

    p_i2i = img @ img.T
    np.fill_diagonal(p_i2i, -np.inf)
    examples = []
    for q in range(min(n_examples, len(names))):
        top = np.argsort(-p_i2i[q], kind="stable")[:5]
        examples.append({"query": names[q], "image": images[q], "report": texts[q],
                         "hits": [{"name": names[j], "image": images[j], "score": float(p_i2i[q, j]),
                                   "S": float(s_global[q, j])} for j in top]})

    per, removed, skipped = {}, {}, {}
    available = T.list_table_anatomies(root, split)
    wanted = available if anatomies is None else list(anatomies)
    unknown = [a for a in wanted if a not in available]
    if unknown:
        raise KeyError(f"no anatomy table for {unknown} in {root}; available: {available}")
    pos = {n: i for i, n in enumerate(names)}
    for a in wanted:
        reason = src.missing_space(f"anatomy:{a}")
        if reason:  # e.g. an index built with --anatomies for a subset: evaluate the rest
            skipped[a] = reason
            log.warning("conditional protocol skips %r: %s", a, reason)
            continue
        tab = T.read_anatomy(root, split, a, index=glob, quantize=True, symmetrize=True)
        n_a = min(len(tab.ids), max_per_anatomy)  # RadIR evaluates the first rows of each table
        s_a = tab.sim[:n_a, :n_a].astype(np.float64) / 100.0
        keep = T.evaluation_mask(tab.sim[:n_a, :n_a], threshold)  # stable: S is symmetric
        removed[a] = int((~keep).sum())
        if keep.sum() < 2:
            skipped[a] = (f"{int(keep.sum())} of the first {n_a} table samples left after removing those "
                          f"with no other sample above relevance {threshold}; at least 2 are needed")
            continue
        idx = [pos[i] for i, k in zip(tab.ids[:n_a], keep) if k]
        s_a = s_a[np.ix_(keep, keep)]
        z = src.get(f"anatomy:{a}", [names[i] for i in idx], [images[i] for i in idx], [texts[i] for i in idx])
        per[a] = retrieval_metrics(z @ z.T, s_a, ks_conditional, threshold, exclude_self=True)
    cond = {"per_anatomy": per, "removed": removed, "skipped": skipped,
            "mean": average_over_anatomies(per) if per else {}}
    name = getattr(model, "name", None) if model is not None else src.store.meta["model_name"]
    return {"model": name, "label": name if index_dir is None else f"{name} (index {Path(index_dir).name})",
            "fingerprint": model.fingerprint() if model is not None else src.store.meta["model_fingerprint"],
            "split": split, "n": len(names), "tables": str(root),
            "unconditional": uncond, "conditional": cond, "examples": examples}
