#!/usr/bin/env bash
# One device-machine run of the GPU training check (benchmarks/gpu_train_check.py): RadIR train() and
# the reasoner SFT with bf16-mixed on the GPU, and with FSDP on one device. Under 150 s on an H200.
# Needs monai + nibabel there (wheels in ./.whl, see the device tool's README); log in $OUT.
#
#   bash benchmarks/gpu_train_check.sh         # TRAIN_S (default 180) bounds the python run
set -uo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
whl=$(compgen -G ".whl/monai-*.whl"; compgen -G ".whl/nibabel-*.whl")  # the two the check needs
if [ -n "$whl" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{
  echo "=== gpu_train_check ($(date +%T))"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  timeout "${TRAIN_S:-180}" python3 benchmarks/gpu_train_check.py "$@"
  rc=$?
  echo "=== exit $rc ($(date +%T))"
  exit $rc
} 2>&1 | tee "$OUT/gpu_train_check.log"
