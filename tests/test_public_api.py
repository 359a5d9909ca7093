import importlib
import subprocess
import sys

import radkit


def test_lazy_names_resolve_to_their_modules():
    for name, module in radkit._LAZY.items():
        assert getattr(radkit, name) is getattr(importlib.import_module(module), name)
    for pkg in (importlib.import_module("radkit.evaluation"), importlib.import_module("radkit.retrieval")):
        for name, module in pkg._EXPORTS.items():
            assert getattr(pkg, name) is getattr(importlib.import_module(module), name)


def test_import_is_light():
    code = "import sys, radkit; print(sorted(m for m in ('torch', 'lightning', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        radkit.nope  # noqa: B018
