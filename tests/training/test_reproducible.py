"""A training run depends only on its config and seed, not on what ran before it in the process
(benchmarks/RESULTS.md, quality_synthetic run 11: stage 2 inside the benchmark differed from the same
stage 2 in a fresh process, through the process-wide text cache)."""

import torch
from safetensors.torch import load_file

from radkit.models import create_model, load_model, text_tower

# wide enough (64) that a batched forward's pooled rows differ in the last bits from single-text ones
_TEXT = {"pretrained": False, "frozen": True, "max_length": 32,
         "config_overrides": {"num_hidden_layers": 1, "hidden_size": 64, "num_attention_heads": 2,
                              "intermediate_size": 128, "max_position_embeddings": 64}}


def _stage2(init, tables, out):
    from radkit.training import train

    return train(init_from=str(init), tables_dir=str(tables), out_dir=str(out), stage="2", max_steps=3,
                 groups_per_batch=2, group_size=4, warmup_steps=0, lr=1e-3, val_split=None, logger="none",
                 progress=False, accelerator="cpu", seed=0)


def test_stage2_ignores_earlier_text_encodings_in_the_process(tmp_path, tiny_tables, monkeypatch):
    torch.manual_seed(0)
    init = create_model("radir-tiny", modality="cxr", text=_TEXT,
                        preprocess={"spatial_size": [32, 32]}).save_pretrained(tmp_path / "init")
    monkeypatch.setattr(text_tower, "_SHARED_CACHES", {})  # as in a fresh process
    fresh = load_file(str(_stage2(init, tiny_tables, tmp_path / "fresh") / "model.safetensors"))

    monkeypatch.setattr(text_tower, "_SHARED_CACHES", {})
    earlier = load_model(init).eval().requires_grad_(False)  # e.g. an evaluation run before this training
    earlier.text_tower.enable_cache()
    earlier.encode_text("lungs")  # alone: differs in the last bits from "lungs" batched with "pleura" (a step)
    earlier.encode_text(["right lower lobe of the lung", "pleura"])
    after = load_file(str(_stage2(init, tiny_tables, tmp_path / "after") / "model.safetensors"))

    assert fresh.keys() == after.keys()
    assert [k for k in fresh if not torch.equal(fresh[k], after[k])] == []
