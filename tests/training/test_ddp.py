"""DDP through Lightning's strategy flag: two CPU processes (gloo), both stages, through the CLI.

Lightning's DDP launcher re-executes the command line once per extra rank, so the run goes through
``python -m radkit.cli`` in a subprocess (as a user runs `radkit train --devices 2 --strategy ddp`).
"""

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from radkit.models import create_model, load_model

ROOT = Path(__file__).resolve().parents[2]


def _changed(a: Path, b: Path) -> set[str]:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return {k.split(".")[0] for k in wa if not torch.equal(wa[k], wb[k])}


def _train(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "radkit.cli", "train", *args, "--accelerator", "cpu", "--devices", "2",
           "--strategy", "ddp", "--logger", "csv", "--progress", "false", "--warmup_steps", "0"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_two_process_ddp_trains_both_stages(tmp_path, tiny_tables, tiny_text):
    torch.manual_seed(0)
    init = create_model("radir-tiny", modality="cxr", text=tiny_text,
                        preprocess={"spatial_size": [32, 32]}).save_pretrained(tmp_path / "init")
    s1 = _train(["--config", str(ROOT / "configs" / "radir-tiny-cxr.yaml"), "--init_from", str(init),
                 "--tables_dir", str(tiny_tables), "--out_dir", str(tmp_path / "s1"), "--max_steps", "2",
                 "--batch_size", "2", "--val_every", "0", "--val_split", "null"], tmp_path)
    assert s1.returncode == 0, s1.stderr[-3000:]
    assert s1.stdout.count("saved model folder") == 1  # rank 0 only
    # Each rank reports the 2-process group (gloo on CPU); one optimiser path, two processes.
    assert "Starting with 2 processes" in s1.stdout + s1.stderr
    assert _changed(init, tmp_path / "s1" / "model") == {"image_tower", "text_tower", "image_proj", "text_proj",
                                                         "logit_scale"}
    # Stage 2 from the DDP stage-1 folder: only the decoder moves, and the group sampler's
    # per-rank batches keep both ranks in step (a mismatch would hang until the timeout).
    s2 = _train(["--config", str(ROOT / "configs" / "radir-tiny-cxr-stage2.yaml"),
                 "--init_from", str(tmp_path / "s1" / "model"), "--tables_dir", str(tiny_tables),
                 "--out_dir", str(tmp_path / "s2"), "--max_steps", "2", "--groups_per_batch", "1",
                 "--group_size", "4"], tmp_path)
    assert s2.returncode == 0, s2.stderr[-3000:]
    assert _changed(tmp_path / "s1" / "model", tmp_path / "s2" / "model") == {"decoder"}
    log = (tmp_path / "s2" / "logs" / "version_0" / "metrics.csv").read_text().splitlines()
    assert log[0].startswith("epoch,step") and len(log) == 3  # header + one row per optimiser step
    assert load_model(tmp_path / "s2" / "model").cfg.preprocess.spatial_size == [32, 32]


def test_stage1_freezes_only_the_unused_text_pooler(tiny_text):
    """DDP needs every trainable parameter in the loss: the HF pooler head is never read by mean
    pooling, so stage 1 freezes it and trains the rest of an unfrozen text tower."""
    from radkit.training.module import set_trainable

    net = create_model("radir-tiny", modality="cxr", text=tiny_text)
    set_trainable(net, "1")
    names = {n for n, p in net.text_tower.named_parameters() if not p.requires_grad}
    assert names and all(".pooler." in n for n in names)
    assert any(p.requires_grad for n, p in net.text_tower.named_parameters() if ".encoder." in n)
