"""open_clip's text transformer as a radkit text tower (random init, weights only from a local file).

The architecture comes from ``open_clip.get_model_config(name)["text_cfg"]`` (plus
``config_overrides``); the tokenizer is open_clip's `SimpleTokenizer`, whose BPE vocabulary
ships inside the open_clip package, so nothing touches the network. Architectures whose
tokenizer or text model would come from a hub (SigLIP, ``hf_tokenizer_name``, ``hf_model_name``)
are refused.

Pooled output: open_clip's own pooled text feature (the EOT token for CLIP's argmax pooling,
the appended class token for CoCa), taken *before* open_clip's text projection, so W is the
transformer width; radkit's ``text_proj`` plays the projection's role (as the open_clip visual
tower drops ``visual.proj``).

Model folder files written by `OpenClipTextTower.save`: ``text/open_clip_config.json`` (the
architecture name, the resolved ``text_cfg`` and ``quick_gelu``, so a later open_clip release
with other defaults rebuilds the same network) and ``tokenizer/`` (the BPE vocabulary file and
``open_clip_tokenizer.json`` with the context length and tokenizer options).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch

from radkit.models.config import TextTowerConfig
from radkit.models.text_tower import TextTower

TEXT_CONFIG = "open_clip_config.json"
TOKENIZER_CONFIG = "open_clip_tokenizer.json"
BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"


def offline_architectures() -> list[str]:
    """open_clip architectures whose text tower and tokenizer build without a hub."""
    import open_clip

    return [n for n in open_clip.list_models() if _hub_reason(n, open_clip.get_model_config(n)) is None]


def _hub_reason(name: str, arch: dict[str, Any]) -> str | None:
    text = arch.get("text_cfg", {})
    if text.get("hf_model_name"):
        return f"its text model is the Hugging Face hub model {text['hf_model_name']!r}"
    if text.get("hf_tokenizer_name"):
        return f"its tokenizer is the Hugging Face hub tokenizer {text['hf_tokenizer_name']!r}"
    if "siglip" in name.lower():
        return "SigLIP tokenizers are fetched from the Hugging Face hub"
    return None


def resolve_text_cfg(cfg: TextTowerConfig) -> dict[str, Any]:
    """{"name", "text_cfg", "quick_gelu"} for ``cfg.name`` with ``cfg.config_overrides`` applied.

    Raises:
        ValueError: unknown architecture, hub-only tokenizer/text model, or unknown override keys
            (each naming the bad value and the valid choices).
    """
    import open_clip
    from open_clip.model import CLIPTextCfg

    arch = open_clip.get_model_config(cfg.name)
    if arch is None or "text_cfg" not in arch:
        raise ValueError(f"open_clip text tower: unknown architecture {cfg.name!r}; valid (offline): "
                         f"{', '.join(offline_architectures())}")
    reason = _hub_reason(cfg.name, arch)
    if reason:
        raise ValueError(f"open_clip text tower {cfg.name!r} is refused: {reason} (no hub access); valid "
                         f"(offline): {', '.join(offline_architectures())}; or use kind 'hf' with a local folder")
    valid = set(CLIPTextCfg.__dataclass_fields__)
    unknown = sorted(set(cfg.config_overrides) - valid)
    if unknown:
        raise ValueError(f"open_clip text tower {cfg.name!r}: unknown config_overrides {unknown}; valid: "
                         f"{sorted(valid)}")
    text_cfg = {**arch["text_cfg"], **cfg.config_overrides, "output_tokens": True}
    return {"name": cfg.name, "text_cfg": text_cfg, "quick_gelu": bool(arch.get("quick_gelu", False))}


def text_tower_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The text transformer's tensors from an open_clip checkpoint state dict.

    Accepts the text transformer alone, a CLIP state dict (text keys at top level) or a
    CustomTextCLIP one (``text.`` prefix); drops the visual tower, logit scale/bias, the text
    projection (radkit's ``text_proj`` replaces it) and the non-persistent ``attn_mask``.
    """
    if any(k.startswith("text.") for k in state):
        state = {k[5:]: v for k, v in state.items() if k.startswith("text.")}
    drop = ("visual.", "logit_scale", "logit_bias", "text_projection", "attn_mask")
    return {k: v for k, v in state.items() if not k.startswith(drop)}


class OpenClipTextTower(TextTower):
    """open_clip's `TextTransformer` for the architecture ``cfg.name`` (see the module docstring).

    ``forward(input_ids, attention_mask) -> (tokens (B, T, W), pooled (B, W))``: T is the
    context length (open_clip's causal mask needs full-length inputs; padding after the EOT
    token does not change the pooled feature), W the transformer width. ``attention_mask``
    only marks the real tokens for callers; open_clip masks by its own rules.
    """

    def __init__(self, cfg: TextTowerConfig, saved_dir: Path | None = None):
        super().__init__()
        from open_clip.model import _build_text_tower

        self.cfg = cfg
        if saved_dir is not None:
            spec = json.loads((Path(saved_dir) / "text" / TEXT_CONFIG).read_text())
            tok_dir = Path(saved_dir) / "tokenizer"
        else:
            spec = resolve_text_cfg(cfg)
            tok_dir = None
        self.spec = spec
        self.text = _build_text_tower(0, spec["text_cfg"], quick_gelu=spec["quick_gelu"])
        self.text.text_projection = None  # pooled stays at the width; radkit's text_proj projects
        self.width = int(spec["text_cfg"]["width"])
        self.context_length = int(self.text.context_length)
        self.tokenizer, self._tok_opts = _load_tokenizer(spec["text_cfg"], tok_dir)
        if self.tokenizer.vocab_size > self.text.vocab_size:
            raise ValueError(f"open_clip text tower {cfg.name!r}: vocab_size {self.text.vocab_size} is smaller than "
                             f"the tokenizer's {self.tokenizer.vocab_size} ids; drop the vocab_size override or "
                             f"set it >= {self.tokenizer.vocab_size}")
        self.cache: dict[str, torch.Tensor] | None = None
        if saved_dir is None and cfg.pretrained_path:
            from radkit.models.checkpoint import load_state_file

            self.text.load_state_dict(text_tower_state(load_state_file(cfg.pretrained_path)), strict=True)

    def tokenize(self, texts: Sequence[str], device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """open_clip BPE ids truncated to min(max_length, context length) tokens (EOT kept last), zero-padded
        to the context length -> input_ids, attention_mask (B, T) with T = context length."""
        if isinstance(texts, str):
            texts = [texts]
        n = min(self.cfg.max_length, self.context_length)
        ids = self.tokenizer(list(texts), context_length=n)
        ids = torch.nn.functional.pad(ids, (0, self.context_length - n))
        # pad id 0 is also the id of "!", so the mask comes from the EOT position, not from ids != 0
        eot = (ids == self.tokenizer.eot_token_id).int().argmax(-1, keepdim=True)
        mask = (torch.arange(ids.shape[1]).unsqueeze(0) <= eot).long()
        out = {"input_ids": ids, "attention_mask": mask}
        return {k: v.to(device) for k, v in out.items()} if device is not None else out

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if input_ids.shape[1] != self.context_length:
            raise ValueError(f"open_clip text tower {self.cfg.name!r} needs input_ids of length {self.context_length} "
                             f"(its context length), got {input_ids.shape[1]}; tokenize with this tower's tokenize()")
        pooled, tokens = self.text(input_ids)
        return tokens, pooled

    def save(self, folder: Path) -> None:
        """Write ``text/open_clip_config.json`` and ``tokenizer/`` (BPE vocabulary + options)."""
        (folder / "text").mkdir(parents=True, exist_ok=True)
        (folder / "text" / TEXT_CONFIG).write_text(json.dumps(self.spec, indent=2))
        (folder / "tokenizer").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._tok_opts["bpe_path"], folder / "tokenizer" / BPE_FILE)
        opts = {k: v for k, v in self._tok_opts.items() if k != "bpe_path"}
        (folder / "tokenizer" / TOKENIZER_CONFIG).write_text(json.dumps(opts, indent=2))

    def _cache_tag(self) -> str:
        return f"open_clip|{json.dumps(self.spec, sort_keys=True)}|{self.cfg.max_length}"


def _load_tokenizer(text_cfg: dict[str, Any], saved: Path | None):
    """open_clip's SimpleTokenizer from the packaged (or a saved model folder's) BPE file; offline.

    Returns:
        (tokenizer, options dict incl. bpe_path) - the options are what `save` writes.
    """
    from open_clip.tokenizer import SimpleTokenizer, default_bpe

    if saved is not None:
        opts = json.loads((saved / TOKENIZER_CONFIG).read_text())
        opts["bpe_path"] = str(saved / BPE_FILE)
    else:
        opts = {"context_length": int(text_cfg.get("context_length", 77)),
                **text_cfg.get("tokenizer_kwargs", {}), "bpe_path": default_bpe()}
    return SimpleTokenizer(**opts), opts
