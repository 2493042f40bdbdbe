"""Benchmark 6: the results store and the app on it.

- ``write_cell`` throughput into a store shaped like a real sweep (2,000 steps logged every 10, 21
  meta-tests, 4 streams, T = 100), fresh store per round;
- ``open_results`` on a synthetic 10,000-run store (``gpicl_phase.testing.synthetic_store``, the shape of
  the 10,000-run analysis test), and reading all of it (``store.load_results``);
- the phase-diagram callback, ``app.pages.phase.figure(stores, search)`` (what the app's ``phase-graph``
  figure output calls): cold (a fresh ``Stores``, so it opens, loads and classifies the store) and warm
  (the same ``Stores``, analysis cached, as every later callback of a page view), interleaved;
- cold loads, each in a fresh process (the OS page cache stays warm): the phase view's core variables
  (``COLD_VARS``) through the fast reader (``store.load_results``), Zarr's public API at its default settings,
  ``store.load_results`` forced onto Zarr's public API (``GPICL_PHASE_STORE_READER=zarr``: one decoding
  batch per variable), and ``xr.open_zarr(...)[vars].load()``; then the whole cold phase callback in a fresh
  process, fast reader vs public API.

The store and the app are host work: ``--gpu`` changes nothing here.

    python benchmarks/bench_store.py [--quick] [--cold-only] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common
from common import interleaved, row, timed_row

BENCH = "6 store+app"
BIG = dict(d_models=(8, 16, 32, 64, 128), num_tasks=tuple(2 ** np.arange(20)), batch_sizes=(16, 32, 64, 128, 256),
           seeds=tuple(range(20)), seq_len=50, eval_every=4000, log_every=100)


def write_rate(tmp: Path, cells: int, rounds: int) -> list[dict]:
    """write_cell calls per second into fresh stores of ``cells`` runs."""
    from gpicl_phase import store

    seeds = cells // 10
    layout = dict(axes={"num_tasks": [2 ** i for i in range(10)], "seed": list(range(seeds))},
                  log_steps=list(range(10, 2001, 10)), eval_steps=list(range(0, 2001, 100)),
                  streams=["seen", "unseen", "unseen:random", "base"], seq_len=100, attrs={"bench": True})
    rng = np.random.default_rng(0)
    arrays = dict(train_loss=rng.random(200, np.float32), grad_norm=rng.random(200, np.float32),
                  eval_acc=rng.random((21, 4, 100), np.float32), eval_loss=rng.random((21, 4, 100), np.float32))
    samples = []
    for r in range(rounds):
        path = tmp / f"write{r}.zarr"
        store.create(path, **layout)
        start = time.perf_counter()
        for i in range(10):
            for s in range(seeds):
                store.write_cell(path, {"num_tasks": i, "seed": s}, param_count=1, state_size=1, wall_time=1.0,
                                 status="done", **arrays)
        samples.append(time.perf_counter() - start)
    return [timed_row(BENCH, f"{cells}-cell store, 2,000 steps, 21 evals x 4 x 100", "write_cell rate", samples,
                      per=10 * seeds, rate=True, unit="cells/s")]


def big_store(quick: bool) -> tuple[Path, float | None]:
    """The synthetic store (10,000 runs; --quick: 1,000) and the seconds writing it took (None: reused).

    Kept in the data cache directory between runs: writing it takes ~40 s, but deleting its ~100,000
    chunk files took ~210 s on the dev machine's file system.
    """
    from gpicl_phase import store, testing
    from gpicl_phase.data import cache_dir

    kw = dict(BIG, seeds=tuple(range(2))) if quick else BIG
    runs = int(np.prod([len(v) for k, v in kw.items() if k in ("d_models", "num_tasks", "batch_sizes", "seeds")]))
    path = cache_dir() / "bench" / f"synthetic-{runs}-runs-v1.zarr"
    try:
        if store.read_status(path).size == runs:
            return path, None
    except store.StoreError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{time.time_ns()}")
    start = time.perf_counter()
    testing.synthetic_store(tmp, **kw)
    made = time.perf_counter() - start
    tmp.rename(path)  # whole or not at all: an interrupted run leaves only a hidden partial store
    return path, made


def read_rows(path: Path, runs: int, repeats: int, load_repeats: int) -> list[dict]:
    """open_results, full reads, and the phase-diagram callback cold and warm."""
    from app.data import Stores
    from app.pages import phase
    from gpicl_phase import store

    case = f"synthetic {runs:,}-run store"
    times = interleaved({"open_results": lambda: store.open_results(path)}, repeats)
    rows = [timed_row(BENCH, case, "open_results", times["open_results"], unit="s", target="< 0.5",
                      met=statistics.median(times["open_results"]) < 0.5)]
    loads = interleaved({"store.load_results": lambda: store.load_results(path)}, load_repeats, warmup=0)
    rows += [timed_row(BENCH, case, name, t, unit="s") for name, t in loads.items()]

    warm = Stores([str(path)])
    search = ""
    figure = phase.figure(warm, search)
    if not getattr(figure, "data", None):  # a problem shows as an empty figure with a message
        raise RuntimeError(f"the phase callback drew no data: {figure.layout.annotations}")
    cb = interleaved({"cold": lambda: phase.figure(Stores([str(path)]), search),
                      "warm": lambda: phase.figure(warm, search)}, max(2, load_repeats), warmup=0)
    notes = {"cold": "fresh Stores: status, open, load (store.load_results of the figure variables), "
                     "classify, figure",
             "warm": "cached Source: figure only"}
    for name, t in cb.items():
        rows.append(timed_row(BENCH, case, f"phase callback {name}", t, unit="s", target="< 1",
                              met=statistics.median(t) < 1.0, note=notes[name]))
    return rows


COLD_VARS = ("status", "eval_acc", "train_loss")  # what the phase classification reads
# Each variant runs in a fresh interpreter: imports first (not timed), then the timed read; prints seconds.
COLD_CODE = {
    "fast reader (store.load_results)": "from gpicl_phase import store\n"
                                        "T = time.perf_counter(); store.load_results(P, V)",
    "zarr public API, default config": "import numpy as np, zarr\nT = time.perf_counter()\n"
                                       "g = zarr.open_group(P, mode='r'); [np.asarray(g[v][...]) for v in V]",
    "zarr public API, concurrency 256": "import numpy as np, zarr\nzarr.config.set({'async.concurrency': 256})\n"
                                        "T = time.perf_counter()\n"
                                        "g = zarr.open_group(P, mode='r'); [np.asarray(g[v][...]) for v in V]",
    "store.load_results on zarr public API": "import os\nos.environ['GPICL_PHASE_STORE_READER'] = 'zarr'\n"
                                             "from gpicl_phase import store\n"
                                             "T = time.perf_counter(); store.load_results(P, V)",
    "xarray open_zarr + load": "import xarray as xr\nT = time.perf_counter()\n"
                               "xr.open_zarr(P, chunks=None, consolidated=False, zarr_format=3)[V].load()",
}
CALLBACK_CODE = ("from app.data import Stores\nfrom app.pages import phase\n"
                 "T = time.perf_counter(); f = phase.figure(Stores([P]), '')\nassert f.data, 'no data drawn'")


def cold(code: str, path: Path, names: tuple[str, ...] = (), reader: str = "") -> float:
    """Seconds of ``code``'s timed part (from ``T`` to its end) in a fresh interpreter."""
    script = f"import time\nP, V = {str(path)!r}, {list(names)!r}\n{code}\nprint(time.perf_counter() - T)"
    env = dict(os.environ, PYTHONPATH=str(common.ROOT))
    env.pop("GPICL_PHASE_STORE_READER", None)
    if reader:
        env["GPICL_PHASE_STORE_READER"] = reader
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=common.ROOT,
                         check=False)
    if out.returncode:
        raise RuntimeError(f"cold read failed: {out.stderr.strip()[-500:]}")
    return float(out.stdout.split()[-1])


def cold_rows(path: Path, runs: int, repeats: int) -> list[dict]:
    """The cold reads of COLD_VARS per way of reading, and the cold phase callback, fast reader vs Zarr."""
    case = f"synthetic {runs:,}-run store, fresh process"
    variants = {f"cold load {'+'.join(COLD_VARS)}: {name}": (lambda c=code: cold(c, path, COLD_VARS))
                for name, code in COLD_CODE.items()}
    variants["phase callback cold: fast reader"] = lambda: cold(CALLBACK_CODE, path)
    variants["phase callback cold: zarr public API"] = lambda: cold(CALLBACK_CODE, path, reader="zarr")
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):  # interleaved, as common.interleaved, but each sample is the child's own timing
        for name, fn in variants.items():
            samples[name].append(fn())
    note = "OS page cache warm; imports not timed"
    rows = []
    for name, t in samples.items():
        target = {"target": "< 1.5", "met": statistics.median(t) < 1.5} if name.startswith("phase") else {}
        rows.append(timed_row(BENCH, case, name, t, unit="s", note=note, **target))
    return rows


def run(quick: bool, gpu: bool, cold_only: bool = False) -> list[dict]:
    """Write rate (200 cells x 3 rounds), then the 10,000-run store (--quick: 1,000 runs, 100 cells)."""
    runs = 1_000 if quick else 10_000
    if cold_only:
        path, _ = big_store(quick)
        return cold_rows(path, runs, repeats=1 if quick else 2)
    with tempfile.TemporaryDirectory() as tmp:
        rows = write_rate(Path(tmp), cells=100 if quick else 200, rounds=2 if quick else 3)
    path, made = big_store(quick)
    if made is not None:
        rows.append(row(BENCH, f"synthetic {runs:,}-run store", "synthetic_store write (setup)", made, "s",
                        note=f"kept at {path} for later runs"))
    return rows + read_rows(path, runs, repeats=5, load_repeats=1 if quick else 2) + cold_rows(path, runs, repeats=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1,000 runs, fewer rounds")
    p.add_argument("--cold-only", action="store_true", help="only the fresh-process loads and callbacks")
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    common.report(run(a.quick, gpu=False, cold_only=a.cold_only), a.out)


if __name__ == "__main__":
    main()
