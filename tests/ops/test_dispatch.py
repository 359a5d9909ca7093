"""Dispatch: explains rejections, honours RADKIT_OPS, falls back when a build is impossible; CLI."""

import pytest
import torch

import radkit.ops as ops
from radkit.cli import main
from radkit.ops import build
from radkit.ops.api import TOPK_BACKENDS
from radkit.ops.dispatch import explain


def test_reasons_for_wrong_device_dtype_and_k():
    reasons = dict(explain(TOPK_BACKENDS, {"device": "cpu", "dtype": torch.float16, "k": 5000}))
    assert any("runs on cuda" in r for r in reasons["cuda"]) and any("exceeds" in r for r in reasons["cuda"])
    assert any("float16 not supported" in r for r in reasons["cpu"])
    assert reasons["reference"] == []


def test_radkit_ops_reference_forces_reference(monkeypatch):
    monkeypatch.setenv("RADKIT_OPS", "reference")
    monkeypatch.setattr(build, "load", lambda *a, **k: pytest.fail("compiled build used despite RADKIT_OPS"))
    s, i = ops.similarity_topk(torch.randn(2, 4), torch.randn(9, 4), 3)
    assert i.shape == (2, 3)
    reasons = dict(explain(TOPK_BACKENDS, {"device": "cpu", "dtype": torch.float32, "k": 3}))
    assert "RADKIT_OPS=reference forces the reference backend" in reasons["cpu"]


def test_missing_compiler_falls_back_with_reason(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    monkeypatch.setattr(build, "_LOADED", {})
    q, db = torch.randn(2, 4), torch.randn(9, 4)
    s, i = ops.similarity_topk(q, db, 3)  # automatic: reference, no crash
    assert torch.equal(i, torch.topk(q @ db.T, 3).indices)
    with pytest.raises(RuntimeError, match="no-such-compiler-xyz"):
        ops.similarity_topk(q, db, 3, backend="cpu")


def test_failed_build_warns_and_falls_back(monkeypatch):
    def boom(kind, verbose=False):
        raise RuntimeError("building radkit ops (cpu) failed: test")
    monkeypatch.setattr(build, "load", boom)
    vol = torch.arange(64, dtype=torch.int16).reshape(4, 4, 4) * 20 - 600
    with pytest.warns(RuntimeWarning, match="using the reference backend"):
        out = ops.ct_preprocess(vol, spacing_in=(1, 1, 1), target_spacing=(1, 1, 1), out_shape=(2, 2, 2))
    # the fallback result is the reference's, not a placeholder
    from radkit.ops.reference import ct_preprocess_ref

    ref = ct_preprocess_ref(vol, spacing_in=(1, 1, 1), target_spacing=(1, 1, 1), out_shape=(2, 2, 2))
    torch.testing.assert_close(torch.as_tensor(out), torch.as_tensor(ref))
    assert torch.as_tensor(out).std() > 0


def test_unknown_backend_lists_valid(monkeypatch):
    monkeypatch.setenv("RADKIT_OPS", "triton")
    with pytest.raises(ValueError, match="cuda, cpu, reference"):
        ops.similarity_topk(torch.randn(1, 4), torch.randn(3, 4), 1)


def test_cli_info_and_build(cpu_ext, capsys):
    assert main(["ops", "info"]) == 0
    out = capsys.readouterr().out
    assert "similarity_topk:" in out and "cpu" in out and "reference" in out
    assert main(["ops", "build", "--kind", "cpu"]) == 0
    assert "cpu: ready" in capsys.readouterr().out
    assert main(["ops", "build", "--kind", "gpu"]) == 1
