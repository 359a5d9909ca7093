"""The model registry and factory (open_clip/timm style).

Architectures are JSON files keyed by file stem in the top-level ``models/`` folder
(plus folders named in ``RADKIT_MODELS_PATH``). Pretrained weights are a separate
tag -> local folder table (``"pretrained"`` in the JSON), never part of the name.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Any

from radkit.models.config import ModelConfig, config_from_dict, merge_overrides, select_modality
from radkit.resources import resource_dirs


def _registry() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in resource_dirs("models"):
        for p in sorted(d.glob("*.json")):
            found.setdefault(p.stem, p)  # earlier folders (user paths) win
    return found


def list_models(pattern: str = "*") -> list[str]:
    """Registered architecture names matching a glob ``pattern``, sorted."""
    return sorted(n for n in _registry() if fnmatch.fnmatch(n, pattern))


def _raw_config(name_or_path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    p = Path(name_or_path)
    if p.suffix == ".json" and p.is_file():
        d = json.loads(p.read_text())
        d.setdefault("name", p.stem)
        return d, str(p)
    reg = _registry()
    if str(name_or_path) not in reg:
        close = [n for n in reg if str(name_or_path).split("-")[0] in n]
        raise KeyError(f"unknown model {str(name_or_path)!r}; registered: {sorted(reg)}"
                       f"{f' (did you mean {close}?)' if close else ''}; or pass a .json path or a model folder")
    d = json.loads(reg[str(name_or_path)].read_text())
    d.setdefault("name", str(name_or_path))
    return d, str(reg[str(name_or_path)])


def get_model_config(name_or_path: str | os.PathLike, modality: str | None = None, **overrides: Any) -> ModelConfig:
    """The resolved `ModelConfig` of a registered name or JSON path, with ``overrides`` merged.

    Args:
        name_or_path: registry name (see `list_models`) or a .json file.
        modality: "cxr" or "ct" for multi-modality configs (default: the first listed).
        **overrides: field overrides; dotted keys reach nested fields (``**{"image.kwargs.depth": 2}``);
            None values are dropped.
    """
    raw, where = _raw_config(name_or_path)
    d = merge_overrides(select_modality(raw, modality, where), overrides)
    return config_from_dict(d, where=where)


def _is_model_folder(p: Path) -> bool:
    return p.is_dir() and (p / "config.json").is_file()


def create_model(name_or_path: str | os.PathLike, pretrained: str | None = None, modality: str | None = None,
                 **overrides: Any):
    """Build a `DualEncoder`.

    Args:
        name_or_path: registry name, a .json architecture file, or a saved model folder.
        pretrained: a tag of the config's ``pretrained`` table, a model folder, or a .safetensors file
            (loaded strictly). None: random init (text tower as its config says, e.g. packaged MiniLM).
        modality: "cxr" or "ct" for multi-modality configs.
        **overrides: config overrides (see `get_model_config`).

    Returns:
        A `DualEncoder` in train mode (eval mode when loaded from a folder).

    Raises:
        KeyError: unknown name or pretrained tag (valid ones listed). ValueError: weights that do not match.
    """
    from radkit.models.checkpoint import load_folder, load_state_file, load_weights_strict
    from radkit.models.dual_encoder import DualEncoder

    p = Path(name_or_path)
    if _is_model_folder(p):
        if overrides or pretrained:
            raise ValueError(f"{p} is a saved model folder; it takes no overrides/pretrained "
                             "(edit a copy of its config.json or create from the architecture name)")
        return load_folder(p)
    cfg = get_model_config(name_or_path, modality=modality, **overrides)
    model = DualEncoder(cfg)
    if pretrained:
        src = cfg.pretrained.get(pretrained, pretrained)
        sp = Path(src).expanduser()
        if _is_model_folder(sp):
            sp = sp / "model.safetensors"
        elif not sp.is_file():
            raise KeyError(f"pretrained {pretrained!r} for {cfg.name}: not a tag ({sorted(cfg.pretrained) or 'none'}) "
                           "nor a local model folder / .safetensors file")
        load_weights_strict(model, load_state_file(sp), str(sp))
    return model


def load_model(dir_or_name: str | os.PathLike, modality: str | None = None):
    """A model ready for retrieval: a saved folder (strict) or a registered name (random init), eval mode."""
    return create_model(dir_or_name, modality=modality).eval()
