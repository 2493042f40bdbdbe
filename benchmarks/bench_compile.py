"""Benchmark 5: compile time as a share of a CPU sweep's wall time, cold and with the persistent cache.

Each sweep runs in a fresh process (``gpicl_phase.sweep.runner.run_sweep``, local executor, as
``gpicl-phase sweep`` does) into a fresh store. ``cold``: an empty compilation-cache directory; ``cached``:
the directory a cold run just filled (``GPICL_PHASE_JAX_CACHE``, which ``run_sweep`` passes to
``execute.enable_compile_cache``). Compile seconds are JAX's own events (tracing + lowering + XLA), so the
share is exact, and the cache's hits are counted. Sweeps run with their progress bar on (to stderr), as a
user runs them: since the engine loops chunks from the host, the bar needs no host callback in the program.
The suite runs the smoke sweep, and on CPU estimates the cold compile share of ``sweeps/cpu_phase.toml``
(too long to run here) from its programs' compile seconds and the wall time its committed store recorded.

    python benchmarks/bench_compile.py [--quick] [--gpu] [--out FILE]                 # what the suite runs
    python benchmarks/bench_compile.py --spec sweeps/smoke.toml [--smoke] [--rounds N]
    python benchmarks/bench_compile.py --compile-only --spec sweeps/cpu_phase.toml   # compile seconds only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common
from common import ROOT, row

BENCH = "5 compile"


def worker(spec_path: str, store: str, smoke: bool) -> dict:
    """Runs one sweep in this process; returns wall seconds, compile seconds and cache hits."""
    from gpicl_phase.sweep import spec as sweep_spec
    from gpicl_phase.sweep.runner import run_sweep

    spec = sweep_spec.load(spec_path, smoke=smoke)
    with common.CompileClock() as clock:
        start = time.perf_counter()
        summary = run_sweep(spec, store, progress=True)
        wall = time.perf_counter() - start
    return {"wall": wall, "compile": clock.seconds, "backend": clock.backend, "hits": clock.hits,
            "saved": clock.saved, "cells": summary.cells, "ok": summary.ok}


def compile_only(spec_path: str) -> list[dict]:
    """Compile seconds of each packed program a sweep would build (no training): for sweeps too long to run.

    Divided by the wall time a store recorded for the whole sweep (its ``wall_time`` variable, which
    includes the compiles), this estimates the cold compile share of a real CPU phase sweep.
    """
    import jax
    import jax.numpy as jnp

    from gpicl_phase import driver
    from gpicl_phase.sweep import execute, plan
    from gpicl_phase.sweep import spec as sweep_spec
    from gpicl_phase.train import hyper, run_key, task_data

    spec = sweep_spec.load(spec_path)
    chunks = plan.plan(spec, budget_bytes=execute.device_budget())
    firsts = {c.group: c for c in chunks}
    rows, total = [], 0.0
    for group, chunk in sorted(firsts.items()):
        cfgs = list(chunk.configs) + [chunk.configs[-1]] * (chunk.size - len(chunk.configs))
        hp = hyper(cfgs)
        data, keys = task_data(chunk.static), jax.vmap(run_key)(jnp.asarray(hp.seed))
        with common.CompileClock() as clock:
            start, step_chunk, _ = driver.programs(chunk.static, True, driver.resolve(None))
            carry, _ = jax.eval_shape(start, data, hp, keys)
            start.init.lower(hp, keys).compile()
            step_chunk.lower(data, hp, carry, np.int32(0)).compile()
        total += clock.seconds
        rows.append(row(BENCH, f"{Path(spec_path).name} group {group} ({chunk.size} packed)", "compile seconds",
                        clock.seconds, "s", note=f"start + chunk programs (driver, the engine); d_model="
                                                 f"{chunk.static.d_model}, {len(chunks)} chunks in all"))
    rows.append(row(BENCH, Path(spec_path).name, "compile seconds, all programs", total, "s",
                    note=f"{len(chunks)} chunks, {len(firsts)} programs"))
    recorded = ROOT / "docs" / "results" / f"{spec.name}.zarr"
    if recorded.exists():
        from gpicl_phase import store

        wall = float(np.nansum(store.load_results(recorded)["wall_time"].values))
        rows.append(row(BENCH, Path(spec_path).name, "est. cold compile share", total / wall, "fraction",
                        target="<= 0.1", met=total / wall <= 0.1,
                        note=f"compile measured now / the {wall:.0f} s of wall time {recorded.relative_to(ROOT)} "
                             "recorded (other days' load: an estimate)"))
    return rows


def sweep_once(spec_path: str, cache: str, smoke: bool) -> dict:
    """One sweep in a fresh interpreter with the given cache directory."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GPICL_PHASE_JAX_CACHE": cache}
        cmd = [sys.executable, __file__, "--worker", spec_path, str(Path(tmp) / "s.zarr")]
        cmd += ["--smoke"] if smoke else []
        start = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        process = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"sweep worker failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "process": process}


def default_spec() -> str:
    """sweeps/cpu_phase.toml when it exists, else the smoke sweep."""
    phase = ROOT / "sweeps" / "cpu_phase.toml"
    return str(phase if phase.exists() else ROOT / "sweeps" / "smoke.toml")


def run(quick: bool, gpu: bool) -> list[dict]:
    """The smoke sweep cold and cached (--quick: its [smoke] variant); on CPU, not --quick, also the compile
    share estimate of the CPU phase sweep (it divides by the wall time a CPU store recorded)."""
    rows = measure(str(ROOT / "sweeps" / "smoke.toml"), rounds=1, smoke=quick)
    phase = ROOT / "sweeps" / "cpu_phase.toml"
    if not quick and not gpu and phase.exists():
        rows += compile_only(str(phase))
    return rows


def measure(spec_path: str, rounds: int, smoke: bool) -> list[dict]:
    """Per round, two sweeps sharing one cache directory (``cold``: empty; ``cached``: what cold wrote)."""
    results: dict[str, list[dict]] = {"cold": [], "cached": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            results["cold"].append(sweep_once(spec_path, cache, smoke))
            results["cold"][-1]["entries"] = len(list(Path(cache).glob("*-cache")))
            results["cached"].append(sweep_once(spec_path, cache, smoke))
    name = Path(spec_path).name + (" --smoke" if smoke else "")
    case = f"{name} ({results['cold'][0]['cells']} cells)"
    rows = []
    for kind, rs in results.items():
        walls = [r["wall"] for r in rs]
        shares = [r["compile"] / r["wall"] for r in rs]
        rows.append(row(BENCH, case, f"{kind} sweep wall", statistics.median(walls), "s",
                        spread=(min(walls), max(walls)),
                        note=f"process incl. imports {statistics.median(r['process'] for r in rs):.1f} s"))
        hits = f"persistent-cache hits {[r['hits'] for r in rs]}, compile seconds saved " \
               f"{statistics.median(r['saved'] for r in rs):.1f}"
        if kind == "cold":
            hits += f"; cache entries this run left for a rerun: {[r['entries'] for r in rs]}"
        rows.append(row(BENCH, case, f"{kind} compile seconds", statistics.median(r["compile"] for r in rs), "s",
                        note=f"XLA backend {statistics.median(r['backend'] for r in rs):.1f} s; {hits}"))
        rows.append(row(BENCH, case, f"{kind} compile share", statistics.median(shares), "fraction",
                        spread=(min(shares), max(shares)), target="<= 0.1" if kind == "cold" else "",
                        met=(statistics.median(shares) <= 0.1) if kind == "cold" else None))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the spec's [smoke] variant, one round")
    p.add_argument("--gpu", action="store_true", help="no CPU phase sweep estimate")
    p.add_argument("--spec", help="sweep file (default: the suite's run)")
    p.add_argument("--rounds", type=int, default=1, help="rounds of the cold and cached sweeps (default 1)")
    p.add_argument("--smoke", action="store_true", help="use the spec's [smoke] variant")
    p.add_argument("--compile-only", action="store_true", help="only compile the spec's packed programs")
    p.add_argument("--worker", nargs=2, metavar=("SPEC", "STORE"), help=argparse.SUPPRESS)
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(*a.worker, smoke=a.smoke)))
        return
    if a.compile_only:
        common.report(compile_only(a.spec or default_spec()), a.out)
        return
    if a.spec:
        common.report(measure(a.spec, a.rounds, smoke=a.smoke or a.quick), a.out)
        return
    common.report(run(a.quick, a.gpu), a.out)


if __name__ == "__main__":
    main()
