"""open_clip text tower (offline, random init or a local safetensors file): equal to open_clip's own
encode_text on the same weights, open_clip's tokenizer without network, truncation, model-folder round
trip, errors naming the bad value, and one training step."""

import importlib.util
import socket
from pathlib import Path

import pytest
import torch

from radkit.models import create_model, load_model
from radkit.models.config import TextTowerConfig
from radkit.models.text_tower import TextTower
from radkit.models.text_tower_open_clip import OpenClipTextTower, text_tower_state

TINY = {"layers": 1, "width": 32, "heads": 2, "context_length": 16}
OC_TEXT = {"kind": "open_clip", "name": "ViT-B-32", "pretrained": False, "frozen": False, "max_length": 16,
           "config_overrides": TINY}
TEXTS = ["small right pleural effusion !%^", "no acute cardiopulmonary process " * 8, "heart"]


def _clip_reference(seed=0):
    """open_clip's own CLIP (tiny ViT-B-32 variant) with the same tiny text_cfg, random weights."""
    import open_clip
    from open_clip.model import CLIP

    torch.manual_seed(seed)
    text_cfg = {**open_clip.get_model_config("ViT-B-32")["text_cfg"], **TINY}
    vision_cfg = {"image_size": 32, "patch_size": 8, "layers": 1, "width": 32, "head_width": 16}
    clip = CLIP(16, vision_cfg, text_cfg).eval()
    for p in clip.parameters():  # open_clip's init leaves some tensors at zero; make every weight count
        p.data.normal_(0, 0.1)
    return clip


def test_pooled_equals_open_clip_encode_text(tmp_path):
    from safetensors.torch import save_file

    clip = _clip_reference()
    weights = tmp_path / "clip.safetensors"  # a full CLIP checkpoint: visual/logit_scale/projection ignored
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(weights))
    tower = TextTower(TextTowerConfig(**{**OC_TEXT, "pretrained": True, "pretrained_path": str(weights)})).eval()
    assert isinstance(tower, OpenClipTextTower) and tower.width == 32
    tok = tower.tokenize(TEXTS)
    with torch.no_grad():
        tokens, pooled = tower(tok["input_ids"], tok["attention_mask"])
        clip.text_projection = None  # radkit pools before the projection
        ref = clip.encode_text(tok["input_ids"])
    assert tokens.shape == (3, 16, 32) and pooled.shape == (3, 32)
    torch.testing.assert_close(pooled, ref, rtol=1e-5, atol=1e-6)
    eot = tok["input_ids"].argmax(-1)  # CLIP pools the EOT token (the highest id)
    torch.testing.assert_close(pooled, tokens[torch.arange(3), eot])
    torch.testing.assert_close(tower.pooled(TEXTS), pooled)


def test_tokenizer_matches_open_clip_offline_and_truncates(monkeypatch):
    import open_clip

    def no_network(*a, **k):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    tower = TextTower(TextTowerConfig(**OC_TEXT))
    ref_tok = open_clip.get_tokenizer("ViT-B-32", context_length=16)
    tok = tower.tokenize(TEXTS)
    assert torch.equal(tok["input_ids"], ref_tok(TEXTS))
    ids, mask = tok["input_ids"], tok["attention_mask"]
    eot = ref_tok.eot_token_id
    assert ids[1, -1] == eot and mask[1].all()  # the long report is cut to 16 tokens, EOT kept last
    # "!" in "!%^" is id 0 like the padding: the mask still counts it (up to and including EOT)
    n0 = int((ids[0] == eot).nonzero()[0, 0]) + 1
    assert mask[0, :n0].all() and not mask[0, n0:].any() and (ids[0, :n0] == 0).any()
    short = TextTower(TextTowerConfig(**{**OC_TEXT, "max_length": 6})).tokenize(TEXTS)["input_ids"]
    assert short.shape == (3, 16) and (short[:2, 5] == eot).all() and not short[:, 6:].any()  # "heart" fits
    assert torch.equal(short[:, :6], ref_tok(TEXTS, context_length=6))


def test_dual_encoder_round_trip_is_exact(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = TextTower(TextTowerConfig(**OC_TEXT))
    weights = tmp_path / "text.safetensors"  # the text transformer alone
    save_file({k: v.contiguous() for k, v in src.text.state_dict().items()}, str(weights))
    text = {**OC_TEXT, "pretrained": True, "pretrained_path": str(weights)}
    net = create_model("radir-tiny", modality="cxr", text=text).eval()
    for k, v in src.text.state_dict().items():
        assert torch.equal(net.text_tower.text.state_dict()[k], v)  # loaded from the local file
    folder = net.save_pretrained(tmp_path / "model")
    weights.unlink()  # loading the folder must not need the original weights file
    assert (folder / "text" / "open_clip_config.json").is_file()
    assert (folder / "tokenizer" / "bpe_simple_vocab_16e6.txt.gz").is_file()
    back = load_model(folder)
    assert back.text_tower.tokenizer.byte_encoder and Path(back.text_tower._tok_opts["bpe_path"]).parent == \
        folder / "tokenizer"
    with torch.no_grad():
        a, b = net.encode_text(TEXTS), back.encode_text(TEXTS)
        x = torch.randn(2, 1, 64, 64)
        za, zb = net.encode_image_anatomy(x, "lungs"), back.encode_image_anatomy(x, "lungs")
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(za, zb, rtol=0, atol=0)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(3))
    assert back.fingerprint() == net.fingerprint()


def test_frozen_cache_and_errors():
    net = create_model("radir-tiny", modality="cxr", text={**OC_TEXT, "frozen": True}).eval()
    net.text_tower.requires_grad_(False)
    ref = net.encode_text(TEXTS)
    net.text_tower.enable_cache()
    torch.testing.assert_close(net.encode_text(TEXTS), ref)
    assert len(net.text_tower.cache) == 3
    with pytest.raises(ValueError, match=r"unknown architecture 'nope'.*ViT-B-32.*RN50"):
        TextTower(TextTowerConfig(**{**OC_TEXT, "name": "nope"}))
    for hub_arch in ("ViT-B-16-SigLIP", "mt5-base-ViT-B-32", "ViT-bigG-14-CLIPA"):
        with pytest.raises(ValueError, match=rf"{hub_arch}.*refused.*hub.*valid \(offline\):.*ViT-B-32"):
            TextTower(TextTowerConfig(**{**OC_TEXT, "name": hub_arch}))
    with pytest.raises(ValueError, match=r"unknown config_overrides \['depth'\]; valid:.*layers"):
        TextTower(TextTowerConfig(**{**OC_TEXT, "config_overrides": {"depth": 1}}))
    with pytest.raises(ValueError, match="vocab_size 100 is smaller"):
        TextTower(TextTowerConfig(**{**OC_TEXT, "config_overrides": {**TINY, "vocab_size": 100}}))
    with pytest.raises(ValueError, match="pretrained=true needs text.pretrained_path"):
        TextTowerConfig(kind="open_clip", name="RN50")
    with pytest.raises(ValueError, match="needs text.name"):
        TextTowerConfig(kind="open_clip", pretrained=False)
    with pytest.raises(ValueError, match="kind 'bert' unknown; valid: hf, open_clip"):
        TextTowerConfig(kind="bert")


def test_text_tower_state_layouts():
    t = torch.zeros(1)
    custom = {"text.token_embedding.weight": t, "text.text_projection": t, "visual.proj": t, "logit_scale": t}
    assert set(text_tower_state(custom)) == {"token_embedding.weight"}
    clip = {"token_embedding.weight": t, "text_projection": t, "visual.conv1.weight": t, "attn_mask": t}
    assert set(text_tower_state(clip)) == {"token_embedding.weight"}


@pytest.fixture
def tiny_tables_oc(tmp_path):
    """The training tests' tiny RadIR tables (tests/training/conftest.py helper, loaded by path)."""
    import numpy as np

    path = Path(__file__).parents[1] / "training" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_training_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (tmp_path / "tables" / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    mod._write_split(tmp_path / "tables", "train", 8, rng)
    mod._write_split(tmp_path / "tables", "test", 4, rng)
    return tmp_path / "tables"


def test_one_training_step(tmp_path, tiny_tables_oc):
    from safetensors.torch import load_file

    from radkit.training import train

    torch.manual_seed(0)
    init = create_model("radir-tiny", modality="cxr", text=OC_TEXT,
                        preprocess={"spatial_size": [32, 32]}).save_pretrained(tmp_path / "init")
    out = train(init_from=str(init), tables_dir=str(tiny_tables_oc), out_dir=str(tmp_path / "s1"), stage="1",
                max_steps=1, batch_size=4, warmup_steps=0, lr=1e-3, val_split=None, logger="none", progress=False)
    a, b = load_file(str(init / "model.safetensors")), load_file(str(out / "model.safetensors"))
    changed = {k.split(".")[0] for k in a if not torch.equal(a[k], b[k])}
    assert "text_tower" in changed and "text_proj" in changed
    assert load_model(out).text_tower.width == 32
