#!/usr/bin/env bash
# Benchmarks 1, 2, 3, 5 and 8-11 on one GPU (H100/H200), in under 8 minutes, results in one JSON file:
# task generation (1), the JAX step across sizes (2), packing (3), compile share (5),
# runs/hour by pack size (8), bfloat16 vs float32, fused vs reference attention, compile cold/warm (9), and
# a projection of sweeps/paper_fig2.toml's wall time from sampled model sizes (10), and PyTorch's step
# (eager, torch.compile, bf16 autocast) on the same GPU beside ours (11).
#
#   bash benchmarks/gpu_check.sh [RESULTS_JSON]      # default: $OUT/gpu_results.json, else ./gpu_results.json
#   LIMIT_SCALE=3 QUICK=1 bash benchmarks/gpu_check.sh /tmp/try.json    # a dry run on a CPU: small sizes
#
# For a machine with Python 3.12 and jax (CUDA) and torch preinstalled and no internet: nothing is fetched;
# the repository goes on PYTHONPATH. Packages it lacks travel as wheels: `bash benchmarks/fetch_wheels.sh`
# here (with internet) fills benchmarks/wheels/ (git-ignored; carry it to the GPU machine), and this script
# unpacks them into a temporary folder on PYTHONPATH, without pip touching the machine's own packages.
# optax is required by the engine; xarray/zarr (store, sweeps) and torch (the PyTorch step) are optional:
# what lacks them becomes an "error"/skip row naming the package.
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
if compgen -G "benchmarks/wheels/*.whl" > /dev/null; then
  SITE=$(mktemp -d)
  for whl in benchmarks/wheels/*.whl; do   # a wheel is a zip of an installed package: unpacking installs it
    $PY -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$whl" "$SITE"
  done
  export PYTHONPATH=$PYTHONPATH:$SITE   # after the repository; the machine's own packages still win
  echo "wheels from benchmarks/wheels unpacked into $SITE"
fi

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
  timeout --signal=INT --kill-after=15 "$limit" $PY benchmarks/run_all.py --gpu ${QUICK:+--quick} --only "$n" --out "$part" \
    || echo "benchmark $n: exit $? (timeout 124/130: cut at ${limit}s; partial rows kept if any)"
  parts+=("$part")
}
run_part 1 25
run_part 2 75
run_part 3 40
run_part 5 45
run_part 8 80
run_part 9 80
run_part 10 65
run_part 11 55

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
