#!/usr/bin/env bash
# Benchmarks 1-5 on one GPU (H100/H200), in under 8 minutes, results in one JSON file.
#
#   bash benchmarks/gpu_check.sh [RESULTS_JSON]      # default: $OUT/gpu_results.json, else ./gpu_results.json
#
# For a machine with Python 3.12 and jax (CUDA) preinstalled and no internet: nothing is installed; the
# repository goes on PYTHONPATH. optax is required by the engine; xarray/zarr (store, sweeps) and torch
# (the per-sample loader) are optional: what lacks them becomes an "error"/skip row naming the package.
# Each benchmark has its own time limit so one slow part cannot eat the others; the JSON is rewritten after
# each one, so a cut-short run still reports what it measured.
set -u
cd "$(dirname "$0")/.."
RESULTS=${1:-${OUT:-.}/gpu_results.json}
mkdir -p "$(dirname "$RESULTS")"
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export XLA_PYTHON_CLIENT_PREALLOCATE=false   # the task bank and the packed grid size their own memory
start=$(date +%s)

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
$PY - <<'EOF'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("jax", "jaxlib", "optax", "numpy", "xarray", "zarr", "torch", "psutil", "tqdm"):
    try:
        print(f"  {name:8s}", getattr(importlib.import_module(name), "__version__", "?"))
    except Exception as err:
        print(f"  {name:8s} MISSING ({type(err).__name__}: {err})")
import jax
print("devices:", jax.devices())
EOF

# One benchmark at a time, each into its own part file, merged at the end (budget in seconds each).
parts=()
run_part() {  # number, seconds (times LIMIT_SCALE, for trying this script out on a CPU)
  local n=$1 limit part="${RESULTS%.json}.part$1.json"
  limit=$(awk -v s="$2" -v f="${LIMIT_SCALE:-1}" 'BEGIN { printf "%d", s * f }')
  echo "== benchmark $n (limit ${limit}s, $(( $(date +%s) - start ))s elapsed)"
  timeout --signal=INT --kill-after=15 "$limit" $PY benchmarks/run_all.py --gpu --only "$n" --out "$part" \
    || echo "benchmark $n: exit $? (timeout 124/130: cut at ${limit}s; partial rows kept if any)"
  parts+=("$part")
}
run_part 1 60
run_part 2 130
run_part 3 80
run_part 4 70
run_part 5 100

$PY - "$RESULTS" "${parts[@]}" <<'EOF'
import json, sys
out, parts = sys.argv[1], sys.argv[2:]
merged = {"rows": [], "parts": {}}
for p in parts:
    try:
        d = json.load(open(p))
    except (OSError, ValueError) as err:
        merged["parts"][p] = f"no results ({err})"
        continue
    merged.setdefault("machine", d.get("machine"))
    merged.setdefault("packages", d.get("packages"))
    merged["parts"][p] = d.get("bench_seconds")
    merged["rows"] += d["rows"]
json.dump(merged, open(out, "w"), indent=1)
sys.path.insert(0, "benchmarks")
import common
print(common.table(merged["rows"]))
print("wrote", out)
EOF
rm -f "${parts[@]}"
echo "total $(( $(date +%s) - start ))s"
