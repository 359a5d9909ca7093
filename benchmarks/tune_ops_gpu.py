"""Tune the CUDA ops' launch knobs on the GPU at hand and print the best setting.

    python benchmarks/tune_ops_gpu.py [--n 1000000] [--env-out best_env.sh]

Knobs (read by the CUDA launchers at each call, defaults in cuda_kernels/): RADKIT_CT_PLANES
(output x planes per thread), RADKIT_TOPK_SOFT (pending takes that trigger a flush),
RADKIT_TOPK_VMAX (candidates per thread and step), RADKIT_TOPK_SPLIT (blocks per SM for few
queries). Every candidate is timed against the same anchors (torch bf16 mm + topk; copy
bandwidth) in this run; the chosen setting maximises the worst ratio over Q = 1, 16, 256.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ops import best, copy_bandwidth, ct_bytes, ct_kernel_ms  # noqa: E402

import radkit.ops as ops  # noqa: E402


def tune_ct() -> int:
    vol = torch.randint(-1024, 2000, (512, 512, 200), dtype=torch.int16, device="cuda")
    kw = dict(target_spacing=(1.5, 1.5, 3.0), hu_window=(-1000.0, 1000.0), out_shape=(240, 240, 96))
    affine = np.diag([0.7, 0.7, 2.5, 1.0])
    bw = copy_bandwidth()
    moved = ct_bytes(vol, kw["out_shape"])
    res = {}
    for planes in (1, 2, 4, 8):
        os.environ["RADKIT_CT_PLANES"] = str(planes)
        ms = ct_kernel_ms(vol, affine, kw, 50)
        res[planes] = ms
        print(f"ct planes={planes}: kernel {ms * 1e3:6.1f} us  roofline {moved / (ms / 1e3) / bw * 100:5.1f}%")
    return min(res, key=res.get)


def tune_topk(n: int, d: int, k: int) -> dict:
    g = torch.Generator(device="cuda").manual_seed(0)
    db = torch.nn.functional.normalize(torch.randn(n, d, device="cuda", generator=g), dim=1).to(torch.bfloat16)
    qs = {nq: torch.nn.functional.normalize(torch.randn(nq, d, device="cuda", generator=g), dim=1).to(torch.bfloat16)
          for nq in (1, 16, 256)}
    anchor = {nq: best(lambda: torch.topk((q @ db.T).float(), k, dim=1), 10) for nq, q in qs.items()}
    print("torch bf16 mm+topk anchors (ms): " + "  ".join(f"Q={nq} {t * 1e3:.3f}" for nq, t in anchor.items()))
    results = []
    for soft, vmax, split in itertools.product((64, 256, 1024), (2, 4, 8), (2, 4, 8)):
        os.environ.update(RADKIT_TOPK_SOFT=str(soft), RADKIT_TOPK_VMAX=str(vmax), RADKIT_TOPK_SPLIT=str(split))
        ratios = {nq: anchor[nq] / best(lambda: ops.similarity_topk(q, db, k, backend="cuda"), 10)
                  for nq, q in qs.items()}
        results.append((min(ratios.values()), soft, vmax, split, ratios))
        print(f"soft={soft:<5} vmax={vmax} split={split}: " + "  ".join(f"Q={nq} {r:4.2f}x" for nq, r in ratios.items()))
    results.sort(key=lambda r: -r[0])
    _, soft, vmax, split, ratios = results[0]
    print(f"best topk: soft={soft} vmax={vmax} split={split} ({', '.join(f'Q={q} {r:.2f}x' for q, r in ratios.items())})")
    return {"RADKIT_TOPK_SOFT": soft, "RADKIT_TOPK_VMAX": vmax, "RADKIT_TOPK_SPLIT": split}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--env-out", default=None, help="write the best setting as shell exports here")
    a = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: tuning needs a GPU")
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    env = {"RADKIT_CT_PLANES": tune_ct(), **tune_topk(a.n, a.d, a.k)}
    line = " ".join(f"{k}={v}" for k, v in env.items())
    print(f"best: {line}")
    if a.env_out:
        Path(a.env_out).write_text("".join(f"export {k}={v}\n" for k, v in env.items()))


if __name__ == "__main__":
    main()
