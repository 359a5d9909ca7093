"""Supervised fine-tuning of a Qwen2-VL-family model on VQA records with chains (SPEC_REASONER §4.3).

- Each sample is one chat: default system prompt, a user turn with one image block per
  image then ``question + "\\n" + think/answer suffix``, and the assistant target
  ``<think> chain </think><answer> X </answer>`` + EOS.
- Loss on the target tokens only: prompt tokens (including image tokens) are -100.
- Left padding for inputs and labels; images resized to ``image_size``² (448 in §4.3).
- A `LightningModule` carries AdamW + cosine schedule with warmup; bf16, gradient
  checkpointing, LoRA (peft) and Lightning strategies (DDP/FSDP) are options.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from radkit.reasoning import prompts
from radkit.training.clipping import clip_gradients

IGNORE = -100


def load_image(path: str, size: int):
    """An RGB PIL image resized to ``size``x``size`` (aspect not kept, as §4.3); DICOM/NIfTI via radkit.io."""
    from PIL import Image

    suffix = Path(path).suffix.lower()
    if not Path(path).exists():
        raise FileNotFoundError(f"image {path} not found; image paths are resolved against the manifest's folder")
    if suffix in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
        img = Image.open(path).convert("RGB")
    else:  # medical formats: radkit.io gives an array; window to 8 bits by min-max
        import numpy as np

        from radkit.io import read_image

        arr = np.asarray(read_image(path).array, dtype=np.float32)
        if arr.ndim == 3:  # CT volume: middle axial slice
            arr = arr[:, :, arr.shape[2] // 2]
        arr = (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-6) * 255
        img = Image.fromarray(arr.astype("uint8")).convert("RGB")
    return img.resize((size, size))


def build_messages(record: dict, with_images: bool = True) -> list[dict]:
    """The user turn of a record as chat messages (one image block per image path)."""
    content: list[dict] = [{"type": "image"} for _ in record.get("image_path", [])] if with_images else []
    content.append({"type": "text", "text": prompts.user_text(record["question"])})
    return [{"role": "user", "content": content}]


def answer_token_mask(target: str, offsets: list[tuple[int, int]]) -> torch.Tensor:
    """(T,) bool: target tokens overlapping the last ``<answer> ... </answer>`` span (tags included).

    Uses character offsets, so BPE merges across ``</think><answer>`` do not shift the span.
    """
    start = target.rfind("<answer>")
    end = target.find("</answer>", max(start, 0))
    mask = torch.zeros(len(offsets), dtype=torch.bool)
    if start < 0 or end < 0:
        return mask
    end += len("</answer>")
    for i, (a, b) in enumerate(offsets):
        mask[i] = a < end and b > start
    return mask


def weighted_lm_loss(logits: torch.Tensor, labels: torch.Tensor, answer_mask: torch.Tensor | None = None,
                     answer_weight: float = 1.0) -> torch.Tensor:
    """Causal-LM cross-entropy, a weighted mean over supervised tokens.

    Args:
        logits: (B, T, V) next-token logits.
        labels: (B, T) token ids, -100 where unsupervised (prompt, padding).
        answer_mask: (B, T) bool, True on the ``<answer> ... </answer>`` tokens.
        answer_weight: weight of those tokens; every other supervised token weighs 1.

    Returns:
        ``sum_t w_t * CE_t / sum_t w_t`` over supervised positions (shifted by one, as HF does);
        with ``answer_weight`` 1 this is the plain mean CE of ``model(**batch).loss``.
    """
    lab = labels[:, 1:]
    keep = lab != IGNORE
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), lab.clamp_min(0), reduction="none")
    w = keep.float()
    if answer_mask is not None and answer_weight != 1.0:
        w = w * torch.where(answer_mask[:, 1:], answer_weight, 1.0)
    return (ce * w).sum() / w.sum().clamp_min(1e-8)


def encode_sample(record: dict, processor: Any, image_size: int) -> dict:
    """Token ids, labels and pixel inputs for one record.

    Returns:
        dict with ``input_ids`` (T,), ``labels`` (T,) with prompt positions = -100,
        ``pixel_values`` (P, C·patch²) and ``image_grid_thw`` (n_images, 3).
    """
    images = [load_image(p, image_size) for p in record.get("image_path", [])]
    prompt = processor.apply_chat_template(build_messages(record), add_generation_prompt=True, tokenize=False)
    enc = processor(text=[prompt], images=images or None, return_tensors="pt")
    tok = processor.tokenizer
    target = prompts.target_text(record.get("process"), str(record["answer"])) + tok.eos_token
    t = tok(target, add_special_tokens=False, return_offsets_mapping=True)
    tgt_ids = torch.tensor(t["input_ids"], dtype=torch.long)
    prompt_ids = enc["input_ids"][0]
    out = {"input_ids": torch.cat([prompt_ids, tgt_ids]),
           "labels": torch.cat([torch.full_like(prompt_ids, IGNORE), tgt_ids]),
           "answer_mask": torch.cat([torch.zeros_like(prompt_ids, dtype=torch.bool),
                                     answer_token_mask(target, t["offset_mapping"])])}
    if "mm_token_type_ids" in enc:  # transformers 5: marks image tokens for M-RoPE
        mm = enc["mm_token_type_ids"][0]
        out["mm_token_type_ids"] = torch.cat([mm, torch.zeros_like(tgt_ids, dtype=mm.dtype)])
    if images:
        out["pixel_values"] = enc["pixel_values"]
        out["image_grid_thw"] = enc["image_grid_thw"]
    return out


class SFTDataset(Dataset):
    """VQA records -> encoded samples (see `encode_sample`)."""

    def __init__(self, records: list[dict], processor: Any, image_size: int = 448):
        self.records, self.processor, self.image_size = records, processor, image_size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        return encode_sample(self.records[i], self.processor, self.image_size)


def collate(batch: list[dict], pad_id: int) -> dict:
    """Left-pad ``input_ids`` (pad_id) and ``labels`` (-100); attention mask marks real tokens."""
    n = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    amask = torch.zeros((len(batch), n), dtype=torch.bool)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        t = len(b["input_ids"])
        ids[i, n - t:], labels[i, n - t:], mask[i, n - t:] = b["input_ids"], b["labels"], 1
        if "answer_mask" in b:
            amask[i, n - t:] = b["answer_mask"]
    out = {"input_ids": ids, "labels": labels, "attention_mask": mask, "answer_mask": amask}
    if all("mm_token_type_ids" in b for b in batch):
        mm = torch.zeros((len(batch), n), dtype=batch[0]["mm_token_type_ids"].dtype)
        for i, b in enumerate(batch):
            mm[i, n - len(b["mm_token_type_ids"]):] = b["mm_token_type_ids"]
        out["mm_token_type_ids"] = mm
    if any("pixel_values" in b for b in batch):
        out["pixel_values"] = torch.cat([b["pixel_values"] for b in batch if "pixel_values" in b])
        out["image_grid_thw"] = torch.cat([b["image_grid_thw"] for b in batch if "image_grid_thw" in b])
    return out


def task_sampler(records: list[dict], weights: dict[str, float] | None, seed: int) -> WeightedRandomSampler | None:
    """Weighted mixture over tasks (§4.3): each ``task_variant`` gets its weight, split over its records.

    Raises:
        KeyError: a weight names a task that has no records.
    """
    if not weights:
        return None
    keys = [f"{r.get('task')}_{r.get('variant')}" for r in records]
    unknown = set(weights) - set(keys)
    if unknown:
        raise KeyError(f"task_weights name {sorted(unknown)} but the data has {sorted(set(keys))}")
    counts = {k: keys.count(k) for k in set(keys)}
    w = [weights.get(k, 0.0) / counts[k] for k in keys]
    g = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(w, num_samples=len(records), replacement=True, generator=g)


class SFTModule(L.LightningModule):
    """Causal-LM fine-tuning on masked targets: AdamW + linear warmup + cosine decay (§4.3)."""

    def __init__(self, model: torch.nn.Module, lr: float = 2e-6, weight_decay: float = 0.0,
                 warmup_ratio: float = 0.1, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 answer_loss_weight: float = 1.0):
        super().__init__()
        self.model = model
        self.lr, self.weight_decay, self.warmup_ratio, self.betas, self.eps = lr, weight_decay, warmup_ratio, betas, eps
        self.answer_loss_weight = answer_loss_weight

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """Cross-entropy over supervised (non -100) tokens; `weighted_lm_loss` when answers are reweighted."""
        batch = dict(batch)
        amask = batch.pop("answer_mask", None)
        if self.answer_loss_weight == 1.0:
            loss = self.model(**batch).loss
        else:
            labels = batch.pop("labels")
            loss = weighted_lm_loss(self.model(**batch).logits, labels, amask, self.answer_loss_weight)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        clip_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)  # FSDP-aware

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay, betas=self.betas, eps=self.eps)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm = int(self.warmup_ratio * total)

        def f(step: int) -> float:
            if step < warm:
                return (step + 1) / max(1, warm)
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, f)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def apply_lora(model: torch.nn.Module, r: int = 8, alpha: int = 32, dropout: float = 0.1,
               targets: tuple[str, ...] = ("q_proj", "v_proj")) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters (the release's optional setting: r=8, alpha=32, q/v)."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                                            target_modules=list(targets), task_type="CAUSAL_LM"))
