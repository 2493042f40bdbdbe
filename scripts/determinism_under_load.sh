#!/usr/bin/env bash
# Runs the tests that promise identical numbers (Dask = local executor, packed = one by one, adaptive packed =
# one by one, kill -9 and resume) N times in a row while two CPU burners run beside them, and prints one line
# per repetition. Usage: bash scripts/determinism_under_load.sh [N=5]
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
burn() { while :; do :; done; }
burn & b1=$!
burn & b2=$!
trap 'kill $b1 $b2 2>/dev/null' EXIT
for i in $(seq 1 "$n"); do
  start=$(date +%s)
  out=$(.venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_sweep_dask.py::test_dask_local_cluster_equals_local_executor \
        tests/test_sweep.py::test_packed_sweep_equals_runs_one_by_one \
        tests/test_adaptive.py::test_adaptive_packed_equals_one_by_one_and_stopped_runs_leave_the_pack \
        tests/test_driver.py::test_packed_host_loop_equals_runs_one_by_one 2>&1 | tail -1)
  echo "run $i/$n ($(($(date +%s) - start)) s, load $(cut -d' ' -f1 /proc/loadavg)): $out"
done
