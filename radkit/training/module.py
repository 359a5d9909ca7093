"""`RetrievalModule`: the LightningModule wrapping a `DualEncoder` and the RadIR losses.

No architecture code lives here: one `_step` serves train and validation; the stage
decides which parameters train (SPEC_RADIR §4.2): stage "1" encoders + heads (decoder
frozen), stage "2" decoder only (encoders frozen), "joint" everything.
"""

from __future__ import annotations

import math

import lightning as L
import torch

from radkit.losses import Stage1Loss, gap_weighted_ranking_loss, gather_no_grad
from radkit.training.clipping import clip_gradients

STAGES = ("1", "2", "joint")


def set_trainable(model, stage: str) -> list[str]:
    """Freeze per stage (and the text encoder if its config says frozen); returns frozen module names."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} unknown; valid: {', '.join(STAGES)}")
    groups = {"image_tower": model.image_tower, "text_tower": model.text_tower, "image_proj": model.image_proj,
              "text_proj": model.text_proj}
    frozen = []
    for name, mod in groups.items():
        train = stage != "2" and not (name == "text_tower" and model.cfg.text.frozen)
        mod.requires_grad_(train)
        if not train:
            frozen.append(name)
    for p in model.text_tower.unused_parameters():
        p.requires_grad_(False)
    model.logit_scale.requires_grad_(stage != "2")
    if model.decoder is not None:
        model.decoder.requires_grad_(stage != "1")
        if stage == "1":
            frozen.append("decoder")
    elif stage == "2":
        raise ValueError(f"model {model.name!r} has no anatomy decoder; stage 2 needs one (use a radir-* model)")
    return frozen


class RetrievalModule(L.LightningModule):
    """Trains a `DualEncoder` with stage-1 and/or stage-2 losses.

    Args:
        model: the `DualEncoder`.
        stage: "1", "2" or "joint".
        stage1_loss: the stage-1 loss (default: InfoNCE + ranking with the §3.1 constants).
        cond_weight: weight of the stage-2 gap-weighted ranking loss.
        lr, weight_decay, betas: AdamW settings (RadIR: 1e-4, 0, (0.9, 0.99)).
        warmup_steps, total_steps: linear warm-up then cosine decay to 0 (per optimiser step).
    """

    def __init__(self, model, stage: str = "1", stage1_loss: Stage1Loss | None = None, cond_weight: float = 1.0,
                 lr: float = 1e-4, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.99),
                 warmup_steps: int = 1000, total_steps: int = 12000):
        super().__init__()
        self.model, self.stage = model, str(stage)
        self.stage1_loss = stage1_loss or Stage1Loss()
        self.cond_weight, self.lr, self.weight_decay, self.betas = cond_weight, lr, weight_decay, tuple(betas)
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.frozen = set_trainable(model, self.stage)
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.train()  # Lightning keeps the modes it is given: frozen parts must start in eval

    def on_train_start(self) -> None:
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        for name in self.frozen:  # frozen parts run as in inference (no dropout, fixed norms)
            getattr(self.model, name).eval()
        return self

    def _stage1(self, batch, split: str) -> dict[str, torch.Tensor]:
        out = self.model(batch["pixels"], batch["text"])
        cols = gather_no_grad(batch["index"])
        sim = self.trainer.datamodule.similarity(split, batch["index"], cols).to(out["image_features"])
        if split != "train":
            self._val.append((out["image_features"].detach(), out["text_features"].detach()))
        return self.stage1_loss(out["image_features"], out["text_features"], out["logit_scale"], sim)

    def _stage2(self, batch) -> dict[str, torch.Tensor]:
        g, n = batch["pixels"].shape[:2]
        names = [a for a in batch["anatomy"] for _ in range(n)]
        feats = self.model.encode_image_anatomy(batch["pixels"].flatten(0, 1), names).view(g, n, -1)
        rank = gap_weighted_ranking_loss(feats @ feats.transpose(1, 2), batch["sim"].to(feats))
        return {"cond_rank": rank, "loss": self.cond_weight * rank}

    def _step(self, batch, split: str) -> torch.Tensor:
        if "pairs" in batch:  # joint: CombinedLoader yields {"pairs": ..., "groups": ...}
            a, b = self._stage1(batch["pairs"], split), self._stage2(batch["groups"])
            logs = {**a, **b, "loss": a["loss"] + b["loss"]}
        elif "anatomy" in batch:
            logs = self._stage2(batch)
        else:
            logs = self._stage1(batch, split)
        loss = logs["loss"]
        if not torch.isfinite(loss):
            raise RuntimeError(f"{split} loss is {loss.item()} at step {self.global_step}; lower lr, use "
                               "precision 32-true, or check the inputs (NaN/inf pixels, empty reports)")
        bs = len(batch["pixels"]) if "pixels" in batch else None
        self.log_dict({f"{split}/{k}": v.detach() for k, v in logs.items()}, prog_bar=split == "train",
                      batch_size=bs, sync_dist=split != "train")
        if split == "train":
            self.log("train/logit_scale", self.model.logit_scale.exp().detach().squeeze(), batch_size=bs)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, self.trainer.datamodule.val_split)

    def on_validation_epoch_end(self):
        if not self._val:
            return
        img = torch.cat([v[0] for v in self._val])
        txt = torch.cat([v[1] for v in self._val])
        self._val.clear()
        from radkit.evaluation.metrics import identity_metrics

        m = identity_metrics((img @ txt.T).float().cpu(), ks=(1, 5))  # trec_eval tie policy
        # process-local split shard (each rank ranks its own reports)
        self.log("val/image_to_text_R@1", m["recall@1"])
        self.log("val/image_to_text_R@5", m["recall@5"])

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        clip_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)  # FSDP-aware

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        warm, total = max(self.warmup_steps, 0), max(self.total_steps, 1)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
