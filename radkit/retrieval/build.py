"""Build and update index folders from manifests: `build_index`, `add_to_index`, `remove_from_index`."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Sequence

from radkit.retrieval.embed import SPACE_REPORT, embed_studies
from radkit.retrieval.recipe import IndexRecipe
from radkit.retrieval.store import IndexStore

MODEL_SUBDIR = "model"


def resolve_model(model: Any, modality: str | None = None) -> tuple[Any, str]:
    """A model object and the spec string that finds it again.

    Args:
        model: a `RetrievalModel`, a saved model folder, a registered name (`radkit.models.list_models`),
            or ``"package.module:factory"`` (a callable returning a model, or a model object).
        modality: for multi-modality registry configs.

    Returns:
        (model, spec); spec is "" for an object passed in directly.
    """
    if not isinstance(model, (str, os.PathLike)):
        return model, str(getattr(model, "_radkit_spec", ""))
    spec = str(model)
    if ":" in spec and not Path(spec).exists():
        mod_name, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"model {spec!r}: cannot import ({e}); use 'package.module:factory', "
                             "a model folder or a registered name") from None
        m = obj() if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "encode_image")) else obj
    else:
        from radkit.models import load_model

        m = load_model(spec, modality=modality)
    try:
        m._radkit_spec = spec
    except AttributeError:
        pass
    return m, spec


def _rows(studies) -> list[dict]:
    return [{"study_id": s.study_id, "patient_id": s.patient_id, "modality": s.modality, "split": s.split,
             "view": s.view, "study_date": s.study_date, "image_path": s.image_paths[0] if s.image_paths else None,
             "report": s.report} for s in studies]


def _studies(manifest) -> list:
    from radkit.data.manifest import read_manifest

    studies = read_manifest(manifest) if isinstance(manifest, (str, os.PathLike)) else list(manifest)
    if not studies:
        raise ValueError(f"manifest {manifest} has no studies; nothing to index")
    return studies


def preprocessing_hash(model) -> str | None:
    """sha256 (16 hex) of the model's preprocessing config, recorded in index metadata so a
    changed resampling/window is visible even when only the preprocessing differs."""
    import hashlib
    import json

    cfg = getattr(model, "cfg", None)
    pre = cfg.to_dict().get("preprocess") if hasattr(cfg, "to_dict") else None
    if pre is None:
        return None
    return hashlib.sha256(json.dumps(pre, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _default_anatomies(studies) -> list[str]:
    return sorted({f.anatomy for s in studies for f in s.findings if f.anatomy})


def build_index(model, manifest, out: str | os.PathLike, recipe="flat", anatomies: Sequence[str] | None = None,
                reports: bool = True, batch_size: int = 16, cache_dir: str | os.PathLike | None = None,
                progress: bool = True) -> Path:
    """Embed a manifest and write an index folder (atomically; an existing folder is replaced
    only once the new one is complete).

    Args:
        model: see `resolve_model`. A model that cannot be found again from its spec (a
            registry name with random weights, an object) is saved into ``out/model/`` when it
            has ``save_pretrained``, so the index stays self-contained.
        manifest: manifest path or a list of `Study`.
        out: the index folder.
        recipe: recipe name, YAML path or `IndexRecipe`.
        anatomies: anatomies to build conditioned sub-indexes for; None = every anatomy named in
            the manifest's findings; [] = none.
        reports: also index report embeddings (image->report search).
        batch_size: studies per forward pass.
        cache_dir: resumable embedding shards (see `embed_studies`).

    Returns:
        The index folder.
    """
    model, spec = resolve_model(model)
    studies = _studies(manifest)
    mods = {s.modality for s in studies}
    if mods != {model.modality}:
        raise ValueError(f"manifest modalities {sorted(mods)} but model {model.name!r} is {model.modality!r}; "
                         "use a model of that modality or filter the manifest")
    recipe = IndexRecipe.load(recipe)
    anatomies = _default_anatomies(studies) if anatomies is None else list(anatomies)
    emb = embed_studies(model, studies, anatomies, reports, batch_size=batch_size, cache_dir=cache_dir,
                        progress=progress)
    store = IndexStore.create(recipe, model.embed_dim, model.name, model.fingerprint(), model.modality,
                              preprocessing_hash(model))
    store.add(_rows(studies), emb.spaces)
    from_folder = bool(spec) and Path(spec).is_dir()
    save_model = hasattr(model, "save_pretrained") and not from_folder

    def hook(tmp: Path) -> None:
        if save_model:
            model.save_pretrained(tmp / MODEL_SUBDIR)

    store.meta["model_spec"] = MODEL_SUBDIR if save_model else (str(Path(spec).resolve()) if from_folder else spec)
    return store.save(out, progress_hook=hook)


def add_to_index(index_dir, manifest, model=None, batch_size: int = 16, progress: bool = True) -> int:
    """Embed new studies and add them to every space of an existing index; returns the count."""
    from radkit.retrieval.api import Retriever

    r = Retriever.load(index_dir, model=model)
    studies = _studies(manifest)
    emb = embed_studies(r.model, studies, r.store.anatomies, SPACE_REPORT in r.store.spaces,
                        batch_size=batch_size, progress=progress)
    r.store.add(_rows(studies), emb.spaces)
    r.store.save(index_dir, progress_hook=_copy_model(Path(index_dir)))
    return len(studies)


def remove_from_index(index_dir, study_ids: Sequence[str]) -> int:
    """Remove studies by id from an index folder (atomic rewrite); returns the count."""
    store = IndexStore.load(index_dir)
    n = store.remove(list(study_ids))
    store.save(index_dir, progress_hook=_copy_model(Path(index_dir)))
    return n


def _copy_model(index_dir: Path):
    import shutil

    def hook(tmp: Path) -> None:
        if (index_dir / MODEL_SUBDIR).is_dir():
            shutil.copytree(index_dir / MODEL_SUBDIR, tmp / MODEL_SUBDIR)
    return hook
