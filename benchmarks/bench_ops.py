"""Benchmark radkit.ops against MONAI / faiss / torch anchors measured in the same run.

    python benchmarks/bench_ops.py [--n 500000] [--flat-n 100000] [--skip-topk] [--skip-ct] [--skip-flat]
    python benchmarks/bench_ops.py --gpu-only --n 1000000   # on a GPU machine: GPU rows and their anchors

Prints times (best of --repeat) and ratios. GPU rows run only when CUDA is available,
otherwise they print "not measured (no GPU)". ``--gpu-only`` skips the CPU rows (measured on
the 2-core development machine; a GPU machine's CPU is a different box).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

import numpy as np
import torch


def best(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def copy_bandwidth() -> float:
    """Device-to-device copy rate in bytes/s (bytes read + written) of a 2 GiB buffer: the roofline anchor."""
    x = torch.empty(1 << 30, dtype=torch.int16, device="cuda")
    y = torch.empty_like(x)
    t = best(lambda: y.copy_(x), 5)
    return 2 * x.numel() * x.element_size() / t


def cuda_event_ms(fn, n: int = 20) -> float:
    """Mean GPU time per call of ``fn`` over ``n`` back-to-back calls (CUDA events, after a warm-up)."""
    fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(n):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / n


def ct_kernel_ms(vol_cuda: torch.Tensor, affine: np.ndarray, kw: dict, n: int = 20) -> float:
    """GPU time (ms) of the CUDA ct_preprocess kernel alone on one (X, Y, Z) CUDA volume: geometry
    planned once, no Python argument checks (what the roofline is about)."""
    from radkit.ops import build
    from radkit.ops._geometry import plan_ct
    from radkit.ops.api import _ct_compiled

    ext = build.load("cuda")
    plan = plan_ct(tuple(vol_cuda.shape), affine, kw["target_spacing"], kw["out_shape"])
    lo, hi = kw["hu_window"]
    return cuda_event_ms(lambda: _ct_compiled(ext, vol_cuda[None], plan, 1.0, 0.0, lo, hi), n)


def ct_bytes(vol: torch.Tensor, out_shape) -> int:
    """The roofline's bytes: read the input once + write the float32 output once."""
    return vol.numel() * vol.element_size() + int(np.prod(out_shape)) * 4


def bench_ct_gpu(vol: torch.Tensor, affine: np.ndarray, chain, kw: dict, repeat: int) -> None:
    """GPU rows: MONAI's chain on the GPU vs the CUDA build, and the bandwidth roofline."""
    from monai.data import MetaTensor

    import radkit.ops as ops

    vg, mg = vol.cuda(), MetaTensor(vol[None].cuda(), affine=torch.as_tensor(affine))
    t_mg = best(lambda: chain(mg), repeat)
    t_g = best(lambda: ops.ct_preprocess(vg, **kw, backend="cuda"), repeat)
    ms_k = ct_kernel_ms(vg, affine, kw)
    bw = copy_bandwidth()
    moved = ct_bytes(vol, kw["out_shape"])
    print(f"  GPU MONAI Compose (CUDA tensors) {t_mg * 1e3:8.2f} ms")
    print(f"  GPU radkit cuda build (public op) {t_g * 1e3:8.2f} ms   MONAI/cuda = {t_mg / t_g:5.1f}x (target >= 5)")
    print(f"  GPU kernel alone (CUDA events)   {ms_k:8.3f} ms   {moved / (ms_k / 1e3) / 1e9:6.0f} GB/s effective "
          f"(input once + output once = {moved / 1e6:.0f} MB)")
    print(f"  GPU copy bandwidth (d2d, 2 GiB)  {bw / 1e9:8.0f} GB/s   kernel/roofline = "
          f"{moved / (ms_k / 1e3) / bw * 100:5.1f}% (target >= 60%); public op/roofline = "
          f"{moved / t_g / bw * 100:5.1f}%")


def bench_ct(repeat: int, gpu_only: bool = False) -> None:
    from monai.data import MetaTensor
    from monai.transforms import Compose, Orientation, ResizeWithPadOrCrop, ScaleIntensityRange, Spacing

    import radkit.ops as ops

    rng = np.random.default_rng(0)
    vol = torch.from_numpy(rng.integers(-1024, 2000, (512, 512, 200), dtype=np.int16))
    affine = np.diag([0.7, 0.7, 2.5, 1.0])
    kw = dict(affine=affine, target_spacing=(1.5, 1.5, 3.0), hu_window=(-1000, 1000), out_shape=(240, 240, 96))
    chain = Compose([Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
                     Spacing(pixdim=(1.5, 1.5, 3.0), mode="bilinear", padding_mode="border"),
                     ScaleIntensityRange(a_min=-1000, a_max=1000, b_min=0.0, b_max=1.0, clip=True),
                     ResizeWithPadOrCrop((240, 240, 96))])
    print("ct_preprocess 512x512x200 int16 (0.7x0.7x2.5 mm) -> 1.5x1.5x3 mm, [-1000, 1000] HU, 240x240x96")
    if gpu_only:
        if torch.cuda.is_available():
            bench_ct_gpu(vol, affine, chain, kw, repeat)
        else:
            print("  GPU rows: not measured (no GPU)")
        return
    meta = MetaTensor(vol[None], affine=torch.as_tensor(affine))
    ops.ct_preprocess(vol[:8, :8, :8], **kw, backend="cpu")  # build/load outside the timing
    t_read = best(lambda: vol.max(), repeat)
    t_monai = best(lambda: chain(meta), repeat)
    t_ref = best(lambda: ops.ct_preprocess(vol, **kw, backend="reference"), repeat)
    t_cpu = best(lambda: ops.ct_preprocess(vol, **kw, backend="cpu"), repeat)
    print(f"  read input once (vol.max()) {t_read * 1e3:8.1f} ms")
    print(f"  MONAI Compose               {t_monai * 1e3:8.1f} ms")
    print(f"  radkit reference (torch)    {t_ref * 1e3:8.1f} ms   MONAI/ref = {t_monai / t_ref:5.1f}x")
    print(f"  radkit cpu build            {t_cpu * 1e3:8.1f} ms   MONAI/cpu = {t_monai / t_cpu:5.1f}x (target >= 10)"
          f"   cpu/read = {t_cpu / t_read:5.1f}x (target <= 3)")
    if torch.cuda.is_available():
        bench_ct_gpu(vol, affine, chain, kw, repeat)
    else:
        print("  GPU rows: not measured (no GPU)")


def faiss_gpu_index(index):
    """A faiss GPU copy of ``index``, or (None, why not)."""
    try:
        import faiss
    except ImportError as e:
        return None, f"faiss not importable ({e})"
    if not hasattr(faiss, "StandardGpuResources"):
        return None, "the installed faiss has no GPU support (faiss-gpu wheels need CUDA 12's cuBLAS)"
    res = faiss.StandardGpuResources()
    return (res, faiss.index_cpu_to_gpu(res, 0, index)), ""


def bench_topk(n: int, d: int, k: int, repeat: int, gpu_only: bool = False) -> None:
    import radkit.ops as ops

    g = torch.Generator().manual_seed(0)
    db = torch.randn(n, d, generator=g)
    db /= db.norm(dim=1, keepdim=True)
    db_bf16 = db.to(torch.bfloat16)
    print(f"similarity_topk exact inner product, database {n} x {d}, k={k}")
    index = None
    try:
        import faiss

        if not gpu_only or hasattr(faiss, "StandardGpuResources"):
            index = faiss.IndexFlatIP(d)
            index.add(db.numpy())
    except ImportError:
        if not gpu_only:
            raise
    if not gpu_only:
        for nq in (1, 16, 256):
            q = torch.randn(nq, d, generator=g)
            q /= q.norm(dim=1, keepdim=True)
            qn = q.numpy()
            t_faiss = best(lambda: index.search(qn, k), repeat)
            t_torch = best(lambda: torch.topk(q @ db.T, k, dim=1), repeat)
            t_cpu = best(lambda: ops.similarity_topk(q, db, k, backend="cpu"), repeat)
            t_bf = best(lambda: ops.similarity_topk(q.to(torch.bfloat16), db_bf16, k, backend="cpu"),
                        max(1, repeat // 2))
            print(f"  Q={nq:<4} faiss {t_faiss * 1e3:8.1f} ms  torch mm+topk {t_torch * 1e3:8.1f} ms  "
                  f"cpu fp32 {t_cpu * 1e3:8.1f} ms  cpu bf16 {t_bf * 1e3:8.1f} ms  "
                  f"faiss/cpu = {t_faiss / t_cpu:4.2f}x  torch/cpu = {t_torch / t_cpu:4.2f}x")
    if not torch.cuda.is_available():
        print("  GPU rows (bf16 vs faiss-gpu / torch): not measured (no GPU)")
        return
    dbg, dbg16 = db.cuda(), db_bf16.cuda()
    gpu, why = faiss_gpu_index(index) if index is not None else (None, "no faiss GPU build importable")
    if gpu is None:
        print(f"  faiss-gpu: not measured ({why}); anchor = the faster torch mm + topk (fp32 or bf16)")
    for nq in (1, 16, 256):
        q = torch.randn(nq, d, generator=g)
        q = (q / q.norm(dim=1, keepdim=True)).cuda()
        q16 = q.to(torch.bfloat16)
        t_torch = best(lambda: torch.topk(q @ dbg.T, k, dim=1), repeat)
        t_torch16 = best(lambda: torch.topk((q16 @ dbg16.T).float(), k, dim=1), repeat)
        t_cuda = best(lambda: ops.similarity_topk(q16, dbg16, k, backend="cuda"), repeat)
        t_cuda32 = best(lambda: ops.similarity_topk(q, dbg, k, backend="cuda"), repeat)
        anchors = {"torch fp32": t_torch, "torch bf16": t_torch16}
        line = ""
        if gpu is not None:
            qn = q.cpu().numpy()
            anchors["faiss-gpu"] = best(lambda: gpu[1].search(qn, k), repeat)
            line = f"faiss-gpu {anchors['faiss-gpu'] * 1e3:7.3f} ms  "
        name = min(anchors, key=anchors.get)
        print(f"  GPU Q={nq:<4} {line}torch mm+topk fp32 {t_torch * 1e3:7.3f} ms  bf16 {t_torch16 * 1e3:7.3f} ms  "
              f"radkit cuda bf16 {t_cuda * 1e3:7.3f} ms  fp32 {t_cuda32 * 1e3:7.3f} ms  "
              f"faster anchor ({name})/radkit bf16 = {anchors[name] / t_cuda:4.2f}x (target >= 1.5)")


def bench_flat(n: int, d: int, k: int, repeat: int, gpu_only: bool = False) -> None:
    """FlatTopK (radkit.ops.flat_search) vs faiss IndexFlatIP, plain and IDSelectorBatch-filtered."""
    from radkit.ops import FlatTopK

    rng = np.random.default_rng(1)
    db = rng.standard_normal((n, d)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    allowed = rng.choice(n, size=n // 10, replace=False).astype(np.int64)
    print(f"FlatTopK vs faiss IndexFlatIP, {n} x {d} float32, k={k} (numpy in/out, as faiss)")
    if not gpu_only:
        import faiss

        index = faiss.IndexFlatIP(d)
        index.add(db)
        flat = FlatTopK(db)
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        for nq in (1, 16, 256):
            q = rng.standard_normal((nq, d)).astype(np.float32)
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            t_f = best(lambda: index.search(q, k), repeat)
            t_r = best(lambda: flat.search(q, k), repeat)
            t_ff = best(lambda: index.search(q, k, params=params), repeat)
            t_rf = best(lambda: flat.search(q, k, allowed_ids=allowed), repeat)
            print(f"  Q={nq:<4} faiss {t_f * 1e3:7.1f} ms  FlatTopK {t_r * 1e3:7.1f} ms  "
                  f"faiss/FlatTopK = {t_f / t_r:4.2f}x | 10% allowed ids: faiss {t_ff * 1e3:7.1f} ms  "
                  f"FlatTopK {t_rf * 1e3:7.1f} ms  faiss/FlatTopK = {t_ff / t_rf:4.2f}x")
    if torch.cuda.is_available():
        gflat = FlatTopK(torch.from_numpy(db).cuda().to(torch.bfloat16))
        for nq in (1, 16, 256):
            q = torch.from_numpy(rng.standard_normal((nq, d)).astype(np.float32)).cuda()
            t_g = best(lambda: gflat.search(q, k), repeat)
            t_gf = best(lambda: gflat.search(q, k, allowed_ids=allowed), repeat)
            print(f"  GPU Q={nq:<4} FlatTopK bf16 {t_g * 1e3:7.2f} ms | 10% allowed ids {t_gf * 1e3:7.2f} ms "
                  "(filtered search: no faiss-gpu counterpart)")
    else:
        print("  GPU rows: not measured (no GPU)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=500_000, help="database rows for similarity_topk")
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-ct", action="store_true")
    p.add_argument("--skip-topk", action="store_true")
    p.add_argument("--flat-n", type=int, default=100_000, help="database rows for the FlatTopK vs faiss rows")
    p.add_argument("--skip-flat", action="store_true")
    p.add_argument("--gpu-only", action="store_true", help="only the GPU rows and their GPU anchors")
    a = p.parse_args()
    date = subprocess.run(["date"], capture_output=True, text=True).stdout.strip()
    print(f"{date} | {platform.node()} | {platform.processor() or platform.machine()} | "
          f"torch threads {torch.get_num_threads()} | torch {torch.__version__}")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)} | CUDA {torch.version.cuda}")
    if not a.skip_ct:
        bench_ct(a.repeat, a.gpu_only)
    if not a.skip_topk:
        bench_topk(a.n, a.d, a.k, a.repeat, a.gpu_only)
    if not a.skip_flat:
        bench_flat(a.flat_n, a.d, a.k, a.repeat, a.gpu_only)


if __name__ == "__main__":
    main()
