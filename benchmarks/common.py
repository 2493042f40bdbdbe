"""Shared benchmark machinery: interleaved timing, statistics, result rows, machine facts, engine configs.

Every benchmark times its compared variants *interleaved* (A, B, C, A, B, C, ...) so that load from other
processes on a shared machine hits all of them alike, and reports the median with the min..max spread.
A result row is a plain dict, so rows from every benchmark print as one table and save as one JSON file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # each benchmark runs as a script: make the package and this folder importable
    sys.path.insert(0, str(ROOT))
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))


PARTIAL: list[dict] = []  # rows of a benchmark still running, so a cut-short run (timeout) can keep them


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each variant, ``repeats`` rounds of A, B, C, ... after ``warmup`` untimed rounds.

    Each callable must block until its work is done (``block_until_ready`` for JAX).
    """
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def stats(samples: list[float]) -> dict:
    """Median, min, max and the number of samples."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "n": len(samples)}


def row(bench: str, case: str, metric: str, value: float, unit: str, *, spread: tuple[float, float] | None = None,
        target: str = "", met: bool | None = None, note: str = "") -> dict:
    """One result: a measured (or derived) number with its spread and, where the issue sets one, its target."""
    return {"bench": bench, "case": case, "metric": metric, "value": value, "unit": unit,
            "spread": list(spread) if spread else None, "target": target, "met": met, "note": note}


def timed_row(bench: str, case: str, metric: str, samples: list[float], *, per: float = 1.0, unit: str = "s",
              rate: bool = False, **kw) -> dict:
    """A row from timing samples: seconds per ``per`` units, or ``per`` units per second when ``rate``."""
    vals = sorted((per / s) if rate else (s / per) for s in samples)
    return row(bench, case, metric, statistics.median(vals), unit, spread=(vals[0], vals[-1]), **kw)


def machine() -> dict:
    """Where and when the numbers were taken: cores, CPU, load, versions, commit."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    info = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "nproc": os.cpu_count(),
            "cpu": cpu, "python": platform.python_version(), "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "loadavg": os.getloadavg(), "command": " ".join([Path(sys.executable).name, *sys.argv])}
    for mod in ("jax", "torch", "numpy"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    try:
        import jax

        info["device"] = f"{jax.devices()[0].device_kind} x{len(jax.devices())}"
    except Exception:  # noqa: BLE001 - facts only; a broken backend is reported by the benchmarks themselves
        info["device"] = "?"
    return info


def fmt(v: float) -> str:
    """A number with about three significant digits."""
    if v == 0 or v != v:
        return str(v)
    a = abs(v)
    return f"{v:.3g}" if a < 1e4 else f"{v:,.0f}"


def table(rows: list[dict]) -> str:
    """Rows as a Markdown table (the format BENCHMARKS.md quotes)."""
    out = ["| bench | case | metric | median | min..max | unit | target | met |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        spread = f"{fmt(r['spread'][0])}..{fmt(r['spread'][1])}" if r["spread"] else ""
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        out.append(f"| {r['bench']} | {r['case']} | {r['metric']} | {fmt(r['value'])} | {spread} | {r['unit']} | "
                   f"{r['target']} | {met} |")
    notes = [f"- {r['bench']} / {r['case']} / {r['metric']}: {r['note']}" for r in rows if r["note"]]
    return "\n".join(out + ([""] + notes if notes else []))


def save(rows: list[dict], path: str | Path, extra: dict | None = None) -> None:
    """Rows plus machine facts as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **(extra or {}), "rows": rows}, indent=1, default=float))


def report(rows: list[dict], out: str | None) -> None:
    """Prints the table (and saves JSON when ``out`` is given): the tail of every benchmark's ``main``."""
    print(table(rows))
    if out:
        save(rows, out)
        print(f"saved {out}")


class CompileClock:
    """Sums JAX's own compile-time events while active: tracing, lowering and XLA compilation, in seconds.

    ``hits`` counts persistent-cache hits; ``saved`` the compile seconds they saved.
    """

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration")

    def __init__(self):
        self.seconds, self.backend, self.hits, self.saved = 0.0, 0.0, 0, 0.0

    def _duration(self, event: str, secs: float, **_) -> None:
        if event in self.EVENTS:
            self.seconds += secs
            self.backend += secs if event.endswith("backend_compile_duration") else 0.0
        elif event == "/jax/compilation_cache/compile_time_saved_sec":
            self.saved += secs

    def _event(self, event: str, **_) -> None:
        self.hits += event == "/jax/compilation_cache/cache_hits"

    def __enter__(self):
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(self._duration)
        monitoring.register_event_listener(self._event)
        return self

    def __exit__(self, *exc):
        from jax import monitoring

        for name, fn in (("unregister_event_duration_listener", self._duration),
                         ("unregister_event_listener", self._event)):
            try:
                getattr(monitoring, name)(fn)
            except (AttributeError, ValueError, KeyError):  # older/newer JAX: a stale listener only adds time
                pass
        return False


def has_torch() -> bool:
    """Whether the optional PyTorch comparisons can run."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def bench_config(**changes):
    """A RunConfig for timing: the paper's model defaults, meta-tests shrunk so training dominates.

    ``eval_batch=1`` keeps the two in-program meta-tests (4 streams x 1 sequence, forward only) under 1% of
    even a 2-step run of B=32.
    """
    from gpicl_phase.config import RunConfig

    base = dict(dataset="mnist10k", eval_datasets=("random",), image_size=14, seq_len=100, batch_size=128,
                steps=2, eval_every=2, log_every=1, eval_batch=1, num_tasks=2 ** 13)
    base.update(changes)
    return RunConfig(**base)
