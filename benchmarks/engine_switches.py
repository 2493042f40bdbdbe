"""Session 5's XLA:CPU engine changes, switched off and timed against the engine as it is.

- ``gradient barrier`` (applied): LayerNorm's input gradient materialized (``models/layers.py``,
  ``Engine.gradient_barrier``); off = the gradient left to XLA's fusion, as in session 4.
- ``attention module``: ``models/attention.py`` as of ``--before`` against the one checked out. Tried at
  commit 572d8cf, where the blocked attention ran on heads-first ``[B, H, T, K]`` arrays (transposed once
  outside the loop), against session 4's T-first blocks (``--before 7930bb2``); not applied (BENCHMARKS.md).
- ``both``: both off.

For each config and switch: compile seconds, the two programs timed interleaved (``engine_units.compare``),
and the largest difference between their outputs.

    python benchmarks/engine_switches.py [--rounds 4] [--match TEXT] [--switch NAME] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import types
from pathlib import Path

import common
import engine_units
from blocked_attention import CONFIGS as BLOCKED_CONFIGS

CONFIGS = {
    **{k: v for k, v in BLOCKED_CONFIGS.items() if "B=256" not in k},
    "N_M=32, B=32": ("step", dict(d_model=32, batch_size=32)),
    "N_M=32, B=128": ("step", dict(d_model=32, batch_size=128)),
}
BEFORE = "7930bb2"  # session 4's last commit
ROOT = Path(__file__).resolve().parent.parent


def module_at(rev: str, path: str) -> types.ModuleType:
    """The module ``path`` as committed at ``rev`` (imports resolve against the current package)."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    module = types.ModuleType(f"{Path(path).stem}_at_{rev}")
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)  # noqa: S102  (our own file, from git)
    return module


@contextlib.contextmanager
def switched_off(switch: str, before: str):
    """The engine with ``switch`` off, for as long as programs are being traced."""
    import dataclasses

    from gpicl_phase.models import transformer
    from gpicl_phase.models.engine import Engine

    saved = Engine.for_backend, transformer.causal_attention
    if switch in ("gradient barrier", "both"):
        off = dataclasses.replace(saved[0]("cpu"), gradient_barrier=False)
        Engine.for_backend = classmethod(lambda cls, backend: off)
    if switch in ("attention module", "both"):
        transformer.causal_attention = module_at(before, "gpicl_phase/models/attention.py").causal_attention
    try:
        yield
    finally:
        Engine.for_backend, transformer.causal_attention = saved


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--match", default="", help="only the configs whose name contains this text")
    ap.add_argument("--switch", default="gradient barrier", choices=["gradient barrier", "attention module", "both"],
                    help="what to switch off in the 'off' program (default: %(default)s)")
    ap.add_argument("--before", default=BEFORE, help="git revision whose attention module is 'before'")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    def build(kind, cfg, on: bool):
        with contextlib.nullcontext() if on else switched_off(args.switch, args.before):
            return engine_units.build(kind, cfg)

    rows = []
    for name, (kind, changes) in CONFIGS.items():
        if args.match not in name:
            continue
        rows += engine_units.compare(
            f"engine switch: {args.switch}", name, kind, common.bench_config(**changes), build, ("off", "on"),
            args.rounds, lambda a, b: f"max output difference {engine_units.max_difference(a, b):.1e}")
    common.report(rows, args.out)


if __name__ == "__main__":
    main()
