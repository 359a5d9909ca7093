#!/usr/bin/env bash
# One device-machine run for the fused kernels: build the CUDA extension, run the GPU tests
# (CUDA numerics vs the pure-torch reference), the GPU rows of bench_ops.py and a kernel profile;
# TRAIN=1 adds benchmarks/gpu_train_check.py (alone: bash benchmarks/gpu_train_check.sh).
# Logs go to $OUT (the device tool's result folder) or ./gpu_check_out.
#
#   bash benchmarks/gpu_check.sh            # on a machine with python3 + torch + nvcc
#
# Packages missing there can travel as wheels in ./.whl (see the device tool's README).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export TORCH_EXTENSIONS_DIR=$PWD/.cache/torch_extensions MAX_JOBS=${MAX_JOBS:-16}
step() { echo "=== $1 ($(date +%T))"; }
{
  step env
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv
  nvcc --version | tail -2
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
  echo "libcublas.so.12 entries: $(ldconfig -p | grep -c 'libcublas.so.12')"
  step build
  timeout "${BUILD_S:-240}" python3 -c "from radkit.ops import build
print('cuda build s', round(build.build('cuda'), 1))
print('cpu build s', round(build.build('cpu'), 1))"
  step "pytest -m gpu"
  timeout "${TEST_S:-150}" python3 -m pytest -p no:cacheprovider -q -rs -m gpu \
    tests/ops tests/retrieval/test_flat_radkit.py tests/retrieval/test_index.py
  if [ "${TUNE:-1}" = 1 ]; then
    step tune
    timeout "${TUNE_S:-120}" python3 benchmarks/tune_ops_gpu.py --env-out "$OUT/best_env.sh" \
      && . "$OUT/best_env.sh" && echo "bench_ops runs with: $(tr '\n' ' ' < "$OUT/best_env.sh")"
  fi
  step bench_ops
  timeout "${BENCH_S:-170}" python3 benchmarks/bench_ops.py --gpu-only --n 1000000 --flat-n 1000000 --repeat 5
  if [ "${PROFILE:-0}" = 1 ]; then
    step profile
    timeout "${PROF_S:-60}" python3 benchmarks/profile_ops_gpu.py
  fi
  if [ "${NCU:-1}" = 1 ] && command -v ncu >/dev/null; then
    step "ncu topk_partial_kernel (Q=16)"
    timeout "${NCU_S:-60}" ncu --clock-control none -k regex:topk_partial -c 1 --section SpeedOfLight \
      --section WarpStateStats --section Occupancy python3 -c "import torch, radkit.ops as ops
db = torch.randn(1000000, 512, device='cuda').to(torch.bfloat16); q = torch.randn(16, 512, device='cuda').to(torch.bfloat16)
ops.similarity_topk(q, db, 10, backend='cuda'); torch.cuda.synchronize()"
  fi
  if [ "${TRAIN:-0}" = 1 ]; then
    step "gpu_train_check (RadIR + SFT, bf16-mixed, fsdp)"
    timeout "${TRAIN_S:-240}" python3 benchmarks/gpu_train_check.py
  fi
  step done
} 2>&1 | tee "$OUT/gpu_check.log"
