"""What XLA:CPU needs: compile and run time of the engine's programs under different XLA flags.

XLA reads its flags once per process, so each variant runs in a fresh interpreter; rounds alternate the
variants (baseline, A, B, ..., baseline, A, B, ...). Each probe measures:

- the packed program of ``bench_packed``'s 16-cell grid (50 steps): compile seconds and run seconds;
- the engine at N_M = 64, B = 128 (2 steps per call): compile seconds and seconds per step (e2e), and the
  step alone on a fixed batch.

Not part of ``make bench`` (about 10 minutes on 2 cores); its findings are recorded in BENCHMARKS.md.

    python benchmarks/xla_flags.py [--rounds 2] [--variants baseline,opt0,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import common
from common import ROOT, row

BENCH = "xla flags"
VARIANTS = {
    "baseline": "",
    "opt0": "--xla_backend_optimization_level=0",
    "opt1": "--xla_backend_optimization_level=1",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "onednn": "--xla_cpu_use_onednn=true",
    "no_xnnpack": "--xla_cpu_use_xnnpack=false",
    "no_fusion_emitters": "--xla_cpu_use_fusion_emitters=false",
    "no_slp": "--xla_cpu_disable_slp_vectorizer=true",
    "split8": "--xla_cpu_parallel_codegen_split_count=8",
}


def probe(repeats: int) -> dict:
    """Runs in the child process: compile and run times under this process's XLA_FLAGS."""
    import jax

    import step_variants
    from bench_packed import grid, units

    out = {}
    start = time.perf_counter()
    fns, compile_s = units(grid(16, steps=50), names=("packed",))
    out["packed_compile"] = compile_s["packed"][0]
    packed = fns["packed"]
    out["packed_run"] = statistics.median(_time(packed) for _ in range(repeats))
    del fns
    cfg = common.bench_config(d_model=64, batch_size=128, steps=2, eval_every=2)
    jax_units, facts = step_variants.jax_variants(cfg)
    out["e2e_compile"] = facts["compile_s"]
    jax_units["jax_step"]()
    out["e2e_step"] = statistics.median(_time(jax_units["jax_e2e"]) for _ in range(repeats)) / cfg.steps
    out["step_only"] = statistics.median(_time(jax_units["jax_step"]) for _ in range(repeats)) / cfg.steps
    out["total"] = time.perf_counter() - start
    out["jax"] = jax.__version__
    return out


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(variants: list[str], rounds: int, repeats: int) -> list[dict]:
    """Rows per variant: median over rounds of each probe number, and its ratio to the baseline's."""
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {VARIANTS[v]}".strip()}
            cmd = [sys.executable, __file__, "--probe", str(repeats)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                print(f"{v}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            results[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(v, results[v][-1], file=sys.stderr, flush=True)
    rows = []
    keys = {"packed_compile": "s", "packed_run": "s", "e2e_compile": "s", "e2e_step": "s/step", "step_only": "s/step"}
    for v, rs in results.items():
        if not rs:
            continue
        for k, unit in keys.items():
            vals = [r[k] for r in rs]
            med = statistics.median(vals)
            # Paired with the same round's baseline: load from other processes drifts between rounds.
            pairs = [b[k] / r[k] for b, r in zip(results["baseline"], rs)] if v != "baseline" else []
            note = (f"{statistics.median(pairs):.2f}x baseline speed (same-round pairs: "
                    f"{', '.join(f'{x:.2f}' for x in pairs)})") if pairs else ""
            rows.append(row(BENCH, f"{v} {VARIANTS[v]}".strip(), k, med, unit, spread=(min(vals), max(vals)), note=note))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="timed calls per number inside each probe")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    p.add_argument("--probe", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help="also save rows as JSON here")
    a = p.parse_args()
    if a.probe:
        print(json.dumps(probe(a.probe)))
        return
    names = [v.strip() for v in a.variants.split(",")]
    if names[0] != "baseline":
        names = ["baseline"] + [n for n in names if n != "baseline"]
    common.report(run(names, a.rounds, a.repeats), a.out)


if __name__ == "__main__":
    main()
