"""The benchmark suite: runs benchmarks 1-6 in turn, prints one table, saves every row as JSON.

    python benchmarks/run_all.py                 # the CPU suite (make bench), under 15 minutes on 2 cores
    python benchmarks/run_all.py --quick         # every benchmark small, a few minutes
    python benchmarks/run_all.py --gpu --only 1,2,3,4,5 --out gpu_results.json   # what gpu_check.sh runs

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
}


def run_one(key: str, quick: bool, gpu: bool) -> list[dict]:
    """One benchmark's rows, or a row with the reason it could not run."""
    module, title = BENCHMARKS[key]
    try:
        mod = importlib.import_module(module)
        if module == "bench_compile":
            return mod.run(quick, phase_estimate=not gpu)  # the estimate divides by a CPU store's wall time
        if module == "bench_store":
            return mod.run(quick)
        if module == "bench_step" and not quick:  # the paper default's rows come from benchmark 4
            grid = [c for c in (mod.GPU_GRID if gpu else mod.GRID) if c != (256, 128)]
            return mod.run(quick, gpu, grid)
        return mod.run(quick, gpu)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes everywhere")
    p.add_argument("--gpu", action="store_true", help="GPU sizes; PyTorch (CPU) comparisons skipped")
    p.add_argument("--only", default=",".join(BENCHMARKS), help="comma list of benchmark numbers (default all)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/<cpu|gpu>-<date>.json)")
    a = p.parse_args()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    out = a.out or str(ROOT / "benchmarks" / "results" / f"{'gpu' if a.gpu else 'cpu'}{'-quick' if a.quick else ''}-{stamp}.json")
    found = packages()
    print("packages:", found, flush=True)
    at_start = common.machine()  # load average before the suite (save() records it again at the end)
    rows: list[dict] = []
    walls: dict[str, float] = {}
    start = time.perf_counter()
    for key in [k.strip() for k in a.only.split(",") if k.strip()]:
        t = time.perf_counter()
        print(f"== {key}: {BENCHMARKS[key][1]}", flush=True)
        common.PARTIAL.clear()
        try:
            new = run_one(key, a.quick, a.gpu)
        except KeyboardInterrupt:  # gpu_check.sh's time limit: keep the configs that finished
            rows += common.PARTIAL + [row(f"{key} {BENCHMARKS[key][1]}", "-", "interrupted", float("nan"), "",
                                          note=f"cut after {time.perf_counter() - t:.0f} s")]
            common.save(rows, out, {"packages": found, "bench_seconds": walls, "quick": a.quick, "gpu": a.gpu})
            print(common.table(rows))
            raise SystemExit(130)
        walls[key] = time.perf_counter() - t
        print(common.table(new), flush=True)
        rows += new
        common.save(rows, out, {"packages": found, "bench_seconds": walls, "quick": a.quick, "gpu": a.gpu,
                                "at_start": at_start})
    total = time.perf_counter() - start
    print("\n" + common.table(rows))
    targets = [r for r in rows if r["met"] is not None]
    print(f"\ntargets met: {sum(r['met'] for r in targets)} of {len(targets)}; "
          f"wall {total / 60:.1f} min ({', '.join(f'{k}: {v:.0f} s' for k, v in walls.items())})")
    common.save(rows, out, {"packages": found, "bench_seconds": walls, "total_seconds": total, "quick": a.quick,
                            "gpu": a.gpu, "at_start": at_start})
    print(f"saved {out}")


if __name__ == "__main__":
    main()
