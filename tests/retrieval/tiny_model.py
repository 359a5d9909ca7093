"""A tiny deterministic `RetrievalModel` for retrieval tests (no training, no weights on disk).

Images: mean-pooled to 16x16, standardised, fixed random projection. Reports: hashed
bag of words, fixed random projection. Anatomy: the image masked to a quadrant chosen
by the anatomy name, then projected. Everything L2-normalised, as the protocol requires.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import torch
import torch.nn.functional as F


class TinyModel:
    name = "tiny-test"
    modality = "cxr"
    embed_dim = 32

    def __init__(self, seed: int = 0, size: int = 16):
        g = torch.Generator().manual_seed(seed)
        self.size = size
        self.proj_img = torch.randn(size * size, self.embed_dim, generator=g)
        self.proj_txt = torch.randn(256, self.embed_dim, generator=g)
        self.calls = 0  # forward passes, for resume tests

    def preprocess_image(self, image) -> torch.Tensor:
        arr = np.asarray(image.array if hasattr(image, "array") else image, dtype=np.float32)
        t = torch.as_tensor(arr)
        if t.ndim == 3:  # CT (X, Y, Z) or RGB: average the last axis
            t = t.mean(-1)
        t = F.adaptive_avg_pool2d(t[None, None], self.size)[0]
        return (t - t.mean()) / (t.std() + 1e-6)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return F.normalize(pixels.flatten(1) @ self.proj_img, dim=-1)

    def encode_text(self, texts) -> torch.Tensor:
        bags = torch.zeros(len(texts), 256)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                bags[i, zlib.crc32(w.encode()) % 256] += 1
        return F.normalize(bags @ self.proj_txt + 1e-6, dim=-1)

    def encode_image_anatomy(self, pixels: torch.Tensor, anatomies) -> torch.Tensor:
        h = self.size // 2
        masked = torch.zeros_like(pixels)
        for i, a in enumerate(anatomies):
            q = zlib.crc32(a.encode()) % 4
            r, c = (q // 2) * h, (q % 2) * h
            masked[i, :, r:r + h, c:c + h] = pixels[i, :, r:r + h, c:c + h]
        return F.normalize(masked.flatten(1) @ self.proj_img, dim=-1)

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.proj_img.numpy().tobytes() + self.proj_txt.numpy().tobytes())
        return h.hexdigest()[:16]


def make_studies(folder, n: int = 12, seed: int = 0, size: int = 24):
    """Write n small PNG studies + reports and a manifest; returns (manifest path, studies)."""
    from PIL import Image

    from radkit.data.manifest import read_manifest, write_manifest
    from radkit.data.study import Study

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = ["effusion", "nodule", "clear", "cardiomegaly", "pneumothorax", "normal", "edema", "left", "right"]
    studies = []
    for i in range(n):
        img = (rng.random((size, size)) * 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i:03d}.png")
        report = " ".join(rng.choice(words, 5))
        studies.append(Study(study_id=f"s{i:03d}", patient_id=f"p{i // 2}", modality="cxr",
                             image_paths=[f"img{i:03d}.png"], report=report,
                             split="test" if i % 3 == 0 else "train", study_date=f"20{10 + i % 10}-01-01"))
    path = write_manifest(studies, folder / "manifest.jsonl")
    return path, read_manifest(path)
