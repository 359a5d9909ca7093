"""Benchmark: global lexicon similarity table (structure + tiled float32 products into a memmap).

Issue 3 target: the global lexicon table of 50,000 reports in under 5 minutes on 2 cores
with under 4 GB resident memory beyond the memory-mapped output. Prints pairs per second,
the projected 50k time and its ratio to the 5-minute target, peak memory (anonymous =
process memory; file-backed = pages of the memory-mapped output, reclaimable page cache),
and the ratio to an anchor measured in the same run: writing an (N, N) float32 memmap from
a dense 64-dim matrix product of the same row blocks (the cost floor of producing the
table at all). Also prints the Spearman correlation between the lexicon similarity and the
one computed from the generator's ground-truth findings (global and mean per anatomy).

    python benchmarks/bench_tables.py --n 50000 --modality cxr
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

TARGET_S, TARGET_N = 300.0, 50_000


class PeakMemory:
    """Samples /proc/self/status (RssAnon, RssFile, in MiB) in a thread; keeps the peaks."""

    def __init__(self, every: float = 0.1) -> None:
        self.peak = {"RssAnon": 0.0, "RssFile": 0.0}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in self.peak:
                self.peak[k] = max(self.peak[k], int(v.split()[0]) / 1024)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self._sample()


def synthetic_texts(modality: str, n: int, seed: int = 0) -> list[str]:
    """N synthetic report texts (no images rendered)."""
    from radkit.data.synth_findings import plan_cohort
    from radkit.data.synth_reports import write_report

    return [write_report(p)[0] for p in plan_cohort(modality, n, seed)]


def agreement(modality: str, m: int = 500) -> tuple[float, float]:
    """Spearman(lexicon, ground truth) on m synthetic studies: global and mean per anatomy."""
    from scipy.stats import spearmanr

    from radkit.data.synth_findings import plan_cohort
    from radkit.data.synth_reports import write_report
    from radkit.reports.agreement import per_anatomy_spearman, truth_reports
    from radkit.reports.similarity import similarity_matrix, structure_all

    texts, truth = zip(*(write_report(p) for p in plan_cohort(modality, m, 1)))
    reps, ref_reps = structure_all(texts, modality), truth_reports(truth, modality)
    iu = np.triu_indices(m, k=1)
    rho = spearmanr(similarity_matrix(reps, modality)[iu], similarity_matrix(ref_reps, modality)[iu]).statistic
    per = per_anatomy_spearman(reps, ref_reps, modality)
    return float(rho), float(np.mean(list(per.values())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--modality", default="cxr", choices=["cxr", "ct"])
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--dtype", default="float32", choices=["float32", "uint8"])
    ap.add_argument("--tmp", default=None, help="folder for the memory-mapped outputs (default: system temp)")
    args = ap.parse_args()

    from radkit.reports.lexicon_features import LexiconFeatures
    from radkit.reports.similarity import structure_all

    print(f"load average before: {os.getloadavg()}")
    texts = synthetic_texts(args.modality, args.n)
    t0 = time.perf_counter()
    reps = structure_all(texts, args.modality)
    t_struct = time.perf_counter() - t0
    n, pairs = args.n, args.n * args.n
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp, PeakMemory() as mem:
        out = np.lib.format.open_memmap(Path(tmp) / "g.npy", mode="w+", dtype=args.dtype, shape=(n, n))
        t0 = time.perf_counter()
        feats = LexiconFeatures(reps)
        t_feat = time.perf_counter() - t0
        feats.fill(out, block=args.block, workers=args.workers)
        out.flush()
        t_sim = time.perf_counter() - t0
        del out
        (Path(tmp) / "g.npy").unlink()  # frees the disk and page cache before the anchor
        anchor_mem = dict(mem.peak)
        x = np.random.default_rng(0).random((n, 64), dtype=np.float32)
        out2 = np.lib.format.open_memmap(Path(tmp) / "a.npy", mode="w+", dtype=np.float32, shape=(n, n))
        t0 = time.perf_counter()
        for s in range(0, n, args.block):
            np.matmul(x[s:s + args.block], x.T, out=out2[s:s + args.block])
        out2.flush()
        t_anchor = time.perf_counter() - t0
        del out2
    rate = pairs / t_sim
    # features are O(N), pairs O(N^2): project each with its own exponent
    proj = t_feat * TARGET_N / n + (t_sim - t_feat) * (TARGET_N / n) ** 2
    print(f"N={n} ({feats.n_unique} unique feature sets) {args.modality} dtype={args.dtype} "
          f"workers={args.workers or 'auto'} block={args.block}")
    print(f"structure {t_struct:.1f}s ({n / t_struct:.0f} reports/s, "
          f"projected {TARGET_N / (n / t_struct):.0f}s at 50k)")
    print(f"similarity table {t_sim:.1f}s (features {t_feat:.1f}s): {rate:.3g} pairs/s; "
          f"projected 50k table {proj:.0f}s = {proj / TARGET_S:.2f} x the 5-minute target")
    print(f"anchor dense 64-dim product into memmap {t_anchor:.1f}s; ratio similarity/anchor {t_sim / t_anchor:.2f}")
    print(f"peak anonymous RSS {anchor_mem['RssAnon']:.0f} MiB (target < 4096); peak file-backed RSS "
          f"{anchor_mem['RssFile']:.0f} MiB (memmap output pages, reclaimable)")
    print(f"load average after: {os.getloadavg()}")
    rho, rho_anat = agreement(args.modality)
    print(f"Spearman(lexicon, ground truth) on 500 synthetic reports: global {rho:.3f}, "
          f"mean per anatomy {rho_anat:.3f}")


if __name__ == "__main__":
    main()
