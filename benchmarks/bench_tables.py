"""Benchmark: global lexicon similarity table (structure + blocked sparse products into a memmap).

Prints pairs per second and the ratio to an anchor measured in the same run: writing an
(N, N) float32 memmap from a dense matrix product of the same row blocks (the cost floor
of producing the table at all). Also prints the Spearman correlation between the lexicon
similarity and the one computed from the generator's ground-truth findings.

    python benchmarks/bench_tables.py --n 50000 --modality cxr
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--modality", default="cxr", choices=["cxr", "ct"])
    ap.add_argument("--block", type=int, default=1024)
    args = ap.parse_args()

    from scipy.stats import spearmanr

    from radkit.data.synth import synthesize_arrays
    from radkit.reports import tables as T
    from radkit.reports.similarity import LexiconFeatures, similarity_matrix, structure_all

    size = (16, 16) if args.modality == "cxr" else (16, 16, 16)
    _, studies = synthesize_arrays(args.modality, n=min(args.n, 500), seed=0, size=size)
    texts = [studies[i % len(studies)].report for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        reps = structure_all(texts, args.modality)
        t_struct = time.perf_counter() - t0
        mm, part = T.open_npy_for_write(Path(tmp) / "g.npy", args.n)
        t0 = time.perf_counter()
        similarity_matrix(reps, args.modality, out=mm, block=args.block)
        t_sim = time.perf_counter() - t0
        T.commit_npy(mm, part, Path(tmp) / "g.npy")
        # anchor: same output size, dense product of 64-dim features per block
        x = np.random.default_rng(0).random((args.n, 64), dtype=np.float32)
        mm2, part2 = T.open_npy_for_write(Path(tmp) / "a.npy", args.n)
        t0 = time.perf_counter()
        for s in range(0, args.n, args.block):
            mm2[s:s + args.block] = x[s:s + args.block] @ x.T
        t_anchor = time.perf_counter() - t0
        T.commit_npy(mm2, part2, Path(tmp) / "a.npy")
    pairs = args.n * args.n
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"N={args.n} structure {t_struct:.1f}s ({args.n / t_struct:.0f} reports/s); "
          f"similarity {t_sim:.1f}s ({pairs / t_sim:.3g} pairs/s); anchor dense {t_anchor:.1f}s; "
          f"ratio similarity/anchor {t_sim / t_anchor:.2f}; peak RSS {rss:.0f} MiB (includes page cache of the memmap)")
    m = len(studies)
    lex = similarity_matrix([s.report for s in studies], args.modality)
    from radkit.reports.matching import Sentence
    from radkit.reports.structure import Item, StructuredReport
    from radkit.reports.anatomy import ancestors
    ref_reps = []
    for s in studies:
        items = [Item(f.anatomy, f.finding, f.status, f.severity, f.change) for f in s.findings]
        anats = frozenset(a for f in s.findings for a in (f.anatomy, *ancestors(f.anatomy, args.modality)))
        ref_reps.append(StructuredReport("", args.modality, [Sentence("", (0, 0), anats)], items))
    ref = LexiconFeatures(ref_reps).block(0, m)
    iu = np.triu_indices(m, k=1)
    print(f"Spearman(lexicon, ground truth) on {m} synthetic reports: {spearmanr(lex[iu], ref[iu]).statistic:.3f}")


if __name__ == "__main__":
    main()
