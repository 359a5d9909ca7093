"""Registry-wide smoke test, shipped-config validation, factory errors."""

import json
import math

import pytest
import torch

from radkit.models import create_model, get_model_config, list_models
from radkit.models.config import config_from_dict
from radkit.models.protocol import RetrievalModel
from radkit.resources import resource_dirs

# Base architectures shrunk to CPU size: same code path, smaller numbers.
SHRINK = {
    "radir-cxr-base": dict(embed_dim=64, decoder={"heads": 4, "ffn_dim": 64, "layers": 1},
                           image={"kwargs": {"img_size": 32, "depth": 1}}, preprocess={"spatial_size": [32, 32]}),
    "radir-ct-base": dict(embed_dim=64, decoder={"heads": 4, "ffn_dim": 64, "layers": 1},
                          image={"kwargs": {"img_size": [32, 32, 16], "patch_size": [8, 8, 8], "dim": 64, "depth": 1,
                                            "heads": 2}},
                          preprocess={"spatial_size": [32, 32, 16]}),
}


def _cases():
    for name in list_models():
        raw = json.loads(next(d / f"{name}.json" for d in resource_dirs("models") if (d / f"{name}.json").exists())
                         .read_text())
        for mod in raw.get("modalities", {raw.get("modality")}):
            yield name, mod


def test_registry_lists_shipped_models():
    assert {"radir-tiny", "radir-cxr-base", "radir-ct-base", "clip-baseline"} <= set(list_models())
    assert list_models("radir-*") == ["radir-ct-base", "radir-cxr-base", "radir-tiny"]


@pytest.mark.parametrize("name,modality", list(_cases()))
def test_every_shipped_config_validates(name, modality):
    cfg = get_model_config(name, modality=modality)
    assert cfg.modality == modality and cfg.preprocess.modality == modality
    assert config_from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()  # round-trips through plain dicts


@pytest.mark.parametrize("name,modality", list(_cases()))
def test_every_model_builds_and_forwards(name, modality, tiny_text):
    torch.manual_seed(0)
    model = create_model(name, modality=modality, text=tiny_text, **SHRINK.get(name, {})).eval()
    assert isinstance(model, RetrievalModel)
    size = model.cfg.preprocess.spatial_size
    x = torch.randn(2, 1, *size)
    d = model.embed_dim
    with torch.no_grad():
        img = model.encode_image(x)
        txt = model.encode_text(["small left effusion", "no acute findings"])
        cond = model.encode_image_anatomy(x, ["lungs", "pleura"])
        out = model(x, ["a", "b"])
    for z in (img, txt, cond, out["image_features"]):
        assert z.shape == (2, d) and torch.isfinite(z).all()
        torch.testing.assert_close(z.norm(dim=-1), torch.ones(2))
    assert math.isclose(out["logit_scale"].item(), math.e, rel_tol=1e-6)  # exp(θ0 = 1)
    if model.decoder is None or model.cfg.decoder.zero_init_output:  # baseline / untrained zero-init decoder:
        torch.testing.assert_close(cond, img)  # conditional = unconditional
    else:
        assert not torch.allclose(cond[0], img[0])


def test_image_tower_tokens_match_grid(tiny_cxr):
    tokens, pooled, grid = tiny_cxr.image_features(torch.randn(3, 1, 64, 64))
    # radir-tiny takes the decoder's tokens from resnet10t's layer3 (stride 16): 4x4 grid of 64 channels
    assert tokens.shape == (3, math.prod(grid), tiny_cxr.image_tower.token_width) and grid == (4, 4)
    assert tiny_cxr.image_tower.token_width == 64 and pooled.shape == (3, tiny_cxr.image_tower.width) == (3, 128)


def test_timm_token_stage_is_the_intermediate_feature_map(tiny_text):
    """token_stage picks timm's feature_info stage as tokens; pooled stays the last map's pooling, equal to the
    tower without token_stage (same weights)."""
    torch.manual_seed(0)
    staged = create_model("radir-tiny", modality="cxr", text=tiny_text).eval()
    plain = create_model("radir-tiny", modality="cxr", text=tiny_text, **{"image.token_stage": None}).eval()
    plain.image_tower.load_state_dict(staged.image_tower.state_dict())
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        tokens, pooled, grid = staged.image_features(x)
        _, ref_pooled, _ = plain.image_features(x)
        bb = staged.image_tower.backbone  # reference: run the stem and stages by hand up to layer3
        mid = bb.layer3(bb.layer2(bb.layer1(bb.maxpool(bb.act1(bb.bn1(bb.conv1(x)))))))
    torch.testing.assert_close(pooled, ref_pooled)
    torch.testing.assert_close(tokens, mid.flatten(2).transpose(1, 2))
    assert grid == tuple(mid.shape[2:]) == (4, 4)


def test_monai_token_stage_is_the_intermediate_feature_map(tiny_text):
    torch.manual_seed(0)
    net = create_model("radir-tiny", modality="ct", text=tiny_text).eval()
    tower = net.image_tower
    x = torch.randn(2, 1, 32, 32, 32)
    with torch.no_grad():
        tokens, pooled, grid = net.image_features(x)
        mid = tower.layers[1](tower.layers[0](tower.stem(x)))  # radir-tiny CT: token_stage 2 = layer2
        last = tower.layers[3](tower.layers[2](mid))
    torch.testing.assert_close(tokens, mid.flatten(2).transpose(1, 2))
    torch.testing.assert_close(pooled, last.mean((2, 3, 4)))
    assert grid == (4, 4, 4) and tokens.shape[-1] == tower.token_width == 32 and tuple(last.shape[2:]) == (1, 1, 1)
    assert net.decoder.memory_proj.in_features == 32


@pytest.mark.parametrize("modality,stage,match", [("cxr", 9, "valid: 0-4"), ("ct", 5, "valid: 0 \\(stem\\)")])
def test_bad_token_stage_lists_valid(modality, stage, match, tiny_text):
    with pytest.raises(ValueError, match=match):
        create_model("radir-tiny", modality=modality, text=tiny_text, **{"image.token_stage": stage})


def test_token_stage_refused_for_vit_towers():
    with pytest.raises(ValueError, match="token_stage=1 is for CNN towers"):
        config_from_dict({"image": {"kind": "vit3d", "token_stage": 1}}, where="mine.json")


def test_unknown_model_lists_registered():
    with pytest.raises(KeyError, match="radir-tiny"):
        create_model("radir-tinyy")


def test_unknown_config_key_is_named(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"modality": "cxr", "image": {"kind": "timm", "depht": 2}}))
    with pytest.raises(KeyError, match="depht"):
        get_model_config(p)


def test_bad_modality_and_heads_are_refused():
    with pytest.raises(ValueError, match="not offered"):
        get_model_config("radir-tiny", modality="mri")
    with pytest.raises(ValueError, match="must divide"):
        get_model_config("radir-tiny", decoder={"heads": 5})


def test_overrides_drop_none_and_reach_nested():
    cfg = get_model_config("radir-tiny", embed_dim=None, **{"image.kwargs.drop_rate": 0.1, "decoder.layers": 1})
    assert cfg.embed_dim == 64 and cfg.image.kwargs["drop_rate"] == 0.1
    assert cfg.image.kwargs["channels"] == [16, 32, 64, 128]  # siblings kept
    assert cfg.decoder.layers == 1 and cfg.decoder.heads == 4


def test_encode_image_anatomies_equals_one_by_one(tiny_cxr):
    """The batched all-anatomies path (used by index building) equals per-anatomy calls."""
    torch.manual_seed(0)
    pixels = torch.randn(3, 1, 64, 64)
    names = ["lungs", "heart", "right lower lobe"]
    with torch.no_grad():
        multi = tiny_cxr.eval().encode_image_anatomies(pixels, names)
        for a in names:
            torch.testing.assert_close(multi[a], tiny_cxr.encode_image_anatomy(pixels, [a] * 3), atol=1e-5, rtol=1e-5)


def test_global_residual_adds_the_global_embedding_before_the_norm(tiny_text):
    """With ``decoder.global_residual`` the fused embedding is normalize(decoder output + global); with a
    zero decoder output it is exactly the unconditional embedding; without the residual it is the
    decoder's output alone."""
    torch.manual_seed(0)
    net = create_model("radir-tiny", modality="cxr", text=tiny_text, decoder={"zero_init_output": False}).eval()
    assert net.cfg.decoder.global_residual  # radir-tiny ships with it
    pixels = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        tokens, pooled, grid = net.image_features(pixels)
        q = net.anatomy_queries(["heart", "heart"])
        glob = torch.nn.functional.normalize(net.image_proj(pooled), dim=-1)
        alone = net.decoder(q, tokens, grid)
        expected = torch.nn.functional.normalize(
            net.decoder.out_proj(net.decoder.norm(_decoded(net.decoder, q, tokens, grid))) + glob, dim=-1)
        got = net.encode_image_anatomy(pixels, "heart")
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(got, alone, atol=1e-3) and not torch.allclose(got, glob, atol=1e-3)
        net.decoder.out_proj.weight.zero_()
        torch.testing.assert_close(net.encode_image_anatomy(pixels, "heart"), net.encode_image(pixels),
                                   atol=1e-6, rtol=1e-6)
    plain = create_model("radir-tiny", modality="cxr", text=tiny_text,
                         decoder={"global_residual": False, "zero_init_output": False}).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain.encode_image_anatomy(pixels, "heart"),
                                   plain.decoder(plain.anatomy_queries(["heart"] * 2), *_tg(plain, pixels)))


def _tg(net, pixels):
    tokens, _, grid = net.image_features(pixels)
    return tokens, grid


def _decoded(dec, q, tokens, grid):
    """The decoder's last hidden query state (B, D), before its final norm and output Linear."""
    memory = dec.memory_proj(tokens)
    pos = dec._pos(tuple(grid), memory.shape[1], memory).unsqueeze(0)
    x = q.unsqueeze(1)
    for layer in dec.layers:
        x, _ = layer(x, memory, pos)
    return x[:, 0]


def test_monai_resnet_custom_shape_and_errors():
    from radkit.models.config import ImageTowerConfig
    from radkit.models.image_towers import create_image_tower

    kw = {"layers": [1, 1, 1, 1], "block_inplanes": [8, 8, 16, 24], "conv1_t_size": 3, "conv1_t_stride": 2,
          "no_max_pool": True}
    tower = create_image_tower(ImageTowerConfig(kind="monai_resnet", name="resnet", kwargs=kw)).eval()
    tokens, pooled, grid = tower(torch.randn(2, 1, 32, 32, 16))
    # stem stride 2 then stages 2-4 stride 2: 32x32x16 -> 2x2x1, width = the last stage's channels
    assert tower.width == 24 and grid == (2, 2, 1)
    assert tokens.shape == (2, 4, 24) and pooled.shape == (2, 24)
    torch.testing.assert_close(pooled, tokens.mean(1))
    with pytest.raises(ValueError, match="block_inplanes"):
        create_image_tower(ImageTowerConfig(kind="monai_resnet", name="resnet", kwargs={"layers": [1, 1, 1, 1]}))
    with pytest.raises(ValueError, match="resnet18"):
        create_image_tower(ImageTowerConfig(kind="monai_resnet", name="densenet"))


@pytest.mark.parametrize("size,patch", [([32, 32, 16], [8, 8, 8]), ([32, 32], [8, 8])])
def test_monai_vit_tower_equals_monai_forward(size, patch):
    """Tokens are MONAI ViT's own output (same weights), grid = img_size / patch_size, pooled = token mean."""
    from monai.networks.nets import ViT

    from radkit.models.config import ImageTowerConfig
    from radkit.models.image_towers import create_image_tower

    kw = {"img_size": size, "patch_size": patch, "hidden_size": 32, "mlp_dim": 64, "num_layers": 1, "num_heads": 2}
    torch.manual_seed(0)
    tower = create_image_tower(ImageTowerConfig(kind="monai_vit", kwargs=kw)).eval()
    ref = ViT(in_channels=1, spatial_dims=len(size), **kw).eval()
    ref.load_state_dict(tower.vit.state_dict())
    x = torch.randn(2, 1, *size)
    tokens, pooled, grid = tower(x)
    assert grid == tuple(s // p for s, p in zip(size, patch)) and tower.width == 32
    with torch.no_grad():
        torch.testing.assert_close(tokens, ref(x)[0])
    torch.testing.assert_close(pooled, tokens.mean(1))
    bad = {**kw, "img_size": [30, 32, 16] if len(size) == 3 else [30, 32]}
    with pytest.raises(ValueError, match="divisible"):
        create_image_tower(ImageTowerConfig(kind="monai_vit", kwargs=bad))


def test_model_with_monai_vit_tower_builds_and_round_trips(tmp_path, tiny_text):
    from radkit.models import load_model

    image = {"kind": "monai_vit", "name": "", "kwargs": {"img_size": [32, 32, 32], "patch_size": [16, 16, 16],
                                                       "hidden_size": 32, "mlp_dim": 64, "num_layers": 1,
                                                       "num_heads": 2}}
    raw = json.loads(next(d / "radir-tiny.json" for d in resource_dirs("models")).read_text())
    raw["modalities"]["ct"]["image"] = image  # a whole new tower (overrides would deep-merge kwargs)
    (tmp_path / "vit-ct.json").write_text(json.dumps(raw))
    net = create_model(tmp_path / "vit-ct.json", modality="ct", text=tiny_text).eval()
    x = torch.randn(2, 1, 32, 32, 32)
    back = load_model(net.save_pretrained(tmp_path / "m"))
    with torch.no_grad():
        torch.testing.assert_close(back.encode_image_anatomy(x, "heart"), net.encode_image_anatomy(x, "heart"),
                                   atol=0, rtol=0)


def test_zero_init_output_starts_conditional_at_the_global_embedding(tiny_text):
    torch.manual_seed(0)
    net = create_model("radir-tiny", modality="cxr", text=tiny_text,
                       decoder={"global_residual": True, "zero_init_output": True}).eval()
    x = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.encode_image_anatomy(x, ["heart", "left lung", "heart"]), net.encode_image(x))
    net.decoder.out_proj.weight.data.normal_()  # once trained, the decoder moves it
    assert not torch.allclose(net.encode_image_anatomy(x, "heart"), net.encode_image(x))


def test_zero_init_output_needs_the_global_residual():
    with pytest.raises(ValueError, match="needs decoder.global_residual=true"):
        config_from_dict({"decoder": {"global_residual": False, "zero_init_output": True}})
