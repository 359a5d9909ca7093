"""RadIR losses (SPEC_RADIR §3.1-§3.2), pure torch.

- `masked_infonce`: false-negative-masked multi-positive InfoNCE (image <-> report).
- `soft_ranking_loss`: soft-margin triplet ranking on image-image logits from the global table.
- `gap_weighted_ranking_loss`: the stage-2 ranking loss on raw cosines, weighted by the GT gap.
- `Stage1Loss`: InfoNCE + ranking with negatives gathered across processes *with gradient*.

Defaults are the released constants: positive threshold 0.75, gap Δ 0.25, negative
threshold 1.0 (no constraint), margin μ 0.1, ranking temperature T 0.07, InfoNCE τ 0.1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POS_THRESHOLD, GAP, NEG_THRESHOLD, MARGIN, RANK_T, INFONCE_T = 0.75, 0.25, 1.0, 0.1, 0.07, 0.1


def masked_infonce(logits: torch.Tensor, sim: torch.Tensor | None, pos_index: torch.Tensor,
                   pos_threshold: float | None = POS_THRESHOLD, temperature: float = INFONCE_T) -> torch.Tensor:
    """Multi-positive InfoNCE with other positives removed from the denominator.

    Args:
        logits: (B, M) query-candidate logits (already scaled by exp(θ)).
        sim: (B, M) ground-truth similarity in [0, 1]; None = plain InfoNCE.
        pos_index: (B,) column of each row's own pair (the only numerator).
        pos_threshold: candidates with sim >= this (other than the own pair) are masked out;
            None = no masking (standard CLIP InfoNCE).
        temperature: τ; logits are divided by it.

    Returns:
        Scalar mean over rows of -log(exp(L_ii/τ) / Σ_j m_ij exp(L_ij/τ)).
    """
    rows = torch.arange(logits.shape[0], device=logits.device)
    z = logits / temperature
    if sim is not None and pos_threshold is not None:
        keep = sim < pos_threshold
        keep[rows, pos_index] = True
        z_den = z.masked_fill(~keep, float("-inf"))
    else:
        z_den = z
    return (torch.logsumexp(z_den, dim=1) - z[rows, pos_index]).mean()


def _triplet_mask(sim: torch.Tensor, gap: float, pos_threshold: float, neg_threshold: float):
    """valid[..., i, j, k] = S_ij - S_ik > gap and S_ij > pos and S_ik < neg; also returns S_ij - S_ik."""
    diff = sim.unsqueeze(-1) - sim.unsqueeze(-2)  # [..., i, j, k]
    valid = (diff > gap) & (sim.unsqueeze(-1) > pos_threshold) & (sim.unsqueeze(-2) < neg_threshold)
    return valid, diff


def soft_ranking_loss(q: torch.Tensor, sim: torch.Tensor, gap: float = GAP, pos_threshold: float = POS_THRESHOLD,
                      neg_threshold: float = NEG_THRESHOLD, margin: float = MARGIN,
                      temperature: float = RANK_T) -> torch.Tensor:
    """Stage-1 image-image ranking loss.

    Args:
        q: (B, M) anchor-candidate logits, exp(θ)·cos.
        sim: (B, M) ground-truth similarities of the same pairs.

    Returns:
        Scalar: mean over anchors of the mean over valid (j, k) of
        softplus(max(Q_ik - Q_ij + μ, 1e-8) / T); an anchor without valid triplets counts 0.
    """
    valid, _ = _triplet_mask(sim, gap, pos_threshold, neg_threshold)
    viol = (q.unsqueeze(-2) - q.unsqueeze(-1) + margin).clamp_min(1e-8)  # [i, j, k] = Q_ik - Q_ij + μ
    term = F.softplus(viol / temperature) * valid
    return (term.sum((-1, -2)) / valid.sum((-1, -2)).clamp_min(1)).mean()


def gap_weighted_ranking_loss(p: torch.Tensor, sim: torch.Tensor, gap: float = GAP,
                              pos_threshold: float = POS_THRESHOLD, neg_threshold: float = NEG_THRESHOLD,
                              margin: float = MARGIN, temperature: float = RANK_T) -> torch.Tensor:
    """Stage-2 anatomy-conditioned ranking loss.

    Args:
        p: (G, N, N) raw cosines between the fused embeddings of each anatomy group.
        sim: (G, N, N) per-anatomy ground truth (symmetrised here by max).

    Returns:
        Scalar: mean over groups of the mean over anchors having >= 1 valid triplet of the mean over
        valid (j, k) of log(1 + exp(max(P_ik - P_ij + μ, 1e-8) · (S_ij - S_ik) / T)).
    """
    sim = torch.maximum(sim, sim.transpose(-1, -2))
    valid, diff = _triplet_mask(sim, gap, pos_threshold, neg_threshold)
    viol = (p.unsqueeze(-2) - p.unsqueeze(-1) + margin).clamp_min(1e-8)
    term = F.softplus(viol * diff / temperature) * valid
    count = valid.sum((-1, -2))
    per_anchor = term.sum((-1, -2)) / count.clamp_min(1)
    has = (count > 0).to(p.dtype)
    return ((per_anchor * has).sum(-1) / has.sum(-1).clamp_min(1)).mean()


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate ``x`` (B, ...) from every process, keeping the autograd graph.

    Returns:
        ((W·B, ...), offset of this process's rows). Single process: (x, 0). Local batches must
        have equal size (drop_last). The backward sums each rank's gradients into the local
        slice; DDP's gradient averaging then yields the gradient of the global mean loss.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    try:  # torch >= 2.5: the functional collective; its backward reduce-scatters (sums) into each rank's slice
        from torch.distributed._functional_collectives import all_gather_tensor_autograd
    except ImportError:  # older torch: the (now deprecated) autograd all_gather, same gradient
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(x), 0), dist.get_rank() * x.shape[0]
    gathered = all_gather_tensor_autograd(x.contiguous(), gather_dim=0, group=dist.group.WORLD)
    return gathered, dist.get_rank() * x.shape[0]


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (B, ...) from every process (no gradient; e.g. dataset indices)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, 0)


class Stage1Loss(nn.Module):
    """Stage 1: ½(InfoNCE t→i + i→t) + image-image soft ranking, negatives gathered across processes.

    Args:
        infonce_weight, rank_weight: term weights (clip baseline: rank_weight=0, pos_threshold=None).
        pos_threshold: InfoNCE positive threshold (None = plain InfoNCE).
        infonce_temperature, gap, rank_pos_threshold, neg_threshold, margin, rank_temperature: §3.1 constants.
    """

    def __init__(self, infonce_weight: float = 1.0, rank_weight: float = 1.0,
                 pos_threshold: float | None = POS_THRESHOLD, infonce_temperature: float = INFONCE_T,
                 gap: float = GAP, rank_pos_threshold: float = POS_THRESHOLD, neg_threshold: float = NEG_THRESHOLD,
                 margin: float = MARGIN, rank_temperature: float = RANK_T):
        super().__init__()
        self.infonce_weight, self.rank_weight = infonce_weight, rank_weight
        self.pos_threshold, self.infonce_temperature = pos_threshold, infonce_temperature
        self.rank_kw = dict(gap=gap, pos_threshold=rank_pos_threshold, neg_threshold=neg_threshold, margin=margin,
                            temperature=rank_temperature)

    def forward(self, image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                sim: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """image, text: (B, D) L2-normalised local features; logit_scale: exp(θ);
        sim: (B, W·B) similarities of local rows vs gathered columns (symmetric table assumed,
        so the same block serves t→i and i→t). Returns dict(loss, infonce, rank)."""
        img_all, off = gather_with_grad(image)
        txt_all, _ = gather_with_grad(text)
        pos = torch.arange(image.shape[0], device=image.device) + off
        out = {}
        t2i = logit_scale * text @ img_all.T
        i2t = logit_scale * image @ txt_all.T
        out["infonce"] = 0.5 * (masked_infonce(t2i, sim, pos, self.pos_threshold, self.infonce_temperature)
                                + masked_infonce(i2t, sim, pos, self.pos_threshold, self.infonce_temperature))
        if self.rank_weight and sim is not None:
            out["rank"] = soft_ranking_loss(logit_scale * image @ img_all.T, sim, **self.rank_kw)
        else:
            out["rank"] = image.new_zeros(())
        out["loss"] = self.infonce_weight * out["infonce"] + self.rank_weight * out["rank"]
        return out
