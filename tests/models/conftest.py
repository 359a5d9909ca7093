"""Shared tiny model for the model tests (the tiny text tower comes from tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def tiny_cxr(tiny_text):
    from radkit.models import create_model
    import torch

    torch.manual_seed(0)
    return create_model("radir-tiny", modality="cxr", text=tiny_text)
