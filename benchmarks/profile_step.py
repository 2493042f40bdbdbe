"""Where one XLA:CPU training step spends its time, op by op, from a JAX profiler trace.

XLA:CPU's thunk runtime records every op (a fusion, a matmul, a loop) in the trace with its duration. This
traces a few calls of the step (forward, backward and Adam on a fixed batch, as ``engine_units.build``
makes it) and sums the ops' time per step by kind (the op's name without its number), split into ops inside
a loop (the blocked attention's ``lax.map``: an op that runs more than once per step) and outside it.
``--optimized-hlo FILE`` also saves the compiled program's HLO, to look up what a fusion holds.

    python benchmarks/profile_step.py [--grid 256:32] [--calls 3] [--top 8] [--optimized-hlo FILE]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import tempfile
from pathlib import Path

import common

# Trace events that wrap ops rather than being ops: the executor, the Python caller, thread-pool waits and
# the loops themselves (their bodies' ops are counted).
WRAPPERS = ("ThunkExecutor", "$", "SlinkyThreadPool", "while", "PjitFunction")


def op_times(trace: dict, calls: int) -> tuple[dict, dict]:
    """Milliseconds per step by op kind: (ops inside loops, ops outside them)."""
    per_op, count = collections.defaultdict(float), collections.Counter()
    for e in trace["traceEvents"]:
        if e.get("ph") == "X" and not e["name"].startswith(WRAPPERS):
            per_op[e["name"]] += e["dur"] / 1000 / calls
            count[e["name"]] += 1
    inside, outside = collections.defaultdict(float), collections.defaultdict(float)
    for name, ms in per_op.items():
        (inside if count[name] > calls else outside)[re.sub(r"\.\d+$", "", name)] += ms
    return dict(inside), dict(outside)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="256:32", help="N_M:B pairs, e.g. 256:32,64:128")
    ap.add_argument("--calls", type=int, default=3, help="traced calls per config, after two untraced ones")
    ap.add_argument("--top", type=int, default=8, help="op kinds listed per group")
    ap.add_argument("--optimized-hlo", default=None, help="save the (first config's) compiled HLO text here")
    args = ap.parse_args(argv)
    import jax

    import engine_units

    for d, b, cfg in common.grid_configs(args.grid):
        fn, _, _ = engine_units.build("step", cfg)
        if args.optimized_hlo:
            Path(args.optimized_hlo).write_text(fn.compiled.as_text())
            args.optimized_hlo = None
        fn(), fn()
        with tempfile.TemporaryDirectory() as tmp:
            with jax.profiler.trace(tmp, create_perfetto_trace=True):
                for _ in range(args.calls):
                    fn()
            found = sorted(Path(tmp).rglob("*.trace.json.gz")) or sorted(Path(tmp).rglob("perfetto_trace.json.gz"))
            if not found:
                raise SystemExit(f"no JSON trace was written under {tmp}: `pip install xprof` and run again")
            inside, outside = op_times(json.load(gzip.open(found[0])), args.calls)
        for label, group in (("inside loops", inside), ("outside loops", outside)):
            top = sorted(group.items(), key=lambda kv: -kv[1])[: args.top]
            print(f"N_M={d} B={b} {label}: {sum(group.values()):.1f} ms per step; "
                  + ", ".join(f"{k} {v:.1f}" for k, v in top), flush=True)


if __name__ == "__main__":
    main()
