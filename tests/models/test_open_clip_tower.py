"""open_clip visual tower (offline, pretrained=None): token grid, projection dropped, RGB repeat, and
equal to open_clip's own forward on the same weights."""

import pytest
import torch

from radkit.models import create_model

OC = {"kind": "open_clip", "name": "ViT-B-32",
      "kwargs": {"image_size": 32, "patch_size": 8, "layers": 1, "width": 32, "head_width": 16}}


def test_open_clip_tower_in_a_dual_encoder(tmp_path, tiny_text):
    import json

    from radkit.resources import find_resource

    arch = json.loads(find_resource("models", "radir-tiny", (".json",)).read_text())
    arch["modalities"] = {"cxr": {"image": OC, "preprocess": {"spatial_size": [32, 32]}}}
    path = tmp_path / "radir-openclip.json"  # users add architectures as JSON files
    path.write_text(json.dumps(arch))
    torch.manual_seed(0)
    net = create_model(str(path), modality="cxr", text=tiny_text).eval()
    x = torch.randn(2, 1, 32, 32)
    tokens, pooled, grid = net.image_features(x)
    assert tokens.shape == (2, 16, 32) and pooled.shape == (2, 32) and grid == (4, 4)
    visual = net.image_tower.visual
    ref_pooled, ref_tokens = visual(x.expand(-1, 3, -1, -1))  # open_clip's own forward, RGB input
    torch.testing.assert_close(pooled, ref_pooled)
    torch.testing.assert_close(tokens, ref_tokens)
    z = net.encode_image_anatomy(x, "heart")
    assert z.shape == (2, net.embed_dim)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(2))


def test_unknown_open_clip_architecture():
    from radkit.models.config import ImageTowerConfig
    from radkit.models.image_towers import create_image_tower

    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        create_image_tower(ImageTowerConfig(kind="open_clip", name="nope"))
