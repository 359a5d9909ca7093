"""Tiny RadIR data (PNG images + tables) for training tests."""

import csv
import json

import numpy as np
import pytest
from PIL import Image


def _write_split(root, split, n, rng):
    rows = []
    for i in range(n):
        name = f"{split}{i}"
        Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(root / "img" / f"{name}.png")
        rows.append({"name": name, "img_path": f"img/{name}.png", "text": f"finding {i % 3} in the right lung"})
    (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = rng.uniform(0, 1, (n, n))
    s = np.maximum(s, s.T)
    np.fill_diagonal(s, 1.0)
    np.save(root / f"{split}.npy", s)
    for a in ("lungs", "pleura"):
        for sub in ("entity", "ratescore"):
            (root / "anatomy" / f"{split}_{sub}").mkdir(parents=True, exist_ok=True)
        with open(root / "anatomy" / f"{split}_entity" / f"{a}.csv", "w", newline="") as f:
            csv.writer(f).writerows([["File Path"]] + [[r["name"]] for r in rows])
        np.save(root / "anatomy" / f"{split}_ratescore" / f"{a}.npy", s)


@pytest.fixture(scope="session")
def tiny_tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("radir")
    (root / "img").mkdir()
    rng = np.random.default_rng(0)
    _write_split(root, "train", 8, rng)
    _write_split(root, "test", 4, rng)
    return root
