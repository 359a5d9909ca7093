"""LightningDataModule over a manifest + RadIR similarity tables (stage 1, stage 2, joint).

Stage 1 yields image-report pairs with their table row (the LightningModule looks the
similarity block up across ranks); stage 2 yields anatomy groups (SPEC §3.3) with their
(N, N) ground-truth block.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from radkit.data.sampler import AnatomyGroupSampler
from radkit.data.transforms import PreprocessConfig, build_transform, validate_image
from radkit.reports.tables import TRAIN_MAX_SAMPLES

STAGES = ("1", "2", "joint")


def missing_tables_message(root: Path, split: str) -> str:
    """The error text for a missing table folder: names the commands that make one."""
    return (f"similarity tables for split {split!r} not found in {root} (need {split}.jsonl and {split}.npy); "
            "make them with `radkit data synth --modality cxr` (writes runs/synth-cxr/manifest.jsonl) then "
            "`radkit data annotate runs/synth-cxr/manifest.jsonl --out runs/synth-cxr/tables`; for your own "
            "data: `radkit data annotate <manifest> --out <dir>` (or point tables_dir to a MIMIC-IR/CTRATE-IR "
            "download)")


@dataclass
class SplitTables:
    """One split as training uses it (read by `radkit.reports.tables` with the released-loader rules).

    Attributes:
        names: sample names, row order of ``sim``.
        img_paths, texts: the listing's image path and report per row.
        sim: (N, N) uint8 percent (cropped, clipped to [0, 1]).
        anatomy: anatomy -> (row indices into ``names`` (N_a,), (N_a, N_a) uint8 percent, symmetrised).
    """

    names: list[str]
    img_paths: list[str]
    texts: list[str]
    sim: np.ndarray
    anatomy: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _resolve_image(path: str, root: Path) -> str | None:
    """``path`` as given if absolute, else relative to the table folder or to its parent (where
    `radkit data annotate` puts tables by default: next to the manifest the paths are relative to)."""
    if not path:
        return None
    p = Path(path)
    for cand in ([p] if p.is_absolute() else [root / p, root.parent / p]):
        if cand.exists():
            return str(cand)
    return None


def load_split(root: str | Path, split: str, check_images: bool = True,
               max_samples: int | None = None) -> SplitTables:
    """Read one split of a RadIR table folder for training (`radkit.reports.tables` rules: crop,
    clip, uint8 percent, anatomy tables symmetrised, ids without an image row dropped).

    Args:
        root: table folder.
        split: split name.
        check_images: resolve each row's image (see `_resolve_image`) and drop rows whose image is
            missing, as the released loaders do; off when a manifest supplies the images.
        max_samples: the released training cap on each anatomy table (random subset, seed 42).

    Raises:
        FileNotFoundError: the listing or global table is missing (names the commands that make
            them), or no row's image exists.
    """
    import warnings

    from radkit.reports import tables as T

    root = Path(root)
    if not ((root / f"{split}.jsonl").is_file() and (root / f"{split}.npy").is_file()):
        raise FileNotFoundError(missing_tables_message(root, split))
    g = T.read_global(root, split, check_images=False, quantize=True)
    if check_images:
        found = [_resolve_image(p, root) for p in g.img_paths]
        keep = [i for i, f in enumerate(found) if f is not None]
        if not keep:
            raise FileNotFoundError(f"{root}/{split}.jsonl: no img_path exists relative to {root} or its parent; "
                                    "pass the manifest the tables were made from (--manifest <manifest>)")
        if len(keep) < len(found):
            warnings.warn(f"{root}/{split}: {len(found) - len(keep)} of {len(found)} studies dropped (image file "
                          "missing)", stacklevel=2)
        g = T.Table([g.ids[i] for i in keep], g.sim[np.ix_(keep, keep)], [found[i] for i in keep],
                    [g.texts[i] for i in keep])
    out = SplitTables(g.ids, g.img_paths, g.texts, g.sim)
    where = {n: i for i, n in enumerate(g.ids)}
    for a in T.list_table_anatomies(root, split):
        t = T.read_anatomy(root, split, a, index=g, quantize=True, max_samples=max_samples)
        out.anatomy[a] = (np.array([where[i] for i in t.ids], dtype=np.int64), t.sim)
    return out


def read_image(path: str | Path, modality: str):
    """Read one image with `radkit.io.read_image` (NIfTI in RAS+ canonical order)."""
    from radkit.io import read_image as io_read

    return io_read(path)


class _Items:
    """Image path + report per table row, from the manifest (by study_id) or the listing itself."""

    def __init__(self, tables: SplitTables, root: Path, manifest: Path | None):
        self.paths, self.texts = [], []
        studies = {}
        if manifest is not None:
            from radkit.data.manifest import read_manifest

            studies = {s.study_id: s for s in read_manifest(manifest)}
        for name, img, text in zip(tables.names, tables.img_paths, tables.texts):
            if name in studies:
                s = studies[name]
                p = Path(s.image_paths[0])
                self.paths.append(p if p.is_absolute() else Path(manifest).parent / p)
                self.texts.append(s.report)
            elif manifest is not None:
                raise KeyError(f"table row {name!r} is not a study_id of {manifest}; rebuild the tables from "
                               f"this manifest (`radkit data annotate {manifest}`)")
            else:
                p = Path(img)
                self.paths.append(p if p.is_absolute() else root / p)
                self.texts.append(text)


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
            self.tables[self.train_split] = load_split(self.root, self.train_split, self.manifest is None,
                                                       max_samples=TRAIN_MAX_SAMPLES)
            t = self.tables[self.train_split]
            if len(t.names) < self.batch_size and self.stage != "2":
                raise ValueError(f"{self.root}: split {self.train_split!r} has {len(t.names)} rows < batch_size "
                                 f"{self.batch_size}; lower batch_size")
            if self.stage != "1" and not t.anatomy:
                raise FileNotFoundError(f"{self.root}/anatomy/{self.train_split}_entity: no anatomy tables for "
                                        "stage 2; build them with `radkit data annotate <manifest> --out "
                                        f"{self.root}`")
        if self.val_split and self.val_split not in self.tables and (self.root / f"{self.val_split}.jsonl").exists():
            self.tables[self.val_split] = load_split(self.root, self.val_split, self.manifest is None)

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
