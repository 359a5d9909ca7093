"""Benchmark: time to synthesise 1000 CXR studies (PNG + manifest); target < 60 s on 2 cores.

Also times CT volumes: default 64x64x48 NIfTI studies, and 512x512x200 volumes in memory
(target: a few seconds each; anchor: drawing the volume's noise alone).
Usage: python benchmarks/bench_synth.py [--n 1000] [--ct 20] [--ct-large 200]
Prints the measured time and its ratio to the target (< 1.0 means within target).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np

from radkit.data.synth import generate_study, synthesize

TARGET_S_PER_1000_CXR = 60.0
TARGET_S_CT_LARGE = 5.0  # "a few seconds" per 512x512x200 benchmark volume


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped workers (robust to a busy shared machine)."""
    return sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime
               for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000, help="number of CXR studies")
    ap.add_argument("--ct", type=int, default=20, help="number of default-size CT studies (0: skip)")
    ap.add_argument("--ct-large", type=int, default=200, help="slices of the 512x512xN CT volumes (0: skip)")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t, c = time.perf_counter(), _cpu_s()
        synthesize(f"{tmp}/cxr", "cxr", n=args.n, seed=0, progress=False)
        dt, cpu = time.perf_counter() - t, _cpu_s() - c
        scaled = dt * 1000 / args.n
        # on a shared machine wall time depends on other load; CPU seconds / 2 estimates 2 idle cores
        idle2 = cpu * 1000 / args.n / min(2, os.cpu_count() or 1)
        print(f"cxr png: {args.n} studies in {dt:.1f} s wall, {cpu:.1f} CPU s "
              f"(load {load0:.1f} before, {os.getloadavg()[0]:.1f} after); "
              f"1000 studies: wall {scaled:.1f} s (ratio to {TARGET_S_PER_1000_CXR:.0f} s target "
              f"{scaled / TARGET_S_PER_1000_CXR:.2f}), 2 idle cores ~ {idle2:.1f} s "
              f"(ratio {idle2 / TARGET_S_PER_1000_CXR:.2f})")
        if args.ct:
            t = time.perf_counter()
            synthesize(f"{tmp}/ct", "ct", n=args.ct, seed=0, progress=False)
            dt = time.perf_counter() - t
            print(f"ct nifti 64x64x48: {args.ct} studies in {dt:.1f} s ({1000 * dt / args.ct:.0f} ms/study)")
    if args.ct_large:
        size = (512, 512, args.ct_large)
        t, c = time.perf_counter(), time.process_time()
        np.random.default_rng(0).standard_normal(size, dtype=np.float32)  # anchor: the output's noise alone
        anchor, anchor_cpu = time.perf_counter() - t, time.process_time() - c
        for i in range(2):
            t, c = time.perf_counter(), time.process_time()
            generate_study(np.random.default_rng(i), "ct", size=size)
            dt, cpu = time.perf_counter() - t, time.process_time() - c
            print(f"ct {size[0]}x{size[1]}x{size[2]} in memory (slab render): {dt:.1f} s wall, {cpu:.1f} CPU s "
                  f"(load {os.getloadavg()[0]:.1f}); ratio to {TARGET_S_CT_LARGE:.0f} s target "
                  f"{dt / TARGET_S_CT_LARGE:.2f}; "
                  f"{dt / anchor:.1f}x the time to draw its noise alone ({anchor:.2f} s wall, {anchor_cpu:.2f} CPU s)")

if __name__ == "__main__":
    main()
