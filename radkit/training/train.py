"""`train()`: the one entry point behind `radkit train` and notebooks. Each argument maps
1:1 to a key of `configs/*.yaml`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from radkit.losses import Stage1Loss


class SaveModelFolder(L.Callback):
    """Every ``every`` optimiser steps, write ``out_dir/checkpoints/step-XXXXXX`` (a safetensors model folder)."""

    def __init__(self, out_dir: Path, every: int):
        self.out_dir, self.every = out_dir, every

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if self.every > 0 and step > 0 and step % self.every == 0 and trainer.is_global_zero:
            pl_module.model.save_pretrained(self.out_dir / "checkpoints" / f"step-{step:06d}")


def train(model: str = "radir-tiny", modality: str = "cxr", tables_dir: str = "runs/synth-cxr/tables",
          manifest: str | None = None, out_dir: str = "runs/radir-tiny-cxr", init_from: str | None = None,
          model_overrides: dict[str, Any] | None = None, stage: str = "1", max_steps: int = 100,
          batch_size: int = 8, groups_per_batch: int = 1, group_size: int = 6, lr: float = 1e-4,
          weight_decay: float = 0.0, warmup_steps: int = 10, grad_clip: float = 0.5, accumulate: int = 1,
          precision: str = "32-true", infonce_weight: float = 1.0, rank_weight: float = 1.0,
          infonce_pos_threshold: float | None = 0.75, infonce_temperature: float = 0.1, cond_weight: float = 1.0,
          val_every: int = 50, save_every: int = 0, train_split: str = "train", val_split: str | None = "test",
          accelerator: str = "auto", devices: int | str = 1, strategy: str = "auto", num_nodes: int = 1,
          num_workers: int = 0, seed: int = 0, logger: str = "csv", progress: bool = True,
          cache_text: bool = True) -> Path:
    """Train a RadIR dual encoder and save it as a model folder.

    Args:
        model: architecture name (`radkit.models.list_models()`) or .json path.
        modality: "cxr" or "ct" (for multi-modality configs such as radir-tiny).
        tables_dir: RadIR table folder (``train.jsonl``, ``train.npy``, ``anatomy/...``); the default is where
            `radkit data annotate runs/synth-cxr/manifest.jsonl` writes them after `radkit data synth`.
            Image paths resolve relative to it or its parent.
        manifest: optional manifest; its studies supply images and reports by study_id.
        out_dir: run folder: ``model/`` (final), ``checkpoints/``, logs.
        init_from: a saved model folder to start from (e.g. the stage-1 result for stage 2).
        model_overrides: architecture overrides (`create_model` ``**overrides``).
        stage: "1" (encoders), "2" (anatomy decoder) or "joint".
        max_steps: optimiser steps.
        batch_size: stage-1 pairs per process and step.
        groups_per_batch: stage-2 anatomy groups per process and step.
        group_size: images per anatomy group.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps before the cosine decay.
        grad_clip: gradient max-norm (0 = off).
        accumulate: gradient accumulation steps. Accumulation averages gradients but does not enlarge the
            contrastive pool: each micro-batch's InfoNCE/ranking losses see only its own (all-gathered)
            negatives. For more negatives use more devices (gathered with gradient) or a GradCache-style
            two-pass scheme (embed without graph, then re-run chunks with cached gradients; not built in).
        precision: Lightning precision ("32-true", "bf16-mixed", "16-mixed").
        infonce_weight: stage-1 InfoNCE weight.
        rank_weight: stage-1 image-image ranking weight (0 for the clip baseline).
        infonce_pos_threshold: InfoNCE positive threshold; null = plain InfoNCE (clip baseline).
        infonce_temperature: InfoNCE τ.
        cond_weight: stage-2 gap-weighted ranking weight.
        val_every: validate every this many steps (0 = never).
        save_every: write a checkpoint folder every this many steps (0 = only the final model).
        train_split: table split to train on.
        val_split: table split to validate on (null = none).
        accelerator: Lightning accelerator ("cpu", "gpu", "auto").
        devices: devices per node.
        strategy: Lightning strategy ("auto", "ddp", "fsdp").
        num_nodes: nodes (multi-node: launch one process per node with the usual env variables).
        num_workers: DataLoader workers.
        seed: global seed.
        logger: "csv", "tensorboard" or "none".
        progress: show the progress bar.
        cache_text: when the text tower is frozen, encode each report once (its pooled output is
            memoised; see `TextTower.enable_cache`), which removes most of a small model's CPU time.

    Returns:
        The saved model folder ``out_dir/model``.

    Example:
        radkit train --config configs/radir-tiny-cxr.yaml --max_steps 20
    """
    from radkit.data.datamodule import RadIRDataModule
    from radkit.models import create_model
    from radkit.training.module import RetrievalModule

    if logger not in ("csv", "tensorboard", "none"):
        raise ValueError(f"logger {logger!r} unknown; valid: csv, tensorboard, none")
    if max_steps < 1:
        raise ValueError(f"max_steps={max_steps}; must be >= 1")
    L.seed_everything(seed, workers=True, verbose=False)
    out = Path(out_dir)
    net = create_model(init_from) if init_from else create_model(model, modality=modality, **(model_overrides or {}))
    net.train()
    dm = RadIRDataModule(tables_dir, net.cfg.preprocess, manifest=manifest, stage=str(stage), batch_size=batch_size,
                         groups_per_batch=groups_per_batch, group_size=group_size,
                         group_steps=max_steps * accumulate, train_split=train_split, val_split=val_split,
                         num_workers=num_workers, seed=seed)
    loss = Stage1Loss(infonce_weight=infonce_weight, rank_weight=rank_weight, pos_threshold=infonce_pos_threshold,
                      infonce_temperature=infonce_temperature)
    module = RetrievalModule(net, stage=str(stage), stage1_loss=loss, cond_weight=cond_weight, lr=lr,
                             weight_decay=weight_decay, warmup_steps=warmup_steps, total_steps=max_steps)
    if cache_text and not any(p.requires_grad for p in net.text_tower.parameters()):
        net.text_tower.enable_cache()
    loggers: Any = False
    if logger == "csv":
        loggers = L.pytorch.loggers.CSVLogger(str(out), name="logs")
    elif logger == "tensorboard":
        loggers = L.pytorch.loggers.TensorBoardLogger(str(out), name="logs")
    trainer = L.Trainer(max_steps=max_steps, accelerator=accelerator, devices=devices, strategy=strategy,
                        num_nodes=num_nodes, precision=precision, accumulate_grad_batches=accumulate,
                        gradient_clip_val=grad_clip or None, logger=loggers, enable_checkpointing=False,
                        callbacks=[SaveModelFolder(out, save_every)], enable_progress_bar=progress,
                        val_check_interval=val_every if val_every and val_split else None,
                        check_val_every_n_epoch=None if val_every and val_split else 1,
                        limit_val_batches=None if val_every and val_split else 0,
                        num_sanity_val_steps=0, log_every_n_steps=1, enable_model_summary=False,
                        default_root_dir=str(out))
    buffer_dtypes = {name: b.dtype for name, b in net.named_buffers()}
    trainer.fit(module, datamodule=dm)
    # Lightning's FSDP mixed precision casts buffers (BatchNorm statistics) to bf16/fp16 in place;
    # the saved folder keeps each buffer's own dtype so it loads the same under any strategy.
    for name, b in net.named_buffers():
        if name in buffer_dtypes and b.dtype != buffer_dtypes[name]:
            b.data = b.data.to(buffer_dtypes[name])
    final = out / "model"
    if trainer.is_global_zero:
        net.save_pretrained(final)
    return final
