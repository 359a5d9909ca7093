"""LightningDataModule over a manifest + RadIR similarity tables (stage 1, stage 2, joint).

Stage 1 yields image-report pairs with their table row (the LightningModule looks the
similarity block up across ranks); stage 2 yields anatomy groups (SPEC §3.3) with their
(N, N) ground-truth block.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from radkit.data._radir_tables import SplitTables, load_split
from radkit.data.sampler import AnatomyGroupSampler
from radkit.data.transforms import PreprocessConfig, build_transform, validate_image

STAGES = ("1", "2", "joint")


def read_image(path: str | Path, modality: str):
    """A `radkit.io.Image` when radkit.io is installed, else a minimal PNG/JPG/NIfTI reader
    (NIfTI reoriented to RAS+ canonical, as radkit.io does)."""
    try:
        from radkit.io import read_image as io_read
    except ImportError:
        io_read = None
    if io_read is not None:
        return io_read(path)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image {path} not found; check the manifest's image_paths")
    if path.name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        img = nib.as_closest_canonical(nib.load(str(path)))
        return SimpleNamespace(array=np.asarray(img.dataobj, np.float32), affine=img.affine, modality=modality,
                               meta={"units": "HU"} if modality == "ct" else {})
    from PIL import Image as PILImage

    return SimpleNamespace(array=np.asarray(PILImage.open(path).convert("L"), np.float32), affine=None,
                           modality=modality, meta={})


class _Items:
    """Image path + report per table row, from the manifest (by study_id) or the listing itself."""

    def __init__(self, tables: SplitTables, root: Path, manifest: Path | None):
        self.paths, self.texts = [], []
        studies = {}
        if manifest is not None:
            from radkit.data.manifest import read_manifest

            studies = {s.study_id: s for s in read_manifest(manifest)}
        for name, row in zip(tables.names, tables.rows):
            if name in studies:
                s = studies[name]
                p = Path(s.image_paths[0])
                self.paths.append(p if p.is_absolute() else Path(manifest).parent / p)
                self.texts.append(s.report)
            elif manifest is not None:
                raise KeyError(f"table row {name!r} is not a study_id of {manifest}; rebuild the tables from "
                               "this manifest")
            else:
                p = Path(row["img_path"])
                self.paths.append(p if p.is_absolute() else root / p)
                self.texts.append(str(row.get("text", "")))


class PairDataset(Dataset):
    """Stage 1 items: {"pixels": (1, ...) float32, "text": str, "index": table row}."""

    def __init__(self, items: _Items, preprocess: PreprocessConfig):
        self.items, self.pre = items, preprocess
        self._tf = None

    def __len__(self):
        return len(self.items.paths)

    def load(self, i: int) -> torch.Tensor:
        if self._tf is None:  # built lazily: picklable for worker processes
            self._tf = build_transform(self.pre)
        img = read_image(self.items.paths[i], self.pre.modality)
        return self._tf(validate_image(img, self.pre), getattr(img, "affine", None))

    def __getitem__(self, i):
        return {"pixels": self.load(i), "text": self.items.texts[i], "index": i}


class GroupDataset(Dataset):
    """Stage 2 items: {"pixels": (N, 1, ...), "anatomy": str, "sim": (N, N) float in [0, 1], "index": (N,)}.

    Item ``i`` of epoch ``e`` is drawn with a generator seeded by (seed, e, i): reproducible and
    independent across workers.
    """

    def __init__(self, pairs: PairDataset, tables: SplitTables, group_size: int, length: int, seed: int = 0):
        self.pairs, self.tables, self.length, self.seed, self.epoch = pairs, tables, length, seed, 0
        self.sampler = AnatomyGroupSampler({a: s for a, (_, s) in tables.anatomy.items()}, group_size)

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        a, local = self.sampler.draw(rng)
        rows, sim = self.tables.anatomy[a]
        return {"pixels": torch.stack([self.pairs.load(int(r)) for r in rows[local]]), "anatomy": a,
                "sim": torch.from_numpy(sim[np.ix_(local, local)].astype(np.float32) / 100.0),
                "index": torch.from_numpy(rows[local])}


class RadIRDataModule(L.LightningDataModule):
    """Data for `RetrievalModule`.

    Args:
        tables_dir: RadIR table folder (``<split>.jsonl``, ``<split>.npy``, ``anatomy/...``).
        preprocess: the model's preprocessing config (so training and inference agree).
        manifest: optional manifest; when given, images and reports come from its studies (by study_id).
        stage: "1" (pairs), "2" (anatomy groups) or "joint" (both, combined).
        batch_size: stage-1 pairs per step and process.
        groups_per_batch, group_size: stage-2 groups per step and samples per group.
        group_steps: stage-2 groups drawn per epoch (the group dataset's length).
        train_split, val_split: split names; a missing validation split disables validation.
        num_workers: DataLoader workers.
        seed: group sampling seed.
    """

    def __init__(self, tables_dir: str | Path, preprocess: PreprocessConfig, manifest: str | Path | None = None,
                 stage: str = "1", batch_size: int = 8, groups_per_batch: int = 1, group_size: int = 6,
                 group_steps: int = 100, train_split: str = "train", val_split: str | None = "test",
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        if str(stage) not in STAGES:
            raise ValueError(f"stage {stage!r} unknown; valid: {', '.join(STAGES)}")
        self.root, self.pre, self.stage = Path(tables_dir), preprocess, str(stage)
        self.manifest = Path(manifest) if manifest else None
        self.batch_size, self.groups_per_batch, self.group_size = batch_size, groups_per_batch, group_size
        self.group_steps, self.train_split, self.val_split = group_steps, train_split, val_split
        self.num_workers, self.seed = num_workers, seed
        self.tables: dict[str, SplitTables] = {}
        self.save_hyperparameters({"preprocess": asdict(preprocess)}, logger=False)

    def setup(self, stage: str | None = None) -> None:
        if self.train_split not in self.tables:
            self.tables[self.train_split] = load_split(self.root, self.train_split)
            t = self.tables[self.train_split]
            if len(t.names) < self.batch_size and self.stage != "2":
                raise ValueError(f"{self.root}: split {self.train_split!r} has {len(t.names)} rows < batch_size "
                                 f"{self.batch_size}; lower batch_size")
            if self.stage != "1" and not t.anatomy:
                raise FileNotFoundError(f"{self.root}/anatomy/{self.train_split}_entity: no anatomy tables for "
                                        "stage 2; build them with `radkit data tables`")
        if self.val_split and self.val_split not in self.tables and (self.root / f"{self.val_split}.jsonl").exists():
            self.tables[self.val_split] = load_split(self.root, self.val_split)

    def pairs(self, split: str) -> PairDataset:
        return PairDataset(_Items(self.tables[split], self.root, self.manifest), self.pre)

    def similarity(self, split: str, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """(len(rows), len(cols)) float similarities in [0, 1] from the split's global table."""
        s = self.tables[split].sim[np.ix_(rows.cpu().numpy(), cols.cpu().numpy())]
        return torch.from_numpy(s.astype(np.float32) / 100.0)

    def _pair_loader(self, split: str, train: bool) -> DataLoader:
        return DataLoader(self.pairs(split), batch_size=self.batch_size, shuffle=train, drop_last=train,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def _group_loader(self) -> DataLoader:
        ds = GroupDataset(self.pairs(self.train_split), self.tables[self.train_split], self.group_size,
                          self.group_steps * self.groups_per_batch, self.seed)
        return DataLoader(ds, batch_size=self.groups_per_batch, shuffle=False, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self):
        if self.stage == "1":
            return self._pair_loader(self.train_split, True)
        if self.stage == "2":
            return self._group_loader()
        from lightning.pytorch.utilities import CombinedLoader

        return CombinedLoader({"pairs": self._pair_loader(self.train_split, True), "groups": self._group_loader()},
                              "max_size_cycle")

    def val_dataloader(self):
        if not self.val_split or self.val_split not in self.tables:
            return []
        return self._pair_loader(self.val_split, False)
