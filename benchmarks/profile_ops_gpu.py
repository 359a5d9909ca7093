"""Where the GPU time of radkit's CUDA ops goes (torch.profiler kernel table), for tuning.

    python benchmarks/profile_ops_gpu.py [--n 1000000]

Needs a CUDA device; prints one table per op call (CUDA time per kernel).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

import radkit.ops as ops


def table(title: str, fn, calls: int = 5) -> None:
    """Run ``fn`` once to warm up, then ``calls`` times under the profiler; print the kernel table."""
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    print(f"== {title} ({calls} calls)")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=8, max_name_column_width=60))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=10)
    a = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this profile needs a GPU")
    vol = torch.randint(-1024, 2000, (512, 512, 200), dtype=torch.int16, device="cuda")
    kw = dict(affine=np.diag([0.7, 0.7, 2.5, 1.0]), target_spacing=(1.5, 1.5, 3.0), out_shape=(240, 240, 96))
    table("ct_preprocess 512x512x200 -> 240x240x96", lambda: ops.ct_preprocess(vol, **kw, backend="cuda"))
    db = torch.nn.functional.normalize(torch.randn(a.n, a.d, device="cuda"), dim=1).to(torch.bfloat16)
    for nq in (1, 16, 256):
        q = torch.nn.functional.normalize(torch.randn(nq, a.d, device="cuda"), dim=1).to(torch.bfloat16)
        table(f"similarity_topk bf16 Q={nq} N={a.n} k={a.k}", lambda: ops.similarity_topk(q, db, a.k, backend="cuda"))


if __name__ == "__main__":
    main()
