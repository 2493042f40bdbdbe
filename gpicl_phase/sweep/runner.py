"""A whole sweep: create (or reopen) the store, skip finished chunks, run the rest locally or on Dask.

Exactly-once: a chunk is skipped when all its cells are done or diverged; otherwise it runs again as the
same program on the same inputs, and only its unfinished cells are written. Keys come from each run's
seed, never from execution order, so a killed-and-resumed or distributed sweep writes what an
uninterrupted local one would.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpicl_phase import __version__, store
from gpicl_phase.sweep.plan import Chunk, plan
from gpicl_phase.sweep.spec import SpecError, SweepSpec

FINISHED = (store.STATUS["done"], store.STATUS["diverged"])


class SweepError(RuntimeError):
    """A sweep cannot run as asked (store of another spec, unusable executor); nothing was changed."""


@dataclass
class SweepSummary:
    """Counts of what a sweep invocation did."""

    cells: int
    skipped: int
    written: dict
    failures: list
    wall_time: float

    @property
    def ok(self) -> bool:
        """True when no chunk failed."""
        return not self.failures


def layout(spec: SweepSpec) -> dict:
    """Store coordinates of a sweep: axes, steps, streams, positions, and per-cell config coordinates."""
    cfgs = [cfg for _, cfg in spec.cells()]
    for name in ("log_every", "eval_every", "streams"):
        values = {getattr(c, name) for c in cfgs}
        if len(values) > 1:
            raise SpecError(f"{spec.source}: axes: {name} must be the same for every cell, got {sorted(values)}")
    longest = max(cfgs, key=lambda c: c.steps)
    cell_coords = {}
    for axis in spec.axes:
        if axis.presets is None:
            continue
        for f in axis.fields():
            vals = [dict(p).get(f, getattr(spec.base, f)) for p in axis.presets]
            if all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in vals):
                cell_coords[f"cfg_{f}"] = {"dims": [axis.name], "values": vals}
    return dict(axes={a.name: list(a.values) for a in spec.axes}, log_steps=list(longest.log_steps),
                eval_steps=list(longest.eval_steps), streams=list(longest.streams),
                seq_len=max(c.seq_len for c in cfgs), cell_coords=cell_coords)


def _spec_diff(old: str, new: str) -> str:
    pretty = lambda s: json.dumps(json.loads(s), indent=1, sort_keys=True).splitlines()  # noqa: E731
    return "\n".join(difflib.unified_diff(pretty(old), pretty(new), "store's spec", "this spec", lineterm="", n=1))


def same_spec(stored: str, current: str) -> bool:
    """True when two spec JSONs ask for the same runs.

    A config field added to the package after the store was made counts as equal when the current spec
    leaves it at its default, so upgrading gpicl-phase does not orphan finished stores.
    """
    from gpicl_phase.config import fields

    old, new = json.loads(stored), json.loads(current)
    defaults = {f.name: f.default for f in fields()}
    for name in set(new.get("base", {})) - set(old.get("base", {})):
        value = new["base"][name]
        if name in defaults and value == (list(defaults[name]) if isinstance(defaults[name], tuple)
                                          else defaults[name]):
            del new["base"][name]
    return old == new


def open_or_create(spec: SweepSpec, path: str, *, max_pack: int | None) -> dict:
    """Creates the store for ``spec``, or checks that an existing one was made from the same spec.

    Returns the packing parameters, which are fixed at creation so every resume plans the same chunks.
    """
    from gpicl_phase.sweep import execute

    if Path(path).exists():
        attrs = store.store_attrs(path)
        if not same_spec(attrs.get("spec", "{}"), spec.to_json()):
            raise SweepError(
                f"{path} was made from a different sweep spec; refusing to mix results.\n"
                f"{_spec_diff(attrs.get('spec', '{}'), spec.to_json())}\n"
                "Use a new --store path (stores of compatible sweeps can be analysed together). Adding values "
                "to an existing store is not possible: its layout is fixed at creation so readers never see "
                "it change.")
        pack = dict(attrs["pack"])
        if max_pack is not None and max_pack != pack["max_pack"]:
            print(f"note: --max-pack {max_pack} differs from the store's {pack['max_pack']}; keeping the "
                  "store's so resumed chunks are the same programs", file=sys.stderr)
        return pack
    import jax

    pack = {"budget_bytes": execute.device_budget(), "max_pack": max_pack}
    attrs = {
        "spec": spec.to_json(), "base_config": spec.base.to_json(), "sweep_name": spec.name,
        "description": spec.description, "source": spec.source, "package_version": __version__,
        "jax_version": jax.__version__, "device": execute.device_name(), "num_classes": spec.base.num_classes,
        "pack": pack,
    }
    store.create(path, attrs=attrs, **layout(spec))
    return pack


def pending_chunks(chunks: list[Chunk], status: np.ndarray) -> list[tuple[Chunk, frozenset]]:
    """Chunks with an unfinished cell, each with the set of its cells that are already finished."""
    out = []
    for chunk in chunks:
        done = frozenset(i for i in chunk.indices if status[i] in FINISHED)
        if len(done) < len(chunk.indices):
            out.append((chunk, done))
    return out


def run_sweep(spec: SweepSpec, path: str, *, executor: str = "local", max_pack: int | None = None,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              task_source: str = "auto", checkpoint_every: float = 300.0) -> SweepSummary:
    """Runs every unfinished cell of ``spec`` into the store at ``path``; returns what was done.

    ``task_source`` (auto, bank, fresh) picks how training tasks are made; every choice gives the same
    batches, so it never changes a result (``driver.bank_size``). Packs in training are checkpointed into
    the store every ``checkpoint_every`` seconds (``inf``: never), so a killed sweep resumes mid-run.
    """
    from gpicl_phase.driver import TASK_SOURCES
    from gpicl_phase.sweep import execute

    if executor not in ("local", "dask"):
        raise SweepError(f"--executor must be 'local' or 'dask', got {executor!r}")
    if task_source not in TASK_SOURCES:
        raise SweepError(f"--task-source must be one of {', '.join(TASK_SOURCES)}, got {task_source!r}")
    if not checkpoint_every >= 0:
        raise SweepError(f"--checkpoint-every must be seconds >= 0 (inf: never), got {checkpoint_every!r}")
    path = os.fspath(path)
    start = time.perf_counter()
    pack = open_or_create(spec, path, max_pack=max_pack)
    chunks = plan(spec, budget_bytes=pack["budget_bytes"], max_pack=pack["max_pack"])
    todo = pending_chunks(chunks, store.read_status(path))
    skipped = spec.size - sum(len(c.indices) - len(d) for c, d in todo)
    axis_names = tuple(a.name for a in spec.axes)
    bar = _progress_bar(todo, spec.size, skipped, enabled=progress)
    written: dict = {}
    failures: list = []

    def record(result, chunk):
        for k, v in result.written.items():
            written[k] = written.get(k, 0) + v
        if result.error:
            failures.append(f"chunk of {len(chunk.indices)} cells (group {chunk.group}): {result.error}")
        bar.chunk_done(chunk)

    if executor == "local":
        execute.enable_compile_cache()
        for chunk, done in todo:
            bar.start_chunk(chunk)
            record(execute.run_chunk(chunk, path, axis_names, done, on_chunk=bar.on_chunk if progress else None,
                                     task_source=task_source, checkpoint_every=checkpoint_every), chunk)
    else:
        from gpicl_phase.sweep.distributed import run_on_dask

        run_on_dask(todo, path, axis_names, record=record, workers=workers, scheduler=scheduler,
                    task_source=task_source, checkpoint_every=checkpoint_every)
    bar.close()
    return SweepSummary(spec.size, skipped, written, failures, time.perf_counter() - start)


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk of a dry run: what would be compiled and trained."""

    group: int
    runs: int
    size: int
    steps: int
    static: str
    bank: int
    run_mib: float


def check_sweep(spec: SweepSpec, *, max_pack: int | None = None, task_source: str = "auto",
                on_chunk=None) -> list[PlannedChunk]:
    """A dry run: plans ``spec`` as ``run_sweep`` would for a new store and traces every distinct program
    (no compile, no training, no store), so a sweep file's errors show in seconds. Chunks of one group with
    the same task bank size are one program and traced once; ``on_chunk(planned)`` is called as each is done."""
    from gpicl_phase.driver import TASK_SOURCES
    from gpicl_phase.sweep import execute
    from gpicl_phase.sweep.plan import run_bytes

    if task_source not in TASK_SOURCES:
        raise SweepError(f"--task-source must be one of {', '.join(TASK_SOURCES)}, got {task_source!r}")
    chunks = plan(spec, budget_bytes=execute.device_budget(), max_pack=max_pack)
    traced: set[tuple[int, int]] = set()
    out = []
    for chunk in chunks:
        try:
            bank = execute.check_chunk(chunk, task_source, traced)
        except Exception as err:
            raise SweepError(f"group {chunk.group} ({_static_text(chunk.static)}) does not trace: "
                             f"{type(err).__name__}: {err}") from err
        planned = PlannedChunk(chunk.group, len(chunk.configs), chunk.size, chunk.steps,
                               _static_text(chunk.static), bank, run_bytes(chunk.static) / 2**20)
        out.append(planned)
        if on_chunk is not None:
            on_chunk(planned)
    return out


def _static_text(static) -> str:
    """The shape-deciding fields of a group, for people."""
    return (f"{static.model} d_model={static.d_model} layers={static.num_layers} batch={static.batch_size} "
            f"T={static.seq_len} input={static.input_dim}")


class _progress_bar:
    """A tqdm bar over training steps (so its rate is steps per second) that also shows cells done/total."""

    def __init__(self, todo, total_cells: int, skipped: int, enabled: bool):
        from tqdm.auto import tqdm

        self.total_cells, self.done_cells = total_cells, skipped
        steps = sum(c.size * c.steps for c, _ in todo)
        self.bar = tqdm(total=steps, unit="step", unit_scale=True, disable=not enabled or not todo,
                        dynamic_ncols=True, file=sys.stderr)
        self.eval_every, self._runs = 1, 1
        self._chunk_steps = self._chunk_total = 0
        self._describe()

    def _describe(self):
        self.bar.set_description(f"cells {self.done_cells}/{self.total_cells}")

    def start_chunk(self, chunk: Chunk) -> None:
        self.eval_every, self._chunk_steps, self._chunk_total = chunk.static.eval_every, 0, chunk.size * chunk.steps
        self._runs = chunk.size

    def on_chunk(self, c) -> None:
        # Called between the chunk programs once per meta-test interval; one call stands for every packed run.
        n = min(self.eval_every * self._runs, self._chunk_total - self._chunk_steps)
        self._chunk_steps += n
        self.bar.update(n)

    def chunk_done(self, chunk: Chunk) -> None:
        # Tops up steps the listener did not see (Dask workers run in other processes).
        self.bar.update(max(chunk.size * chunk.steps - self._chunk_steps, 0))
        self._chunk_steps = 0
        self.done_cells += len(chunk.indices)
        self._describe()

    def close(self) -> None:
        self.bar.close()

