"""`train_sft`: the SFT entry point (config keys of ``configs/reason_sft.yaml`` map 1:1 to its arguments)."""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path

from radkit.reasoning.vqa import read_jsonl


def _timedelta(seconds: float | None):
    from datetime import timedelta

    return None if seconds is None else timedelta(seconds=float(seconds))


def train_sft(model: str | None = None, vqa: str | None = None, out_dir: str = "runs/sft", lr: float = 2e-6, epochs: int = 5, batch_size: int = 4,
              global_batch: int = 128, warmup_ratio: float = 0.1, weight_decay: float = 0.0,
              max_grad_norm: float = 1.0, precision: str = "bf16-mixed", gradient_checkpointing: bool = True,
              lora: bool = False, image_size: int = 448, max_steps: int = -1, seed: int = 66, split: str = "train",
              reasoning_only: bool = True, task_weights: dict[str, float] | None = None, accelerator: str = "auto",
              devices: int | str = "auto", strategy: str = "auto", num_workers: int = 0,
              log_every: int = 10, answer_loss_weight: float = 1.0,
              max_time_s: float | None = None) -> Path:
    """Fine-tune a local Qwen2-VL-family model on VQA records and save it to ``out_dir``.

    Args:
        model: local model folder (e.g. a tiny model from `radkit.reasoning.tiny.build_tiny`).
        vqa: ``vqa.jsonl`` from `radkit reason build-vqa` (records with ``process``).
        out_dir: where the fine-tuned model + processor are saved (safetensors; LoRA merged).
        lr, epochs, warmup_ratio, weight_decay, max_grad_norm: §4.3 defaults.
        batch_size, global_batch: per-device batch and global batch (grad accumulation derived).
        precision: Lightning precision ("bf16-mixed", "32-true", ...).
        gradient_checkpointing, lora: memory options.
        image_size: square resize of every image (448 in §4.3).
        max_steps: stop after this many optimizer steps (-1: epochs decide).
        max_time_s: also stop after this many seconds of training (None: no limit); used to give
            continued SFT the same wall-clock budget as a GRPO run.
        split: records of this split only; ``reasoning_only`` keeps records with a chain.
        task_weights: ``{"binary_option": 0.1, ...}`` mixture weights (None: uniform over records).
        accelerator, devices, strategy: Lightning settings ("fsdp" for 7B on several GPUs).
        answer_loss_weight: loss weight of the ``<answer> ... </answer>`` tokens relative to the chain
            tokens (1: plain mean CE over the target, as the release).

    Returns:
        ``out_dir``.

    Example:
        radkit reason sft --config configs/reason_sft.yaml --model models/qwen2-vl-7b --vqa vqa/vqa.jsonl --out_dir runs/sft

    Raises:
        ValueError: no training records after filtering.
    """
    import lightning as L
    from torch.utils.data import DataLoader

    from radkit.reasoning.sft import SFTDataset, SFTModule, apply_lora, collate, task_sampler
    from radkit.reasoning.tiny import load_model

    if not model or not vqa:
        raise ValueError("train_sft needs model (a local model folder, --model DIR) and vqa (--vqa FILE.jsonl)")
    L.seed_everything(seed, workers=True)
    records = [r for r in read_jsonl(vqa) if r.get("split", split) == split and (r.get("process") or not reasoning_only)]
    if not records:
        raise ValueError(f"no {split!r} records{' with a chain (process)' if reasoning_only else ''} in {vqa}; "
                         "build with `radkit reason build-vqa` (it mines chains) or pass --reasoning_only false")
    net, proc = load_model(model)
    net.train()  # from_pretrained returns eval mode (dropout off)
    if gradient_checkpointing:
        net.gradient_checkpointing_enable()
        net.config.use_cache = False
    if lora:
        net = apply_lora(net)
    sampler = task_sampler(records, task_weights, seed)
    loader = DataLoader(SFTDataset(records, proc, image_size), batch_size=batch_size, shuffle=sampler is None,
                        sampler=sampler, num_workers=num_workers,
                        collate_fn=partial(collate, pad_id=proc.tokenizer.pad_token_id))
    world = 1 if not isinstance(devices, int) else max(1, devices)
    accum = max(1, global_batch // (batch_size * world))
    trainer = L.Trainer(max_epochs=epochs, max_steps=max_steps, max_time=_timedelta(max_time_s),
                        accumulate_grad_batches=accum,
                        gradient_clip_val=max_grad_norm, precision=precision, accelerator=accelerator,
                        devices=devices, strategy=strategy, log_every_n_steps=log_every, logger=False,
                        enable_checkpointing=False, default_root_dir=str(out_dir))
    module = SFTModule(net, lr=lr, weight_decay=weight_decay, warmup_ratio=warmup_ratio,
                       answer_loss_weight=answer_loss_weight)
    t0 = time.perf_counter()
    trainer.fit(module, loader)
    seconds = time.perf_counter() - t0
    out = Path(out_dir)
    net = module.model.merge_and_unload() if lora else module.model
    if trainer.is_global_zero:
        net.config.use_cache = True
        net.save_pretrained(out)
        proc.save_pretrained(out)
        # steps actually done (max_time_s may stop early): what compute comparisons need
        (out / "train_state.json").write_text(json.dumps({"global_step": trainer.global_step, "seconds": seconds}))
    return out
