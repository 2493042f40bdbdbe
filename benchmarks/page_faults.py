"""What a program call pays in page faults on CPU, with glibc's default allocator and with freed memory kept.

XLA:CPU allocates each call's temporaries with ``malloc``; glibc serves blocks over 32 MB, and every block of a
thread with its own arena, with a fresh ``mmap`` and unmaps them on ``free``, so each call faults its
temporaries in again (the kernel zeroes every page). ``keep freed`` runs the same unit in a process started
with ``MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<huge>``: one heap that is never given back,
so a second call reuses the first call's pages. glibc reads these at start-up, so every setting runs in
worker processes of its own, alternated (A, B, A, B, ...) round by round.

Units: ``jax step`` (forward, backward, Adam: one step per call, as ``bench_step.py`` times it at B = 128),
``jax run`` (the engine's whole compiled run of 2 steps) and ``torch step`` (PyTorch's step as ``bench_step.py`` runs it).
Rows: seconds per call, minor page faults per call, kernel (system) seconds per call and peak RSS.

    python benchmarks/page_faults.py [--grid 256:128] [--rounds 2] [--calls 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import common

SETTINGS = {
    "default": {},
    "keep freed": {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**62)},
}
UNITS = ("jax step", "jax run", "torch step")


def worker(unit: str, grid: str, calls: int) -> dict:
    """Times ``calls`` calls of ``unit`` after one warm-up call (this process's allocator as started)."""
    import resource
    import time

    d, b, cfg = next(common.grid_configs(grid))
    if unit == "torch step":
        import step_variants

        fn = step_variants.torch_variants(cfg)[0]["torch_step"]
    else:
        import engine_units

        fn = engine_units.build("step" if unit == "jax step" else "e2e", cfg)[0]
    fn()
    out = {"seconds": [], "faults": [], "system": []}
    for _ in range(calls):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        out["seconds"].append(seconds)
        out["faults"].append(after.ru_minflt - before.ru_minflt)
        out["system"].append(after.ru_stime - before.ru_stime)
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="256:128", help="one N_M:B config")
    ap.add_argument("--rounds", type=int, default=2, help="worker processes per unit and setting")
    ap.add_argument("--calls", type=int, default=3, help="timed calls per worker, after one warm-up")
    ap.add_argument("--units", default=",".join(UNITS), help=f"comma-separated, of: {', '.join(UNITS)}")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.grid, args.calls)))
        return
    units = [u for u in args.units.split(",") if u != "torch step" or common.has_torch()]
    got = {(u, s): {"seconds": [], "faults": [], "system": [], "peak_rss_gib": []} for u in units for s in SETTINGS}
    for r in range(args.rounds):
        for unit in units:
            for setting, env in SETTINGS.items():
                cmd = [sys.executable, __file__, "--worker", unit, "--grid", args.grid, "--calls", str(args.calls)]
                done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True)
                res = json.loads(done.stdout.strip().splitlines()[-1])
                for k in ("seconds", "faults", "system"):
                    got[unit, setting][k] += res[k]
                got[unit, setting]["peak_rss_gib"].append(res["peak_rss_gib"])
                print(f"round {r + 1} {unit} / {setting}: {statistics.median(res['seconds']):.3f} s per call, "
                      f"{statistics.median(res['faults']):,.0f} faults, peak RSS {res['peak_rss_gib']:.2f} GiB",
                      flush=True)
    rows = []
    for (unit, setting), g in got.items():
        case = f"{args.grid} {unit}"
        base = got[unit, "default"]["seconds"]
        rows.append(common.row("page faults", case, f"{setting}: s/call", statistics.median(g["seconds"]), "s",
                               spread=(min(g["seconds"]), max(g["seconds"])),
                               note=f"vs default: x{statistics.median(base) / statistics.median(g['seconds']):.2f} "
                                    f"(medians over {len(g['seconds'])} calls in {args.rounds} processes each)"))
        rows.append(common.row("page faults", case, f"{setting}: minor faults/call", statistics.median(g["faults"]),
                               "faults", spread=(min(g["faults"]), max(g["faults"])),
                               note=f"x 4 KiB = {statistics.median(g['faults']) * 4096 / 2**30:.2f} GiB"))
        rows.append(common.row("page faults", case, f"{setting}: system s/call", statistics.median(g["system"]),
                               "s", spread=(min(g["system"]), max(g["system"]))))
        rows.append(common.row("page faults", case, f"{setting}: peak RSS", max(g["peak_rss_gib"]), "GiB"))
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
