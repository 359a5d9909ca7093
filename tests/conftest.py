"""Test-wide setup: offline, caches inside the checkout (ENV.md), small thread pools."""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_CACHE = _ROOT / ".cache"
for key, value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MPLCONFIGDIR": str(_CACHE / "matplotlib"),
    "HF_HOME": str(_CACHE / "huggingface"),
    "TORCH_HOME": str(_CACHE / "torch"),
    "TORCH_EXTENSIONS_DIR": str(_CACHE / "torch_extensions"),
    "TRITON_CACHE_DIR": str(_CACHE / "triton"),
}.items():
    os.environ.setdefault(key, value)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_text() -> dict:
    """Text-tower overrides for a tiny random BERT (MiniLM tokenizer/config, 1 layer, 32 wide):
    fast, and a small model folder (used by the model and training tests)."""
    return {"pretrained": False, "frozen": False, "max_length": 32,
            "config_overrides": {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
                                 "intermediate_size": 64, "max_position_embeddings": 64}}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout's root folder."""
    return _ROOT


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The fast demo, run once per test session: (output folder, paths dict)."""
    from radkit.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    paths = run_demo(str(out), fast=True, progress=False)
    return out, paths
