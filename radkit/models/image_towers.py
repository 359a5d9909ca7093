"""Image towers: 2D (timm, open_clip visual) and 3D (radkit ViT3D, MONAI ResNet) backbones returning a
token grid.

Every tower maps ``(B, C, *spatial)`` to ``tokens (B, N, W)``, ``pooled (B, W)`` and
``grid`` (the token grid shape, with prod(grid) == N) so that the anatomy decoder can
put sinusoidal positions on the tokens.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from radkit.models.config import ImageTowerConfig


class ImageTower(nn.Module):
    """Base: subclasses set ``width`` (pooled) and ``token_width`` (tokens; equal unless
    ``token_stage`` picks an earlier map) and implement ``forward`` -> (tokens, pooled, grid)."""

    width: int
    token_width: int

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:  # pragma: no cover
        raise NotImplementedError


class TimmTower(ImageTower):
    """Any timm model (ViT or CNN), ``pretrained=False``; weights only from a local file."""

    def __init__(self, cfg: ImageTowerConfig):
        super().__init__()
        import timm

        self.backbone = timm.create_model(cfg.name, pretrained=False, in_chans=cfg.in_chans, num_classes=0,
                                          **cfg.kwargs)
        self.width = self.token_width = self.backbone.num_features
        self.prefix = getattr(self.backbone, "num_prefix_tokens", 0)
        self.token_stage = cfg.token_stage
        if self.token_stage is not None:
            info = getattr(self.backbone, "feature_info", None)
            n = len(info) if info is not None else 0
            if not hasattr(self.backbone, "forward_intermediates") or not 0 <= self.token_stage < n:
                raise ValueError(f"timm {cfg.name!r}: image.token_stage={self.token_stage} invalid; valid: 0-{n - 1} "
                                 "(an index of the model's feature_info) for CNNs with forward_intermediates, "
                                 "or null")
            self.token_width = int(info[self.token_stage]["num_chs"])

    def forward(self, x):
        if self.token_stage is not None:  # one pass: the final map (pooled) and the chosen stage (tokens)
            feats, (mid,) = self.backbone.forward_intermediates(x, indices=[self.token_stage])
            pooled = self.backbone.forward_head(feats, pre_logits=True)
            return mid.flatten(2).transpose(1, 2), pooled, tuple(mid.shape[2:])
        feats = self.backbone.forward_features(x)
        pooled = self.backbone.forward_head(feats, pre_logits=True)
        if feats.ndim == 4:  # CNN feature map (B, W, H', W')
            grid = tuple(feats.shape[2:])
            tokens = feats.flatten(2).transpose(1, 2)
        else:  # ViT tokens (B, prefix + N, W); NHWC models are flattened too
            if feats.ndim != 3:
                feats = feats.flatten(1, -2)
            tokens = feats[:, self.prefix:]
            side = math.isqrt(tokens.shape[1])
            grid = (side, side) if side * side == tokens.shape[1] else (tokens.shape[1],)
        return tokens, pooled, grid


class ViT3DTower(ImageTower):
    """A plain 3D ViT: tubelet patch embedding (LayerNorm-Linear-LayerNorm, as CTViT) + pre-norm encoder.

    kwargs: img_size (3 ints), patch_size (3 ints), dim, depth, heads, mlp_ratio.
    """

    def __init__(self, cfg: ImageTowerConfig):
        super().__init__()
        k = {"img_size": [32, 32, 32], "patch_size": [8, 8, 8], "dim": 64, "depth": 2, "heads": 2,
             "mlp_ratio": 4.0, **cfg.kwargs}
        unknown = set(k) - {"img_size", "patch_size", "dim", "depth", "heads", "mlp_ratio"}
        if unknown:
            raise KeyError(f"vit3d: unknown kwargs {sorted(unknown)}; valid: img_size, patch_size, dim, depth, "
                           "heads, mlp_ratio")
        self.patch = tuple(k["patch_size"])
        for s, p in zip(k["img_size"], self.patch):
            if s % p:
                raise ValueError(f"vit3d: img_size {k['img_size']} not divisible by patch_size {self.patch}")
        self.grid = tuple(s // p for s, p in zip(k["img_size"], self.patch))
        pdim = cfg.in_chans * math.prod(self.patch)
        self.width = self.token_width = dim = int(k["dim"])
        self.to_patch = nn.Sequential(nn.LayerNorm(pdim), nn.Linear(pdim, dim), nn.LayerNorm(dim))
        self.pos = nn.Parameter(torch.randn(1, math.prod(self.grid), dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, int(k["heads"]), int(dim * k["mlp_ratio"]), dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, int(k["depth"]), enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        b, c = x.shape[:2]
        if tuple(x.shape[2:]) != tuple(g * p for g, p in zip(self.grid, self.patch)):
            raise ValueError(f"vit3d expects spatial size {[g * p for g, p in zip(self.grid, self.patch)]}, "
                             f"got {list(x.shape[2:])}; match preprocess.spatial_size to image.kwargs.img_size")
        (g1, g2, g3), (p1, p2, p3) = self.grid, self.patch
        # (B, C, g1*p1, g2*p2, g3*p3) -> (B, g1*g2*g3, C*p1*p2*p3) tubelets
        x = x.reshape(b, c, g1, p1, g2, p2, g3, p3).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, g1 * g2 * g3, -1)
        tokens = self.norm(self.encoder(self.to_patch(x) + self.pos))
        return tokens, tokens.mean(1), self.grid


class MonaiResNetTower(ImageTower):
    """MONAI 3D ResNet; the last feature map becomes the tokens.

    ``name`` = resnet10/18/34/50 (MONAI's widths 64-512), or "resnet" for a custom shape whose
    ``kwargs`` give MONAI ``ResNet`` arguments, e.g. ``{"layers": [1, 1, 1, 1],
    "block_inplanes": [16, 32, 64, 128], "conv1_t_size": 3, "conv1_t_stride": 2, "no_max_pool": true}``
    (basic blocks; the small CNN of ``radir-tiny``, which learns far more from a few hundred
    volumes than a from-scratch ViT).
    """

    def __init__(self, cfg: ImageTowerConfig):
        super().__init__()
        from monai.networks.nets import resnet

        common = dict(spatial_dims=3, n_input_channels=cfg.in_chans, num_classes=1, feed_forward=False)
        if cfg.name == "resnet":
            missing = [k for k in ("layers", "block_inplanes") if k not in cfg.kwargs]
            if missing:
                raise ValueError(f"monai_resnet 'resnet' needs kwargs {missing}; e.g. \"layers\": [1, 1, 1, 1], "
                                 "\"block_inplanes\": [16, 32, 64, 128]")
            net = resnet.ResNet(**{"block": "basic", **common, **cfg.kwargs})
        else:
            factory = getattr(resnet, cfg.name, None)
            if factory is None or not cfg.name.startswith("resnet"):
                raise ValueError(f"monai_resnet: unknown name {cfg.name!r}; valid: resnet (custom shape via kwargs), "
                                 "resnet10, resnet18, resnet34, resnet50")
            net = factory(**common, **cfg.kwargs)
        # MONAI builds maxpool even with no_max_pool=True and skips it in its own forward: so do we
        self.stem = nn.Sequential(net.conv1, net.bn1, net.act, *([] if net.no_max_pool else [net.maxpool]))
        self.layers = nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)
        self.width = self.token_width = int(net.in_planes)  # MONAI leaves it at the last stage's output channels
        self.token_stage = cfg.token_stage  # 0 = stem, 1-4 = layer1-4 (timm's ResNet feature_info order)
        if self.token_stage is not None:
            if not 0 <= self.token_stage <= 4:
                raise ValueError(f"monai_resnet: image.token_stage={self.token_stage} invalid; valid: 0 (stem), "
                                 "1-4 (layer1-layer4) or null (last map)")
            self.token_width = int(net.conv1.out_channels if self.token_stage == 0 else
                                   [m for m in self.layers[self.token_stage - 1].modules()
                                    if isinstance(m, nn.modules.conv._ConvNd)][-1].out_channels)

    def forward(self, x):
        f = t = self.stem(x)
        for i, layer in enumerate(self.layers, start=1):
            f = layer(f)
            if i == self.token_stage:
                t = f
        if self.token_stage is None:
            t = f
        return t.flatten(2).transpose(1, 2), f.mean((2, 3, 4)), tuple(t.shape[2:])


class MonaiViTTower(ImageTower):
    """MONAI's ViT (``monai.networks.nets.ViT``, no classification token): the patch tokens are the grid,
    pooled = their mean.

    kwargs: MONAI ViT arguments, e.g. ``{"img_size": [96, 96, 96], "patch_size": [16, 16, 16],
    "hidden_size": 768, "mlp_dim": 3072, "num_layers": 12, "num_heads": 12}``; ``spatial_dims`` is
    taken from ``img_size`` (3 numbers = 3D, 2 = 2D).
    """

    def __init__(self, cfg: ImageTowerConfig):
        super().__init__()
        from monai.networks.nets import ViT

        kw = dict(cfg.kwargs)
        if "img_size" not in kw or "patch_size" not in kw:
            raise ValueError("monai_vit needs kwargs img_size and patch_size, e.g. \"img_size\": [96, 96, 96], "
                             "\"patch_size\": [16, 16, 16]")
        if kw.get("classification"):
            raise ValueError("monai_vit: classification=true adds a class token radkit does not use; drop it")
        size = kw["img_size"] if isinstance(kw["img_size"], (list, tuple)) else [kw["img_size"]] * 3
        patch = kw["patch_size"] if isinstance(kw["patch_size"], (list, tuple)) else [kw["patch_size"]] * len(size)
        bad = [(s, p) for s, p in zip(size, patch) if s % p]
        if len(patch) != len(size) or bad:
            raise ValueError(f"monai_vit: img_size {list(size)} must be divisible by patch_size {list(patch)} "
                             "axis by axis")
        kw.update(img_size=list(size), patch_size=list(patch), spatial_dims=len(size))
        self.vit = ViT(in_channels=cfg.in_chans, **kw)
        self.grid = tuple(s // p for s, p in zip(size, patch))
        # hidden_size (MONAI's default when not given)
        self.width = self.token_width = int(self.vit.norm.normalized_shape[0])

    def forward(self, x):
        tokens, _ = self.vit(x)  # (B, N, W) after MONAI's final norm; N = prod(grid)
        return tokens, tokens.mean(1), self.grid


class OpenClipVisualTower(ImageTower):
    """open_clip's visual tower (``name`` = an open_clip architecture, e.g. "ViT-B-16"), built with
    ``pretrained=None``: random init, weights only from ``pretrained_path``. ``kwargs`` override the
    architecture's ``vision_cfg`` (image_size, layers, width, patch_size, ...). The CLIP projection is
    dropped (radkit's ``image_proj`` replaces it); 1-channel inputs are repeated to RGB.
    """

    def __init__(self, cfg: ImageTowerConfig):
        super().__init__()
        import open_clip
        from open_clip.model import _build_vision_tower

        arch = open_clip.get_model_config(cfg.name)
        if arch is None:
            raise ValueError(f"open_clip: unknown architecture {cfg.name!r}; valid: see open_clip.list_models(), "
                             "e.g. ViT-B-16")
        vision = {**arch["vision_cfg"], **cfg.kwargs, "output_tokens": True}
        if vision.get("timm_model_name"):
            raise ValueError(f"open_clip: {cfg.name!r} wraps a timm model; use kind 'timm' for it")
        self.visual = _build_vision_tower(arch["embed_dim"], vision)
        self.visual.proj = None  # pooled stays at the transformer width, like the tokens
        self.in_chans = cfg.in_chans
        self.width = self.token_width = int(vision["width"])

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, *x.shape[2:])
        pooled, tokens = self.visual(x)
        side = math.isqrt(tokens.shape[1])
        return tokens, pooled, (side, side) if side * side == tokens.shape[1] else (tokens.shape[1],)


_KINDS = {"timm": TimmTower, "vit3d": ViT3DTower, "monai_resnet": MonaiResNetTower, "monai_vit": MonaiViTTower,
          "open_clip": OpenClipVisualTower}


def create_image_tower(cfg: ImageTowerConfig, load_weights: bool = True) -> ImageTower:
    """Build the tower named by ``cfg.kind``; load ``cfg.pretrained_path`` (safetensors) if set and
    ``load_weights`` (False when rebuilding a saved model folder: its weights are in model.safetensors
    and the original file may be gone)."""
    tower = _KINDS[cfg.kind](cfg)
    if cfg.pretrained_path and load_weights:
        from radkit.models.checkpoint import load_state_file

        tower.load_state_dict(load_state_file(cfg.pretrained_path), strict=True)
    return tower
