"""Anatomy group sampling for the conditional stage (SPEC_RADIR §3.3).

Each draw picks one anatomy with probability ∝ round(ln n_a), then builds a group of
N samples from ⌊N/4⌋ (+1 if N mod 4 > 1) positive pairs (S > τ_pos) and ⌊N/4⌋
negative pairs (S < τ_neg; τ_neg = 1 is reset to τ_pos) from the upper triangle of
S^a, random pairs filling any shortfall, plus one random sample when N is odd.
"""

from __future__ import annotations

import heapq
import math

import numpy as np


class AnatomyGroupSampler:
    """Draws (anatomy, row indices) groups from per-anatomy similarity tables.

    Args:
        tables: anatomy -> (N_a, N_a) similarity (float in [0, 1] or uint8 percent).
        group_size: N, samples per group.
        pos_threshold, neg_threshold: τ_pos, τ_neg of the pair draws.
    """

    def __init__(self, tables: dict[str, np.ndarray], group_size: int, pos_threshold: float = 0.75,
                 neg_threshold: float = 1.0):
        if group_size < 2:
            raise ValueError(f"group_size={group_size}; a ranking group needs at least 2 samples")
        self.group_size = group_size
        self.anatomies, self.pos, self.neg, self.n, w = [], {}, {}, {}, []
        tau_neg = pos_threshold if neg_threshold >= 1.0 else neg_threshold
        for name, s in sorted(tables.items()):
            s = s.astype(np.float32) / 100.0 if s.dtype == np.uint8 else np.asarray(s, np.float32)
            n = s.shape[0]
            weight = round(math.log(n)) if n > 1 else 0
            if weight <= 0:
                continue
            iu, ju = np.triu_indices(n, k=1)
            vals = s[iu, ju]
            self.anatomies.append(name)
            self.pos[name] = np.stack([iu, ju], 1)[vals > pos_threshold]
            self.neg[name] = np.stack([iu, ju], 1)[vals < tau_neg]
            self.n[name] = n
            w.append(weight)
        if not self.anatomies:
            raise ValueError("no anatomy table has more than 1 sample; nothing to sample conditional groups from")
        self.probs = np.asarray(w, np.float64) / sum(w)

    def _pairs(self, rng: np.random.Generator, cand: np.ndarray, k: int, n: int) -> np.ndarray:
        take = cand[rng.choice(len(cand), size=min(k, len(cand)), replace=False)] if len(cand) else cand[:0]
        if len(take) < k:  # too few candidates: random distinct pairs
            extra = np.stack([rng.choice(n, size=2, replace=False) for _ in range(k - len(take))])
            take = np.concatenate([take.reshape(-1, 2), extra])
        return take

    def draw(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """One group: (anatomy, (N,) row indices into that anatomy's table)."""
        a = self.anatomies[rng.choice(len(self.anatomies), p=self.probs)]
        n, g = self.n[a], self.group_size
        n_pos = g // 4 + (1 if g % 4 > 1 else 0)
        idx = np.concatenate([self._pairs(rng, self.pos[a], n_pos, n).reshape(-1),
                              self._pairs(rng, self.neg[a], g // 4, n).reshape(-1)])
        if g % 2:
            idx = np.append(idx, rng.integers(n))
        return a, idx.astype(np.int64)


def assign_anatomies(counts: dict[str, int], world_size: int) -> list[list[str]]:
    """Anatomies per rank: round-robin when ranks >= anatomies, else greedy onto the least-loaded rank
    (largest anatomies first)."""
    names = sorted(counts, key=lambda a: (-counts[a], a))
    if world_size >= len(names):
        return [[names[r % len(names)]] for r in range(world_size)]
    heap = [(0, r) for r in range(world_size)]
    out: list[list[str]] = [[] for _ in range(world_size)]
    for a in names:
        load, r = heapq.heappop(heap)
        out[r].append(a)
        heapq.heappush(heap, (load + counts[a], r))
    return out
