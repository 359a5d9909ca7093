"""Bulk embedding across devices/nodes with Lightning ``predict`` (optional; imports Lightning).

The default path (`radkit.retrieval.embed.embed_studies`) needs no Lightning. This module
runs the same `embed_batch` inside ``Trainer.predict``: Lightning's distributed sampler
splits the studies across ranks, and `ShardWriter` writes one safetensors file per
(rank, batch) with the study ids in its metadata. `read_shards` reassembles them in
manifest order. A rerun with the same world size and batch size skips finished files.

    >>> from radkit.retrieval.embed_lightning import embed_with_lightning
    >>> emb = embed_with_lightning(model, studies, "runs/emb", devices=4, accelerator="gpu")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from radkit.retrieval.embed import Embeddings, embed_batch


def _lightning():
    try:
        import lightning.pytorch as pl
    except ImportError:  # pragma: no cover - Lightning is a core dependency today
        raise ImportError("embed_with_lightning needs Lightning: pip install lightning") from None
    return pl


def _shard_path(out: Path, rank: int, batch_idx: int) -> Path:
    return out / f"rank{rank:03d}-batch{batch_idx:06d}.safetensors"


def embed_with_lightning(model, studies: Sequence, out_dir: str | os.PathLike, anatomies: Sequence[str] = (),
                         reports: bool = True, batch_size: int = 16, **trainer_kwargs) -> Embeddings:
    """Embed ``studies`` with ``Trainer(**trainer_kwargs).predict`` and return them in input order.

    Args:
        model: a `RetrievalModel` (an ``nn.Module``).
        studies: `Study` records.
        out_dir: shard folder (one file per rank and batch; finished files are reused).
        anatomies, reports: as `embed_studies`.
        batch_size: studies per batch per rank.
        **trainer_kwargs: e.g. accelerator="gpu", devices=4, num_nodes=2, strategy="ddp".

    Returns:
        `Embeddings` (rank 0 reads every shard after a barrier).
    """
    pl = _lightning()
    import torch
    from safetensors.numpy import save as st_save
    from torch.utils.data import DataLoader

    from radkit.fileio import atomic_write_bytes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp = model.fingerprint()

    class _Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def predict_step(self, batch, batch_idx):
            path = _shard_path(out, self.global_rank, batch_idx)
            if path.is_file():  # resumed: this rank/batch finished earlier
                return None
            return [s.study_id for s in batch], embed_batch(self.model, batch, anatomies, reports)

    class ShardWriter(pl.callbacks.BasePredictionWriter):
        def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
            if prediction is None:
                return
            ids, arrays = prediction
            meta = {"fingerprint": fp, "study_ids": json.dumps(ids)}
            atomic_write_bytes(_shard_path(out, trainer.global_rank, batch_idx), st_save(arrays, metadata=meta))

    kwargs = {"logger": False, "enable_progress_bar": True, "enable_model_summary": False, **trainer_kwargs}
    trainer = pl.Trainer(callbacks=[ShardWriter(write_interval="batch")], **kwargs)
    loader = DataLoader(list(studies), batch_size=batch_size, shuffle=False, collate_fn=list)
    with torch.inference_mode():
        trainer.predict(_Module(), loader, return_predictions=False)
    return read_shards(out, [s.study_id for s in studies], fp)


def read_shards(out_dir: str | os.PathLike, study_ids: Sequence[str], fingerprint: str) -> Embeddings:
    """Reassemble shard files into `Embeddings` in the order of ``study_ids``.

    Raises:
        ValueError: a shard from another model, or studies missing from the shards.
    """
    from safetensors import safe_open

    rows: dict[str, dict[str, np.ndarray]] = {}
    for path in sorted(Path(out_dir).glob("rank*-batch*.safetensors")):
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata()
            if meta.get("fingerprint") != fingerprint:
                raise ValueError(f"shard {path} was written by model {meta.get('fingerprint')}, not {fingerprint}; "
                                 "delete the folder or use another out_dir")
            arrays = {k: f.get_tensor(k) for k in f.keys()}
        for i, sid in enumerate(json.loads(meta["study_ids"])):
            rows[sid] = {k: v[i] for k, v in arrays.items()}
    missing = [s for s in study_ids if s not in rows]
    if missing:
        raise ValueError(f"{len(missing)} studies have no embedding in {out_dir} (e.g. {missing[:3]}); rerun")
    spaces = list(rows[study_ids[0]]) if study_ids else []
    return Embeddings(list(study_ids), {k: np.stack([rows[s][k] for s in study_ids]) for k in spaces})
