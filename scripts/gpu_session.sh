#!/usr/bin/env bash
# One device call: the Fig. 2 N_M = 256 column (issue 7) and packed vs one-by-one (issue 3) on a lent GPU.
# Usage on the device, from the repo root: bash scripts/gpu_session.sh FIG2_STEPS [FIG2_LIMIT_S]
# The Fig. 2 sweep checkpoints its pack every 60 s and is cut at FIG2_LIMIT_S (default 420 s); the store comes
# back with its checkpoint, so a later session resumes it: put the returned fig2_nm256.zarr.tgz in the repo root
# (untracked, carried) and call this script again with the same FIG2_STEPS.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 GPICL_PHASE_DATA=/tmp/gd
log="$out/gpu_session.log"
{
  nvidia-smi -L
  now() { python3 -c 'import time; print(time.time())'; }
  t0=$(now)
  [ -f fig2_nm256.zarr.tgz ] && tar xzf fig2_nm256.zarr.tgz -C /tmp && echo "resuming from the carried store"
  timeout "${2:-420}" python3 -m gpicl_phase sweep sweeps/gpu_fig2_nm256.toml --store /tmp/fig2_nm256.zarr \
    --set steps="${1:-30000}" --checkpoint-every 60 --quiet || echo "fig2 sweep cut or failed (exit $?)"
  t1=$(now); echo "fig2 wall_s $(python3 -c "print(round($t1 - $t0, 1))")"
  python3 -m gpicl_phase analyze /tmp/fig2_nm256.zarr --out "$out/fig2_nm256"
  tar czf "$out/fig2_nm256.zarr.tgz" -C /tmp fig2_nm256.zarr
  for pack in 32 1; do
    t0=$(now)
    python3 -m gpicl_phase sweep sweeps/pack_check.toml --store /tmp/pack$pack.zarr --max-pack $pack --quiet
    t1=$(now); echo "pack_check max_pack=$pack wall_s $(python3 -c "print(round($t1 - $t0, 1))")"
  done
  python3 - <<'PY'
import numpy as np
from gpicl_phase import store
a, b = store.load_results("/tmp/pack32.zarr"), store.load_results("/tmp/pack1.zarr")
for v in ("train_loss", "eval_acc"):
    x, y = a[v].values, b[v].values
    print(v, "max abs diff packed vs one-by-one:", float(np.nanmax(np.abs(x - y))))
print("wall_time per run (s): packed", float(a.wall_time.mean()), "one-by-one", float(b.wall_time.mean()))
PY
} 2>&1 | tee "$log"
