"""``gpicl-phase sweep --dry-run``: plan a sweep and trace every program, without compiling or training."""

from __future__ import annotations

from dataclasses import dataclass

from gpicl_phase.sweep.plan import plan, run_bytes, static_text
from gpicl_phase.sweep.spec import SweepSpec


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk of a dry run: what would be compiled and trained."""

    group: int
    runs: int
    size: int
    steps: int
    max_steps: int
    static: str
    bank: int
    run_mib: float


def check_sweep(spec: SweepSpec, *, max_pack: int | None = None, task_source: str = "auto",
                on_chunk=None, engine=None) -> list[PlannedChunk]:
    """A dry run: plans ``spec`` as ``run_sweep`` would for a new store and traces every distinct program
    (no compile, no training, no store), so a sweep file's errors show in seconds. Chunks of one group with
    the same task bank size are one program and traced once; ``on_chunk(planned)`` is called as each is done.
    ``engine``: as ``run_sweep`` would lower the models (None: the backend's choice)."""
    from gpicl_phase.driver import TASK_SOURCES
    from gpicl_phase.sweep import execute
    from gpicl_phase.sweep.runner import SweepError, check_arguments, check_runnable

    check_arguments(spec, task_source=task_source, max_pack=max_pack)
    if task_source not in TASK_SOURCES:
        raise SweepError(f"--task-source must be one of {', '.join(TASK_SOURCES)}, got {task_source!r}")
    work = execute.Work(budget_bytes=execute.device_budget(), task_source=task_source, rules=spec.rules,
                        thresholds=spec.thresholds, engine=engine)
    check_runnable(spec, work.budget_bytes)  # whatever the real run would refuse, the dry run refuses
    chunks = plan(spec, budget_bytes=work.budget_bytes, max_pack=max_pack)
    traced: set[tuple[int, int]] = set()
    out = []
    for chunk in chunks:
        try:
            bank = execute.check_chunk(chunk, work, traced)
        except Exception as err:
            raise SweepError(f"group {chunk.group} ({static_text(chunk.static)}) does not trace: "
                             f"{type(err).__name__}: {err}") from err
        planned = PlannedChunk(chunk.group, len(chunk.configs), chunk.size, chunk.steps,
                               chunk.static.budget if spec.rules else chunk.steps, static_text(chunk.static),
                               bank, run_bytes(chunk.static) / 2**20)
        out.append(planned)
        if on_chunk is not None:
            on_chunk(planned)
    return out
