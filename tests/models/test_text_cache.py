"""The frozen text tower's pooled-output cache: same values as the uncached path, shared by equal
weights, refused for a trainable tower."""

import pytest
import torch

from radkit.models import create_model


def _frozen(tiny_text, seed=0):
    torch.manual_seed(seed)
    net = create_model("radir-tiny", modality="cxr", text={**tiny_text, "frozen": True}).eval()
    net.text_tower.requires_grad_(False)
    return net


def test_cached_equals_uncached_and_is_shared(tiny_text):
    net = _frozen(tiny_text)
    texts = ["small right pleural effusion", "no acute process", "small right pleural effusion"]
    ref = net.encode_text(texts)
    net.text_tower.enable_cache()
    first = net.encode_text(texts)  # fills the cache (2 distinct texts)
    assert len(net.text_tower.cache) == 2
    torch.testing.assert_close(first, ref)
    torch.testing.assert_close(net.encode_text(texts[::-1]), ref.flip(0))  # served from the cache
    same = _frozen(tiny_text)  # same seed -> same weights -> same cache object
    same.text_tower.enable_cache()
    assert same.text_tower.cache is net.text_tower.cache
    other = _frozen(tiny_text, seed=1)
    other.text_tower.enable_cache()
    assert other.text_tower.cache is not net.text_tower.cache


def test_trainable_tower_refuses_the_cache(tiny_text):
    net = create_model("radir-tiny", modality="cxr", text=tiny_text)
    with pytest.raises(ValueError, match="frozen"):
        net.text_tower.enable_cache()


def test_training_mode_bypasses_the_cache(tiny_text):
    net = _frozen(tiny_text)
    net.text_tower.enable_cache()
    net.text_tower.cache.clear()
    net.text_tower.train()
    net.encode_text(["no effusion"])
    assert not net.text_tower.cache


def test_cached_value_does_not_depend_on_batch_mates(monkeypatch):
    """A text's cached value is the same whichever batch first encoded it (single-text forward), so the
    process-wide cache cannot carry one run's batch composition into another run."""
    from radkit.models import text_tower

    wide = {"pretrained": False, "frozen": True, "max_length": 32,  # 64 wide: batched rows differ in the last bits
            "config_overrides": {"num_hidden_layers": 1, "hidden_size": 64, "num_attention_heads": 2,
                                 "intermediate_size": 128, "max_position_embeddings": 64}}
    torch.manual_seed(0)
    net = create_model("radir-tiny", modality="cxr", text=wide).eval().requires_grad_(False)
    values = []
    for batch in (["lungs"], ["lungs", "pleura"], ["right lower lobe of the lung", "lungs"]):
        monkeypatch.setattr(text_tower, "_SHARED_CACHES", {})  # a fresh process
        net.text_tower.enable_cache()
        values.append(net.text_tower.pooled(batch)[batch.index("lungs")])
        assert torch.equal(net.text_tower.pooled(["lungs"])[0], values[-1])  # and served from the cache
    assert all(torch.equal(v, values[0]) for v in values)
