"""Datamodule, RadIR table reading and the anatomy group sampler, on tiny files written here."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from radkit.data.datamodule import RadIRDataModule, load_split
from radkit.data.sampler import AnatomyGroupSampler, assign_anatomies
from radkit.data.transforms import preset


def write_tiny_radir(root, n=8, seed=0, extra_rows=2):
    """n PNG images + RadIR tables (global + 2 anatomies) under root; returns the global float table
    and the pleura table as written."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 48), dtype=np.uint8)).save(root / "img" / f"s{i}.png")
        rows.append({"name": f"s{i}", "img_path": f"img/s{i}.png", "text": f"report {i}"})
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = rng.uniform(0, 1, (n + extra_rows, n + extra_rows))  # larger than the listing: cropped
    s = np.maximum(s, s.T)
    np.fill_diagonal(s, 1.0)
    np.save(root / "train.npy", s.astype(np.float32))
    written = {}
    for a, members in {"lungs": list(range(n)), "pleura": [1, 3, 5, 99]}.items():  # 99: no image -> dropped
        (root / "anatomy" / "train_entity").mkdir(parents=True, exist_ok=True)
        (root / "anatomy" / "train_ratescore").mkdir(parents=True, exist_ok=True)
        with open(root / "anatomy" / "train_entity" / f"{a}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["File Path"])
            w.writerows([[f"s{m}"] for m in members])
        sa = rng.uniform(0, 1, (len(members), len(members)))
        np.fill_diagonal(sa, 1.0)
        np.save(root / "anatomy" / "train_ratescore" / f"{a}.npy", sa)
        written[a] = sa
    return s[:n, :n], written["pleura"]


def test_tables_follow_release_rules(tmp_path):
    s, pleura = write_tiny_radir(tmp_path)
    t = load_split(tmp_path, "train")
    assert t.sim.shape == (8, 8) and t.sim.dtype == np.uint8  # the larger .npy is cropped to the listing
    np.testing.assert_array_equal(t.sim, np.rint(s * 100).astype(np.uint8))
    rows, sa = t.anatomy["pleura"]
    assert rows.tolist() == [1, 3, 5]  # s99 has no image row: dropped with its row and column
    sym = np.maximum(pleura, pleura.T)[:3, :3]  # released loaders symmetrise anatomy tables by max
    np.testing.assert_array_equal(sa, np.rint(sym * 100).astype(np.uint8))


def test_stage1_batches_and_similarity_lookup(tmp_path):
    s, _ = write_tiny_radir(tmp_path)
    dm = RadIRDataModule(tmp_path, preset("cxr", spatial_size=[16, 16]), batch_size=4, val_split=None)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["pixels"].shape == (4, 1, 16, 16) and len(batch["text"]) == 4
    assert batch["pixels"].min() >= -1 - 1e-6 and batch["pixels"].max() <= 1 + 1e-6
    idx = batch["index"]
    assert batch["text"] == [f"report {i}" for i in idx.tolist()]
    np.testing.assert_allclose(dm.similarity("train", idx, idx).numpy(), np.rint(s[np.ix_(idx, idx)] * 100) / 100,
                               atol=1e-6)


def test_manifest_supplies_images_and_reports(tmp_path):
    from radkit.data.manifest import write_manifest
    from radkit.data.study import Study

    write_tiny_radir(tmp_path)
    studies = [Study(f"s{i}", f"p{i}", "cxr", [f"img/s{i}.png"], f"manifest report {i}") for i in range(8)]
    write_manifest(studies, tmp_path / "manifest.jsonl")
    dm = RadIRDataModule(tmp_path, preset("cxr", spatial_size=[16, 16]), manifest=tmp_path / "manifest.jsonl",
                         batch_size=2, val_split=None)
    dm.setup()
    assert dm.pairs("train")[3]["text"] == "manifest report 3"


def test_stage2_groups(tmp_path):
    write_tiny_radir(tmp_path)
    dm = RadIRDataModule(tmp_path, preset("cxr", spatial_size=[16, 16]), stage="2", groups_per_batch=2,
                         group_size=5, group_steps=3, val_split=None)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert len(batches) == 3
    b = batches[0]
    assert b["pixels"].shape == (2, 5, 1, 16, 16) and b["sim"].shape == (2, 5, 5) and len(b["anatomy"]) == 2
    t = dm.tables["train"]
    for g in range(2):
        rows, sa = t.anatomy[b["anatomy"][g]]
        pos = {r: k for k, r in enumerate(rows.tolist())}
        loc = [pos[r] for r in b["index"][g].tolist()]
        np.testing.assert_allclose(b["sim"][g].numpy(), sa[np.ix_(loc, loc)] / 100.0, atol=1e-6)


def test_sampler_pairs_weights_and_reproducibility():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, (30, 30))
    s = np.maximum(s, s.T)
    sampler = AnatomyGroupSampler({"a": s, "b": s[:3, :3], "c": s[:1, :1]}, group_size=6)
    assert sampler.anatomies == ["a", "b"]  # n=1: round(ln 1) = 0 -> never drawn
    np.testing.assert_allclose(sampler.probs, [round(math.log(30)) / (round(math.log(30)) + 1),
                                               1 / (round(math.log(30)) + 1)])
    g = np.random.default_rng(1)
    for _ in range(20):
        a, idx = sampler.draw(g)
        if a != "a":
            continue
        assert len(idx) == 6  # 6//4 + 1 = 2 positive pairs, 6//4 = 1 negative pair
        assert s[idx[0], idx[1]] > 0.75 and s[idx[2], idx[3]] > 0.75 and s[idx[4], idx[5]] < 0.75
    d1 = sampler.draw(np.random.default_rng(7))
    d2 = sampler.draw(np.random.default_rng(7))
    assert d1[0] == d2[0] and (d1[1] == d2[1]).all()
    assert len(sampler.draw(np.random.default_rng(3))[1]) == 6
    assert len(AnatomyGroupSampler({"a": s}, group_size=5).draw(g)[1]) == 5  # odd: + one random


def test_assign_anatomies():
    assert assign_anatomies({"a": 10, "b": 7, "c": 4, "d": 2}, 2) == [["a", "d"], ["b", "c"]]
    assert assign_anatomies({"a": 10, "b": 7}, 3) == [["a"], ["b"], ["a"]]


def test_missing_tables_name_the_command(tmp_path):
    dm = RadIRDataModule(tmp_path, preset("cxr"))
    with pytest.raises(FileNotFoundError, match="radkit data annotate runs/synth-cxr/manifest.jsonl"):
        dm.setup()


def test_listing_without_resolvable_images_asks_for_the_manifest(tmp_path):
    write_tiny_radir(tmp_path)
    for p in (tmp_path / "img").iterdir():  # as if the paths were relative to a manifest elsewhere
        p.unlink()
    with pytest.raises(FileNotFoundError, match="--manifest"):
        load_split(tmp_path, "train")


def test_image_paths_relative_to_the_manifest_folder(tmp_path):
    """`radkit data annotate M` writes tables to M's folder/tables with paths relative to M's folder."""
    s, _ = write_tiny_radir(tmp_path / "tables")
    (tmp_path / "tables" / "img").rename(tmp_path / "img")
    (tmp_path / "img" / "s2.png").unlink()
    with pytest.warns(UserWarning, match="1 of 8 studies dropped"):
        t = load_split(tmp_path / "tables", "train")
    assert t.names == [f"s{i}" for i in range(8) if i != 2]
    assert t.img_paths[0] == str(tmp_path / "img" / "s0.png")
    keep = [0, 1, 3, 4, 5, 6, 7]
    np.testing.assert_array_equal(t.sim, np.rint(s[np.ix_(keep, keep)] * 100).astype(np.uint8))
    assert t.anatomy["pleura"][0].tolist() == [1, 2, 4]  # s1, s3, s5 in the new row order
