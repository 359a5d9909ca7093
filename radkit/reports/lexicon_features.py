"""Fast pairwise lexicon similarity: deduplicated reports, dense float32 tiles, threads.

Computes exactly the score defined in `radkit.reports.similarity` (channel Dice overlaps
minus the contradiction penalty), but arranged for speed and bounded memory:

- Reports with identical feature sets (positive items and stated negations; e.g. the
  many normal reports of a real corpus) are computed once: rows and columns are the U unique feature sets, and each output
  row block is scattered back to the N reports with one gather.
- The weighted Dice sum of channel c, ``2 w_c |A∩B| / (|A| + |B|)``, is one float32
  matrix product of (weighted) incidence matrices followed by an in-place divide by the
  outer sum of key counts. Channels whose key counts are always equal share one product:
  ``exact`` and ``item`` have one key each per resolved (anatomy, finding), so they are
  folded into one product. The conflict count ``P_a·A_b + A_a·P_b`` is one product of
  ``[P, A]`` with ``[A, P]``, divided by the positive-item counts ``#pos_a + #pos_b``.
  That is 5 products per tile instead of 7 sparse ones.
- A channel that is empty for a report gets one extra "empty" key, so two empty sets
  have Dice 2·1/(1+1) = 1 (the convention) with no special case; the penalty denominator
  carries a tiny epsilon so 0/0 gives 0.
- Work is done in (rows x columns) tiles small enough for the L2 cache, all ops in
  place; row blocks run on a thread pool (numpy and BLAS release the GIL) with BLAS
  limited to one thread per worker, so both cores stay busy in the elementwise part too.

Memory: the features are (U, K) float32 with K a few hundred; each worker holds two
(block, N) float32 buffers. The (N, N) output itself is written block by block to the
caller's array (e.g. a memory-mapped .npy), never held in memory.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from radkit.reports.structure import StructuredReport

_EPS = np.float32(1e-30)  # makes 0/0 -> 0 in the penalty; vanishes in float32 next to any count >= 1


def _dense(key_sets: Sequence[set], vocab: dict, width: int | None = None, empty_key: bool = True) -> np.ndarray:
    """(len(key_sets), K) float32 0/1 incidence; reports with no key get the "empty" column."""
    for keys in key_sets:
        for k in keys:
            vocab.setdefault(k, len(vocab))
    k_empty = len(vocab)
    width = width if width is not None else k_empty + int(empty_key)
    m = np.zeros((len(key_sets), width), dtype=np.float32)
    for i, keys in enumerate(key_sets):
        if keys:
            m[i, [vocab[k] for k in keys]] = 1.0
        elif empty_key:
            m[i, k_empty] = 1.0
    return m


class LexiconFeatures:
    """Feature matrices of N structured reports for the lexicon similarity.

    Attributes:
        n: number of reports N.
        inv: (N,) int64, index of each report's unique feature set.
        n_unique: number of unique feature sets U.
        groups: list of (L, R, counts): L (U, K) float32 incidence scaled by the channel
            weight (and 2 for Dice, or -CONTRADICTION for the penalty), R (U, K) float32
            0/1 incidence, counts (U,) float32 key counts (the Dice denominator terms).
    """

    def __init__(self, reports: Sequence[StructuredReport]) -> None:
        from radkit.reports.similarity import CONTRADICTION, WEIGHTS, lexicon_keys

        self.n = len(reports)
        keys = [lexicon_keys(r) for r in reports]
        # exact keys (positive items) determine every Dice channel; stated negations
        # (for the penalty) are the only other input
        sigs: dict = {}
        self.inv = np.fromiter((sigs.setdefault((frozenset(k["exact"]), frozenset(k["absent"])), len(sigs))
                                for k in keys), dtype=np.int64, count=self.n)
        first = np.full(len(sigs), -1, dtype=np.int64)
        first[self.inv[::-1]] = np.arange(self.n - 1, -1, -1)
        self.n_unique = len(sigs)
        self._identity = self.n_unique == self.n  # first-seen numbering: then inv == arange(n)
        uk = [keys[i] for i in first]
        total = float(sum(WEIGHTS.values()))
        w = {c: np.float32(2.0 * WEIGHTS[c] / total) for c in WEIGHTS}
        self.groups = []
        ex, it = _dense([k["exact"] for k in uk], {}), _dense([k["item"] for k in uk], {})
        self.groups.append((np.hstack([w["exact"] * ex, w["item"] * it]), np.hstack([ex, it]),
                            ex.sum(axis=1)))  # == it.sum(axis=1): one key each per resolved item
        for c in ("region", "positive", "anatomy"):
            m = _dense([k[c] for k in uk], {})
            self.groups.append((w[c] * m, m, m.sum(axis=1)))
        vocab: dict = {}
        _dense([k["present"] | k["absent"] for k in uk], vocab, empty_key=False)
        p = _dense([k["present"] for k in uk], vocab, len(vocab), empty_key=False)
        a = _dense([k["absent"] for k in uk], vocab, len(vocab), empty_key=False)
        self.groups.append((np.float32(-CONTRADICTION) * np.hstack([p, a]), np.hstack([a, p]),
                            np.float32([len(k["positive"]) for k in uk]) + _EPS))

    def unique_rows(self, rows: np.ndarray, out: np.ndarray | None = None, tile: int = 1024) -> np.ndarray:
        """Similarity of unique feature sets ``rows`` against all U: (len(rows), U) float32 in [0, 1]."""
        u = self.n_unique
        out = np.empty((len(rows), u), dtype=np.float32) if out is None else out
        left = [(lm[rows], cnt[rows][:, None]) for lm, _, cnt in self.groups]
        tmp = np.empty((len(rows), min(tile, u)), dtype=np.float32)
        den = np.empty_like(tmp)
        for j0 in range(0, u, tile):
            j1 = min(j0 + tile, u)
            acc, t, d = out[:, j0:j1], tmp[:, :j1 - j0], den[:, :j1 - j0]
            for g, ((lm, lc), (_, rm, rc)) in enumerate(zip(left, self.groups)):
                dst = acc if g == 0 else t
                np.matmul(lm, rm[j0:j1].T, out=dst)
                np.add(lc, rc[None, j0:j1], out=d)
                np.divide(dst, d, out=dst)
                if g:
                    np.add(acc, t, out=acc)
            np.clip(acc, 0.0, 1.0, out=acc)
        return out

    def block(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Similarity of reports ``start:stop`` against all N: (stop - start, N) float32 in [0, 1].

        ``out`` (optional, (stop - start, N) float32, e.g. rows of a memmap) receives the
        result directly: the scatter from unique columns to reports writes into it.
        """
        ur, rpos = np.unique(self.inv[start:stop], return_inverse=True)
        ub = self.unique_rows(ur)
        if self._identity:  # no duplicates: unique order is report order
            if out is None:
                return ub
            out[...] = ub
            return out
        if len(ur) != stop - start or not np.array_equal(ur, self.inv[start:stop]):
            ub = ub[rpos]
        out = np.empty((stop - start, self.n), dtype=np.float32) if out is None else out
        return np.take(ub, self.inv, axis=1, out=out, mode="clip")  # "clip": unbuffered; indices are valid

    def fill(self, out: np.ndarray, block: int = 256, workers: int | None = None,
             on_block: Callable[[int], None] | None = None) -> np.ndarray:
        """Write the full (N, N) table into ``out`` row block by row block.

        Args:
            out: (N, N) float32 array (e.g. memory-mapped .npy), or uint8 for percent
                quantisation ``round(100 * S)`` as the RadIR loaders store it.
            block: rows per block; each worker holds about 2 x block x N x 4 bytes.
            workers: threads (default: CPU count, at most 8).
            on_block: called with the number of rows after each finished block (progress).

        Returns:
            ``out``.
        """
        from threadpoolctl import threadpool_limits

        if out.shape != (self.n, self.n) or out.dtype not in (np.float32, np.uint8):
            raise ValueError(f"out is {out.dtype} {out.shape}; expected float32 or uint8 of shape "
                             f"({self.n}, {self.n}) for {self.n} reports")
        workers = workers or min(os.cpu_count() or 1, 8)
        quant = out.dtype == np.uint8

        def run(s: int) -> None:
            e = min(s + block, self.n)
            if not quant:
                self.block(s, e, out=out[s:e])
            else:
                res = self.block(s, e)
                np.multiply(res, 100.0, out=res)
                np.rint(res, out=res)
                out[s:e] = res
            if on_block is not None:
                on_block(e - s)

        starts = range(0, self.n, block)
        if workers == 1:
            for s in starts:
                run(s)
            return out
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as ex:
            for _ in ex.map(run, starts):
                pass
        return out
