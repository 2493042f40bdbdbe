"""``gpicl-phase demo``: the main job on the embedded default, from sweep to browser.

Runs (or resumes) ``sweeps/demo.toml`` on the embedded MNIST-10k digits, refines the boundary to
generalization, prints the phase analysis and serves the app on the store.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEMO_SPEC = Path(__file__).resolve().parents[1] / "sweeps" / "demo.toml"


def main(*, store: str, serve: bool = True, port: int = 8050) -> int:
    """Sweep, analyse, serve; returns an exit code."""
    from gpicl_phase.commands.read import analyze
    from gpicl_phase.refine import refine
    from gpicl_phase.sweep import load

    if not DEMO_SPEC.exists():
        print(f"error: {DEMO_SPEC} not found: run the demo from a clone of the repository "
              "(make demo), or run `gpicl-phase sweep FILE --store PATH` on a sweep file of yours",
              file=sys.stderr)
        return 2
    spec = load(DEMO_SPEC)
    print(f"demo: sweep {DEMO_SPEC.name} ({spec.size} runs, then refinement around the transition) into "
          f"{store}; re-running resumes", flush=True)
    result = refine(spec, store, spec.refine)
    for summary in result.sweeps:
        for failure in summary.failures:
            print(f"FAILED {failure}", file=sys.stderr)
    code = analyze([store], None, spec.thresholds)
    for b in result.located:
        print(f"boundary located: {b.phases[0]} at {b.low:g} tasks | {b.phases[1]} at {b.high:g} tasks "
              f"({b.octaves:.2f} octaves)")
    for b in result.open:
        print(f"boundary still open: {b.phases[0]} at {b.low:g} | {b.phases[1]} at {b.high:g} "
              f"({b.octaves:.2f} octaves; re-run to refine further)")
    if not serve:
        return code or (0 if result.ok else 1)
    from app.main import serve as serve_app

    print(f"\nserving the app at http://127.0.0.1:{port}/  (Ctrl-C to stop)", flush=True)
    serve_app([store], host="127.0.0.1", port=port)
    return 0
