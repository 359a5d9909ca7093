"""Batched embeddings of studies: global image, report, and per-anatomy image embeddings.

`embed_studies` walks a manifest's studies in shards of ``shard_size``. With a
``cache_dir`` each finished shard is written as one safetensors file (atomic), and
a rerun loads the finished shards and computes only the rest, so an interrupted
bulk embedding resumes where it stopped. A shard is reused only when its model
fingerprint, study ids and spaces match, so a changed model or manifest is never
mixed with stale vectors.

All embeddings are (n, D) float32, L2-normalised (the model's contract).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np
import torch

SPACE_IMAGE = "image"
SPACE_REPORT = "report"


def load_image(image, modality: str | None = None):
    """A `radkit.io.Image` from a path, a numpy array or an Image (returned as is).

    Args:
        image: file or DICOM series folder (read with `radkit.io.read_image`), an array
            (CXR (H, W), CT (X, Y, Z) in RAS+ order; no header: unit spacing), or an Image.
        modality: declared modality; for paths None lets the header decide (so a CT queried
            against a CXR model is refused by the model), for arrays it is required to know
            how to treat them.

    Raises:
        FileNotFoundError: the path does not exist.
    """
    if hasattr(image, "array"):
        return image
    if isinstance(image, (np.ndarray, torch.Tensor)):
        return _plain_image(np.asarray(image), modality, {})
    path = Path(image)
    if not path.exists():
        raise FileNotFoundError(f"image {path} not found; pass an existing file, a DICOM series folder or an array")
    try:
        from radkit.io import read_image
    except ImportError:  # older radkit without radkit.io: pictures and .npy only
        read_image = None
    if read_image is not None and path.suffix.lower() != ".npy":
        return read_image(path, modality=modality)
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        from PIL import Image as PILImage

        with PILImage.open(path) as im:
            arr = np.asarray(im.convert("L"), dtype=np.float32)
    return _plain_image(arr, modality, {"path": str(path)})


def _plain_image(arr: np.ndarray, modality: str | None, meta: dict):
    """An Image for arrays without a header (unit spacing, identity affine)."""
    try:
        from radkit.io import Image

        return Image(array=arr, spacing=(1.0,) * arr.ndim, affine=np.eye(4), modality=modality or "",
                     meta=meta) if modality else _namespace(arr, modality, meta)
    except ImportError:
        return _namespace(arr, modality, meta)


def _namespace(arr, modality, meta):
    img = SimpleNamespace(array=arr, spacing=(1.0,) * arr.ndim, affine=np.eye(4), meta=meta)
    if modality is not None:  # without one, the model's own modality applies
        img.modality = modality
    return img


def model_device(model) -> torch.device:
    """The device of a model's parameters (CPU for parameter-free models)."""
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


@dataclass
class Embeddings:
    """Embeddings of a list of studies.

    Attributes:
        study_ids: n study ids, in input order.
        spaces: {"image" | "report" | "anatomy:<name>": (n, D) float32, L2-normalised}.
    """

    study_ids: list[str]
    spaces: dict[str, np.ndarray] = field(default_factory=dict)


def _space_names(anatomies: Sequence[str], reports: bool) -> list[str]:
    return [SPACE_IMAGE] + ([SPACE_REPORT] if reports else []) + [f"anatomy:{a}" for a in anatomies]


@torch.inference_mode()
def embed_batch(model, studies, anatomies: Sequence[str] = (), reports: bool = True) -> dict[str, np.ndarray]:
    """Embeddings of one batch of `Study` records (first image of each study).

    Returns:
        {space: (B, D) float32}, L2-normalised.
    """
    dev = model_device(model)
    pixels = torch.stack([model.preprocess_image(load_image(s.image_paths[0], s.modality)) for s in studies]).to(dev)
    out = {SPACE_IMAGE: model.encode_image(pixels)}
    if reports:
        out[SPACE_REPORT] = model.encode_text([s.report for s in studies])
    if anatomies and hasattr(model, "encode_image_anatomies"):  # one tower pass for every anatomy
        for a, emb in model.encode_image_anatomies(pixels, list(anatomies)).items():
            out[f"anatomy:{a}"] = emb
    else:
        for a in anatomies:
            out[f"anatomy:{a}"] = model.encode_image_anatomy(pixels, [a] * len(studies))
    return {k: v.detach().float().cpu().numpy() for k, v in out.items()}


def _shard_meta(model, ids: list[str], spaces: list[str]) -> dict[str, str]:
    return {"fingerprint": model.fingerprint(), "study_ids": json.dumps(ids), "spaces": json.dumps(spaces)}


def _read_shard(path: Path, expect: dict[str, str]) -> dict[str, np.ndarray] | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            if f.metadata() != expect:
                return None
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # a torn or foreign file is recomputed, never trusted
        return None


def embed_studies(model, studies: Sequence, anatomies: Sequence[str] = (), reports: bool = True,
                  batch_size: int = 16, shard_size: int = 256, cache_dir: str | os.PathLike | None = None,
                  progress: bool = True) -> Embeddings:
    """Embed studies in batches, shard by shard, resuming finished shards from ``cache_dir``.

    Args:
        model: a `radkit.models.protocol.RetrievalModel`.
        studies: `Study` records (their first image and report are embedded).
        anatomies: anatomy names for conditioned image embeddings (one space each).
        reports: also embed the reports (space "report").
        batch_size: studies per forward pass.
        shard_size: studies per shard file.
        cache_dir: folder for ``shard-00000.safetensors`` files; None keeps everything in memory.
        progress: show a tqdm bar.

    Returns:
        `Embeddings` with (len(studies), D) arrays per space.
    """
    from safetensors.numpy import save as st_save
    from tqdm.auto import tqdm

    from radkit.fileio import atomic_write_bytes

    if batch_size < 1 or shard_size < 1:
        raise ValueError(f"batch_size and shard_size must be >= 1, got {batch_size}, {shard_size}")
    studies = list(studies)
    spaces = _space_names(anatomies, reports)
    cache = Path(cache_dir) if cache_dir is not None else None
    parts: list[dict[str, np.ndarray]] = []
    bar = tqdm(total=len(studies), desc="embedding", unit="study", disable=not progress)
    for si, start in enumerate(range(0, len(studies), shard_size)):
        chunk = studies[start:start + shard_size]
        ids = [s.study_id for s in chunk]
        expect = _shard_meta(model, ids, spaces)
        path = cache / f"shard-{si:05d}.safetensors" if cache is not None else None
        got = _read_shard(path, expect) if path is not None and path.is_file() else None
        if got is None:
            batches = []
            for b in range(0, len(chunk), batch_size):
                batches.append(embed_batch(model, chunk[b:b + batch_size], anatomies, reports))
                bar.update(len(batches[-1][SPACE_IMAGE]))
            got = {k: np.ascontiguousarray(np.concatenate([b[k] for b in batches])) for k in spaces}
            if path is not None:
                atomic_write_bytes(path, st_save(got, metadata=expect))
        else:
            bar.update(len(chunk))
        parts.append(got)
    bar.close()
    if not parts:
        return Embeddings([], {k: np.zeros((0, model.embed_dim), np.float32) for k in spaces})
    return Embeddings([s.study_id for s in studies], {k: np.concatenate([p[k] for p in parts]) for k in spaces})


@torch.inference_mode()
def embed_images(model, images: Sequence, anatomy: str | None = None, batch_size: int = 16,
                 modality: str | None = None, progress: bool = False) -> np.ndarray:
    """Image embeddings (global, or conditioned on one anatomy) of paths/arrays/Images.

    Returns:
        (n, D) float32, L2-normalised.
    """
    from tqdm.auto import tqdm

    dev, out = model_device(model), []
    for b in tqdm(range(0, len(images), batch_size), desc=f"embedding {anatomy or 'images'}", disable=not progress):
        px = torch.stack([model.preprocess_image(load_image(x, modality)) for x in images[b:b + batch_size]]).to(dev)
        z = model.encode_image(px) if anatomy is None else model.encode_image_anatomy(px, [anatomy] * len(px))
        out.append(z.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.embed_dim), np.float32)
