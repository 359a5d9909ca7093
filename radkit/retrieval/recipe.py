"""`IndexRecipe`: how one vector index (FAISS, or radkit's flat top-k kernel) is built, stored as a tiny YAML file in ``indexes/``."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("faiss", "radkit")


@dataclass
class IndexRecipe:
    """How to build one FAISS index (a tiny YAML file in ``indexes/``).

    Attributes:
        name: recipe name (the YAML file stem).
        factory: FAISS ``index_factory`` string, e.g. "Flat", "HNSW32", "IVF64,PQ16x4fs".
        metric: "ip" (inner product on L2-normalised vectors = cosine); the only one radkit uses.
        nprobe: IVF lists visited per query (IVF recipes only).
        ef_search: HNSW candidate-list size at search time (HNSW recipes only).
        ef_construction: HNSW candidate-list size while adding (HNSW recipes only).
        train_size: at most this many vectors (random, seeded) train IVF/PQ; None = all.
        device: "cpu", "cuda" or "auto" (GPU when a faiss GPU build and a GPU are present).
        seed: seed of the training subsample.
        refine: fetch ``refine * k`` candidates from FAISS and re-score them exactly with the
            stored vectors (recovers the recall lost to compression, e.g. PQ); 1 = off.
        backend: "faiss" (default) or "radkit": exact flat search through radkit's fused
            ``similarity_topk`` kernel (`radkit.ops.FlatTopK`; compiled CPU/CUDA build or the
            reference, through dispatch), identical results to FAISS flat; filtered search
            passes allowed ids into the kernel, on CPU and GPU alike. Factory must be "Flat".
    """

    name: str = "flat"
    factory: str = "Flat"
    metric: str = "ip"
    nprobe: int | None = None
    ef_search: int | None = None
    ef_construction: int | None = None
    train_size: int | None = None
    device: str = "auto"
    seed: int = 0
    refine: int = 1
    backend: str = "faiss"

    def __post_init__(self):
        if self.metric != "ip":
            raise ValueError(f"recipe {self.name!r}: metric {self.metric!r} is not supported; valid: 'ip' "
                             "(radkit L2-normalises embeddings, so inner product is cosine)")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"recipe {self.name!r}: device {self.device!r}; valid: cpu, cuda, auto")
        if self.backend not in BACKENDS:
            raise ValueError(f"recipe {self.name!r}: backend {self.backend!r}; valid: {', '.join(BACKENDS)}")
        if self.backend == "radkit" and self.factory != "Flat":
            raise ValueError(f"recipe {self.name!r}: backend 'radkit' is exact flat search, but factory is "
                             f"{self.factory!r}; set factory: Flat or backend: faiss")
        for key in ("nprobe", "ef_search", "ef_construction", "train_size", "refine"):
            v = getattr(self, key)
            if v is not None and int(v) < 1:
                raise ValueError(f"recipe {self.name!r}: {key} must be >= 1, got {v}")

    @classmethod
    def load(cls, recipe: "str | os.PathLike | IndexRecipe") -> "IndexRecipe":
        """A recipe from a YAML path or a shipped name ("flat", "hnsw", "ivfpq").

        Raises:
            FileNotFoundError: no such file or shipped recipe (lists the shipped ones).
            KeyError: an unknown key in the YAML (lists the valid keys).
        """
        if isinstance(recipe, IndexRecipe):
            return recipe
        import yaml

        from radkit.resources import find_resource

        path = Path(recipe)
        if not path.is_file():
            path = find_resource("indexes", str(recipe), (".yaml", ".yml", ""))
        data = yaml.safe_load(path.read_text()) or {}
        valid = {f.name for f in dataclasses.fields(cls)}
        bad = set(data) - valid
        if bad:
            raise KeyError(f"recipe {path}: unknown key(s) {sorted(bad)}; valid: {sorted(valid)}")
        data.setdefault("name", path.stem)
        return cls(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
