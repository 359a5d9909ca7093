"""`radkit index build|info|add|remove`: thin wrappers over `radkit.retrieval.api`."""

from __future__ import annotations

import json as _json
from typing import Optional


def build(*, model: str, manifest: str, out: str, recipe: str = "flat", anatomies: Optional[list[str]] = None,
          reports: bool = True, batch_size: int = 16, cache_dir: Optional[str] = None) -> int:
    """Embed a manifest with a model and write an index folder (atomic: a failed build keeps the old one).

    Example: radkit index build --recipe indexes/flat.yaml --model radir-tiny --manifest data/manifest.jsonl --out indexes/built/demo

    Args:
        model: registered model name, saved model folder, or package.module:factory.
        manifest: manifest file (.jsonl, .csv, .parquet).
        out: index folder to write.
        recipe: recipe name (flat, flat-radkit, hnsw, ivfpq) or YAML path.
        anatomies: anatomies to index for anatomy-conditioned search (default: those in the manifest's findings).
        reports: also index report embeddings (image->report search).
        batch_size: studies per forward pass.
        cache_dir: folder for resumable embedding shards (a rerun skips finished shards).
    """
    from radkit.retrieval.build import build_index

    path = build_index(model, manifest, out, recipe=recipe, anatomies=anatomies, reports=reports,
                       batch_size=batch_size, cache_dir=cache_dir)
    _print_info(path, as_json=False)
    return 0


def info(index: str, json: bool = False) -> int:
    """Show an index folder: model, fingerprint, recipe, sizes, anatomies.

    Example: radkit index info indexes/built/demo

    Args:
        index: index folder.
        json: print JSON instead of a table.
    """
    _print_info(index, as_json=json)
    return 0


def add(index: str, *, manifest: str, batch_size: int = 16) -> int:
    """Embed the studies of a manifest and add them to an existing index (every space).

    Example: radkit index add indexes/built/demo --manifest new_studies.jsonl

    Args:
        index: index folder.
        manifest: manifest with the new studies (their ids must not be in the index).
        batch_size: studies per forward pass.
    """
    from radkit.retrieval.build import add_to_index

    n = add_to_index(index, manifest, batch_size=batch_size)
    print(f"added {n} studies to {index}")
    return 0


def remove(index: str, *, study_ids: list[str]) -> int:
    """Remove studies by id from an index.

    Example: radkit index remove indexes/built/demo --study_ids [s001,s002]

    Args:
        index: index folder.
        study_ids: study ids to remove.
    """
    from radkit.retrieval.build import remove_from_index

    n = remove_from_index(index, study_ids)
    print(f"removed {n} studies from {index}")
    return 0


def _print_info(index, as_json: bool) -> None:
    from radkit.retrieval.store import IndexStore

    store = IndexStore.load(index)
    meta = dict(store.meta)
    meta["n_studies"] = len(store.items)
    meta["anatomies"] = store.anatomies
    if as_json:
        print(_json.dumps(meta, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"index {index}", show_header=False)
    for key in ("n_studies", "modality", "model_name", "model_fingerprint", "dim", "radkit_version", "updated"):
        t.add_row(key, str(meta.get(key)))
    r = meta["recipe"]
    t.add_row("recipe", f"{r['name']} ({r['factory']}, device {r['device']})")
    t.add_row("spaces", ", ".join(f"{k} ({v['n']})" for k, v in meta["spaces"].items()))
    Console().print(t)


COMMANDS = {"build": build, "info": info, "add": add, "remove": remove}
