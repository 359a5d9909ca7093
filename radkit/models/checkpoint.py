"""Model folders: save and strict load, never unpickling.

A folder holds ``model.safetensors`` (weights), ``config.json`` (architecture +
``schema_version`` + tokenizer reference), ``preprocess.json`` (orientation, spacing,
HU window, crop/pad, intensity scaling), ``text/`` (the text tower's config: ``config.json`` for
an HF tower, ``open_clip_config.json`` for an open_clip one) and ``tokenizer/``, both written by
the tower's ``save``. Loading is strict: the only tolerated key differences are those in
`KEY_REMAP`, an explicit table of known benign changes between library versions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from radkit.models.config import ModelConfig, config_from_dict

WEIGHTS, CONFIG, PREPROCESS = "model.safetensors", "config.json", "preprocess.json"

# (regex on the stored key, replacement or None = drop). Applied in order, first match wins.
KEY_REMAP: list[tuple[str, str | None]] = [
    # transformers >= 4.31 made BERT's position_ids a non-persistent buffer; older files still carry it.
    (r"^text_tower\.model\.embeddings\.position_ids$", None),
    # RadIR's release names the fused-latent head `to_fused_latent`.
    (r"^decoder\.to_fused_latent\.(.*)$", r"decoder.out_proj.\1"),
]

# Parameters that were 0-d scalars in older files and are (1,) now (FSDP refuses 0-d parameters).
SCALAR_TO_1D = ("logit_scale",)


def load_state_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (no pickle involved).

    Raises:
        FileNotFoundError / ValueError: missing file or another format (pickled .pt/.ckpt are refused).
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found")
    if path.suffix != ".safetensors":
        raise ValueError(f"weights file {path}: only .safetensors is loaded (pickled checkpoints can run code); "
                         "convert it with safetensors.torch.save_file on a trusted machine")
    return load_file(str(path))


def remap_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Apply `KEY_REMAP` to stored keys (drops or renames known benign differences)."""
    out = {}
    for key, value in state.items():
        for pattern, repl in KEY_REMAP:
            if re.match(pattern, key):
                key = None if repl is None else re.sub(pattern, repl, key)
                break
        if key is not None:
            out[key] = value
    return out


def load_weights_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Remap then load ``state`` into ``model``; any missing/unexpected key or shape mismatch is an error.

    Raises:
        ValueError: naming the missing, unexpected and mis-shaped keys and the fix.
    """
    state = remap_state_dict(state)
    own = model.state_dict()
    for key in SCALAR_TO_1D:  # files saved before the (1,) shape carry a 0-d tensor: same value
        if key in state and key in own and state[key].dim() == 0 and own[key].shape == (1,):
            state[key] = state[key].reshape(1)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        parts = [f"{name} {keys[:8]}{' ...' if len(keys) > 8 else ''}" for name, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)) if keys]
        raise ValueError(f"{source}: weights do not match the architecture: {'; '.join(parts)}. "
                         "If a key was renamed by a library upgrade, add it to "
                         "radkit.models.checkpoint.KEY_REMAP; otherwise the config.json does not describe "
                         "these weights")
    model.load_state_dict(state, strict=True)


def save_pretrained(model, folder: str | os.PathLike) -> Path:
    """Write ``model`` (a `DualEncoder`) as a model folder, atomically (temp folder, then rename).

    Returns:
        The folder path. An existing folder is replaced only once the new one is complete.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "radkit_name": model.name})
        cfg = model.cfg.to_dict()
        pre = cfg.pop("preprocess")
        cfg["tokenizer"] = "tokenizer/"  # the saved copy; the original reference stays in text.tokenizer/path
        (tmp / CONFIG).write_text(json.dumps(cfg, indent=2))
        (tmp / PREPROCESS).write_text(json.dumps(pre, indent=2))
        model.text_tower.save(tmp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_folder_config(folder: Path) -> ModelConfig:
    """The `ModelConfig` stored in a model folder (config.json + preprocess.json)."""
    for name in (CONFIG, PREPROCESS, WEIGHTS):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a radkit model folder: {name} is missing; "
                                    "create one with DualEncoder.save_pretrained or `radkit train`")
    d = json.loads((folder / CONFIG).read_text())
    d.pop("tokenizer", None)
    d["preprocess"] = json.loads((folder / PREPROCESS).read_text())
    return config_from_dict(d, where=str(folder / CONFIG))


def load_folder(folder: str | os.PathLike):
    """A `DualEncoder` from a model folder (strict, no network, no unpickling), in eval mode."""
    from radkit.models.dual_encoder import DualEncoder

    folder = Path(folder)
    cfg = read_folder_config(folder)
    model = DualEncoder(cfg, saved_dir=folder)
    load_weights_strict(model, load_state_file(folder / WEIGHTS), str(folder / WEIGHTS))
    return model.eval()


__all__ = ["KEY_REMAP", "load_folder", "load_state_file", "load_weights_strict", "save_pretrained",
           "read_folder_config", "remap_state_dict"]
