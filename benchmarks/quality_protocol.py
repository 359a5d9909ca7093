"""RadIR evaluation protocol on embeddings, for `quality_synthetic.py` (exact search in torch, no index).

Every metric comes from `radkit.evaluation.metrics` (cross-checked against pytrec_eval):

- image->image: cosine of global image embeddings vs the global report-similarity table,
  self excluded, relevant = S > 0.9 (recall over queries with a relevant item; NDCG graded).
- image->report / report->image: identity R@K (the paired report/image is the one relevant
  item); image->report NDCG@K on the image->text scores with the report-similarity table.
- conditional: per anatomy, images conditioned on the anatomy name, cosine within the
  anatomy against S^a, eligible studies only (in the anatomy csv, first 2000 rows, a partner
  with S^a > 0.9), then the mean over anatomies. ``uncond@anatomy`` is the same with the
  unconditional embeddings (what a model without an anatomy decoder can do).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from radkit.evaluation.metrics import average_over_anatomies, identity_metrics, retrieval_metrics

UNCOND_KS = (1, 5, 10)
COND_KS = (3, 5, 10)
MAX_ANATOMY_ROWS = 2000  # RadIR evaluates the first 2000 rows of each anatomy csv
MIN_ELIGIBLE = 5  # an anatomy with fewer eligible studies has R@3 = 1 for any model: no signal


@torch.no_grad()
def embed_split(model_dir: str | Path, tables_dir: str | Path, manifest: str | Path, split: str = "test",
                batch: int = 64) -> dict:
    """Embed one split with a saved model folder.

    Returns:
        {"names": N ids, "image": (N, D), "text": (N, D), "cond": {anatomy: (ids, (N_a, D))},
        "uncond": {anatomy: (ids, (N_a, D))}, "S": (N, N) float, "S_a": {anatomy: (N_a, N_a) float}};
        every embedding L2-normalised (float32, CPU). Only eligible anatomy rows are kept.
    """
    from radkit.data.datamodule import PairDataset, _Items, load_split
    from radkit.models import load_model
    from radkit.reports import tables as T

    net = load_model(model_dir).eval().requires_grad_(False)
    net.text_tower.enable_cache()  # the frozen text tower's outputs are shared by every run
    tab = load_split(tables_dir, split, check_images=False)
    ds = PairDataset(_Items(tab, Path(tables_dir), Path(manifest)), net.cfg.preprocess)
    pixels = torch.stack([ds.load(i) for i in range(len(ds))])
    img = torch.cat([net.encode_image(pixels[i:i + batch]) for i in range(0, len(ds), batch)])
    txt = torch.cat([net.encode_text(ds.items.texts[i:i + batch]) for i in range(0, len(ds), batch)])
    out = {"names": tab.names, "image": img, "text": txt, "cond": {}, "uncond": {},
           "S": tab.sim.astype(np.float32) / 100.0, "S_a": {}}
    glob = T.read_global(tables_dir, split, check_images=False)
    where = {n: i for i, n in enumerate(tab.names)}
    for a in T.list_table_anatomies(tables_dir, split):
        t = T.read_anatomy(tables_dir, split, a, index=glob, max_samples=None)
        keep = np.arange(min(len(t.ids), MAX_ANATOMY_ROWS))
        sim = t.sim[np.ix_(keep, keep)]
        mask = T.evaluation_mask(sim)
        if mask.sum() < MIN_ELIGIBLE:
            continue
        ids = [t.ids[k] for k in keep[mask]]
        rows = torch.tensor([where[i] for i in ids])
        cond = torch.cat([net.encode_image_anatomy(pixels[rows[i:i + batch]], a)
                          for i in range(0, len(rows), batch)])
        out["cond"][a], out["uncond"][a] = cond, img[rows]
        out["S_a"][a] = sim[np.ix_(mask, mask)]
    return out


def _pick(m: dict, prefix: str, metrics: tuple[str, ...], ks) -> dict[str, float]:
    return {f"{prefix} {name}@{k}": m[f"{name}@{k}"] for name in metrics for k in ks}


def protocol_metrics(e: dict) -> dict[str, float]:
    """The metric cells of one embedded split (see module doc); every value in [0, 1]."""
    img, txt, S = e["image"], e["text"], e["S"]
    cells: dict[str, float] = {}
    i2i = retrieval_metrics(img @ img.T, S, ks=UNCOND_KS, exclude_self=True)
    cells.update(_pick(i2i, "image->image", ("recall", "ndcg"), UNCOND_KS))
    cells.update(_pick(identity_metrics(img @ txt.T, ks=UNCOND_KS), "image->report", ("recall",), UNCOND_KS))
    i2r = retrieval_metrics(img @ txt.T, S, ks=UNCOND_KS)
    cells.update(_pick(i2r, "image->report", ("ndcg",), UNCOND_KS))
    cells.update(_pick(identity_metrics(txt @ img.T, ks=UNCOND_KS), "report->image", ("recall",), UNCOND_KS))
    for kind in ("cond", "uncond"):
        per = {a: retrieval_metrics(z @ z.T, e["S_a"][a], ks=COND_KS, exclude_self=True)
               for a, z in e[kind].items()}
        if per:
            avg = average_over_anatomies(per)
            label = "conditional" if kind == "cond" else "uncond@anatomy"
            cells.update(_pick(avg, label, ("recall", "ndcg"), COND_KS))
    return cells


def counts(e: dict) -> dict[str, int]:
    """Queries behind the numbers: test studies, image->image valid queries, anatomies, eligible rows."""
    s = e["S"].copy()
    np.fill_diagonal(s, 0.0)
    return {"test_studies": len(e["names"]), "i2i_valid_queries": int((s > 0.9).any(1).sum()),
            "anatomies": len(e["S_a"]), "anatomy_rows": int(sum(len(v) for v in e["S_a"].values()))}
