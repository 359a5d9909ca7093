"""Shared fixtures: one compiled CPU build per test session (~35 s the first time, then cached)."""

import pytest
import torch

from radkit.ops import build


@pytest.fixture(scope="session")
def cpu_ext():
    """The compiled CPU extension; skips with the reason when no C++ toolchain is present."""
    reasons = build.toolchain_reasons("cpu")
    if reasons:
        pytest.skip("compiled CPU build unavailable: " + "; ".join(reasons))
    return build.load("cpu")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
