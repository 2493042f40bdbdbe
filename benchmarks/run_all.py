"""The benchmark suite: runs benchmarks 1-11 in turn, prints one table, saves every row as JSON.

Every benchmark module exposes ``run(quick, gpu) -> rows`` (bench_engine one function per part) and chooses
its own sizes for the machine.

    python benchmarks/run_all.py                 # the CPU suite (make bench), under 15 minutes on 2 cores
    python benchmarks/run_all.py --quick         # every benchmark small, a few minutes
    python benchmarks/run_all.py --gpu --only 1,2,3,5,8,9,10,11 --out gpu_results.json   # what gpu_check.sh runs

A benchmark that cannot run (a missing optional package, an error) becomes a row saying why; the others
go on. The JSON is rewritten after each benchmark, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import time
import traceback

import common
from common import ROOT, row

BENCHMARKS = {
    "1": ("bench_tasks", "task generation"),
    "2": ("bench_step", "training step, JAX vs PyTorch"),
    "3": ("bench_packed", "packed vs one-by-one"),
    "4": ("bench_roofline", "roofline"),
    "5": ("bench_compile", "compile overhead"),
    "6": ("bench_store", "store and app"),
    "7": ("bench_runs_explorer", "runs explorer"),
    "8": ("bench_engine", "pack size by throughput", "run_pack"),
    "9": ("bench_engine", "engine options and compile", "run_options"),
    "10": ("bench_engine", "paper_fig2 projection", "run_projection"),
    "11": ("bench_engine", "PyTorch on the same GPU", "run_torch"),
}

CPU_SUITE = "1,2,3,4,5,6,7"  # make bench; 8-11 measure what matters on accelerators (gpu_check.sh)


def run_one(key: str, quick: bool, gpu: bool) -> list[dict]:
    """One benchmark's rows, or a row with the reason it could not run."""
    module, title, *fn = BENCHMARKS[key]
    try:
        return getattr(importlib.import_module(module), fn[0] if fn else "run")(quick, gpu)
    except Exception as err:  # noqa: BLE001 - one broken benchmark must not hide the others' numbers
        traceback.print_exc()
        return [row(f"{key} {title}", "-", "error", float("nan"), "", note=f"{type(err).__name__}: {err}"[:300])]


def packages() -> dict:
    """Which optional packages import here (the GPU image may lack some)."""
    found = {}
    for name in ("jax", "optax", "xarray", "zarr", "torch", "dash", "plotly", "pandas"):
        try:
            found[name] = getattr(importlib.import_module(name), "__version__", "?")
        except Exception as err:  # noqa: BLE001 - any import failure means "not usable here"
            found[name] = f"missing ({type(err).__name__})"
    return found


def default_out(quick: bool, gpu: bool) -> str:
    """benchmarks/results/<cpu|gpu>[-quick]-<date>-<time>.json"""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    kind = ("gpu" if gpu else "cpu") + ("-quick" if quick else "")
    return str(ROOT / "benchmarks" / "results" / f"{kind}-{stamp}.json")


def run_suite(keys: list[str], quick: bool, gpu: bool, out: str) -> tuple[list[dict], dict]:
    """Rows of the benchmarks ``keys`` run in turn, and the run's facts; every row is saved after each one.

    Interrupted (gpu_check.sh's time limit), it saves what finished and exits 130.
    """
    facts = {"packages": packages(), "bench_seconds": {}, "quick": quick, "gpu": gpu,
             "at_start": common.machine()}  # load average before the suite (save() records it again at the end)
    print("packages:", facts["packages"], flush=True)
    rows: list[dict] = []
    start = time.perf_counter()
    for key in keys:
        t = time.perf_counter()
        print(f"== {key}: {BENCHMARKS[key][1]}", flush=True)
        common.PARTIAL.clear()
        try:
            new = run_one(key, quick, gpu)
        except KeyboardInterrupt:  # gpu_check.sh's time limit: keep the configs that finished
            rows += common.PARTIAL + [row(f"{key} {BENCHMARKS[key][1]}", "-", "interrupted", float("nan"), "",
                                          note=f"cut after {time.perf_counter() - t:.0f} s")]
            common.save(rows, out, facts)
            print(common.table(rows))
            raise SystemExit(130)
        facts["bench_seconds"][key] = time.perf_counter() - t
        print(common.table(new), flush=True)
        rows += new
        common.save(rows, out, facts)
    facts["total_seconds"] = time.perf_counter() - start
    common.save(rows, out, facts)
    return rows, facts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes everywhere")
    p.add_argument("--gpu", action="store_true", help="GPU sizes; PyTorch (CPU) comparisons skipped")
    p.add_argument("--only", default=CPU_SUITE, help=f"comma list of benchmark numbers (default {CPU_SUITE}; "
                                                       "8-11 are gpu_check.sh's, and run on a CPU at small sizes)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/<cpu|gpu>-<date>-<time>.json)")
    a = p.parse_args()
    out = a.out or default_out(a.quick, a.gpu)
    keys = [k.strip() for k in a.only.split(",") if k.strip()]
    rows, facts = run_suite(keys, a.quick, a.gpu, out)
    print("\n" + common.table(rows))
    targets = [r for r in rows if r["met"] is not None]
    walls = ", ".join(f"{k}: {v:.0f} s" for k, v in facts["bench_seconds"].items())
    print(f"\ntargets met: {sum(r['met'] for r in targets)} of {len(targets)}; "
          f"wall {facts['total_seconds'] / 60:.1f} min ({walls})")
    errors = [r for r in rows if r["metric"] == "error"]
    print(f"saved {out}")
    if errors:
        raise SystemExit(f"{len(errors)} benchmark(s) could not run: " + "; ".join(r["note"] for r in errors))


if __name__ == "__main__":
    main()
