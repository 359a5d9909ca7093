"""Shared tiny-model helpers for model/training tests."""

import pytest

# A tiny random BERT (MiniLM tokenizer/config, 1 layer, 32 wide): fast and a small model folder.
TINY_TEXT = {"pretrained": False, "frozen": False, "max_length": 32,
             "config_overrides": {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
                                  "intermediate_size": 64, "max_position_embeddings": 64}}


@pytest.fixture(scope="session")
def tiny_text():
    return TINY_TEXT


@pytest.fixture(scope="session")
def tiny_cxr():
    from radkit.models import create_model
    import torch

    torch.manual_seed(0)
    return create_model("radir-tiny", modality="cxr", text=TINY_TEXT)
