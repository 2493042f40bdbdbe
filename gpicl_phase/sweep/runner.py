"""A whole sweep: create (or reopen) the store, skip finished chunks, run the rest locally or on Dask.

Exactly-once: a chunk is skipped when all its cells are done or diverged; otherwise it runs again as the
same program on the same inputs, and only its unfinished cells are written. A store that refinement grew
(``sweep.rounds``) is planned round by round, so the chunks of earlier rounds never change. Keys come from each run's
seed, never from execution order, so a killed-and-resumed or distributed sweep writes what an
uninterrupted local one would.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpicl_phase import __version__, store
from gpicl_phase.choices import EXECUTORS
from gpicl_phase.engine import Engine
from gpicl_phase.sweep import rounds
from gpicl_phase.sweep.plan import Chunk, plan, run_bytes, static_text
from gpicl_phase.sweep.progress import ProgressBar
from gpicl_phase.sweep.spec import SpecError, SweepSpec

FINISHED = store.FINISHED


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
    run_steps: int = 0

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
    longest = max(cfgs, key=lambda c: c.budget if spec.rules else c.steps)
    cell_coords = {}
    for axis in spec.axes:
        if axis.presets is None:
            continue
        for f in axis.fields():
            vals = [dict(p).get(f, getattr(spec.base, f)) for p in axis.presets]
            if all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in vals):
                cell_coords[f"cfg_{f}"] = {"dims": [axis.name], "values": vals}
    if spec.rules is None:  # every run trains `steps`: the store's step axes end there
        longest = longest.replace(max_steps=0)
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


def open_or_create(spec: SweepSpec, path: str, *, max_pack: int | None, engine: Engine | None = None,
                   probe_pack: bool = False) -> dict:
    """Creates the store for ``spec``, or checks that an existing one was made from the same spec.

    Returns the packing parameters and the engine (``pack["engine"]``, options as a dict), which are fixed at
    creation so every resume plans the same chunks and compiles the same programs. ``engine``: None, the
    backend's measured choice. ``probe_pack``: time each program group's chunk program at growing pack sizes
    and record the size after which packing stops paying (``pack["probed"]``; ``sweep.pack_probe``).
    """
    from gpicl_phase.sweep import execute

    if Path(path).exists() and not (Path(path).is_dir() and not any(Path(path).iterdir())):
        try:
            attrs = store.store_attrs(path)
            store.open_group(path, mode="r+")  # refuses stores this version cannot write
        except store.StoreError as err:
            raise SweepError(f"--store: {err}") from None
        if not same_spec(attrs.get("spec", "{}"), spec.to_json()):
            raise SweepError(
                f"{path} was made from a different sweep spec; refusing to mix results.\n"
                f"{_spec_diff(attrs.get('spec', '{}'), spec.to_json())}\n"
                "Use a new --store path (stores of compatible sweeps can be analysed together). To add cells "
                "where the phase changes, refine the store instead: gpicl-phase refine STORE.")
        pack = dict(attrs["pack"])
        if max_pack is not None and max_pack != pack["max_pack"]:
            print(f"note: --max-pack {max_pack} differs from the store's {pack['max_pack']}; keeping the "
                  "store's so resumed chunks are the same programs", file=sys.stderr)
        recorded = work_engine(pack)
        if engine is not None and recorded is not None and engine != recorded:
            print(f"note: the engine asked for ({engine.to_json()}) differs from the store's "
                  f"({recorded.to_json()}); keeping the store's so resumed runs compute the same numbers",
                  file=sys.stderr)
        return pack
    import jax

    engine = Engine.for_backend(jax.default_backend()) if engine is None else engine
    pack = {"budget_bytes": execute.device_budget(), "max_pack": max_pack, "engine": json.loads(engine.to_json())}
    if probe_pack:
        pack["probed"] = probed_sizes(spec, pack, engine)
    attrs = {
        "spec": spec.to_json(), "base_config": spec.base.to_json(), "sweep_name": spec.name,
        "description": spec.description, "source": spec.source, "package_version": __version__,
        "jax_version": jax.__version__, "device": execute.device_name(), "num_classes": spec.base.num_classes,
        "pack": pack, "thresholds": spec.thresholds.to_json(),
    }
    if spec.rules is not None:
        attrs["stop_rules"] = spec.rules.to_json()
    try:
        store.create(path, attrs=attrs, **layout(spec))
    except store.StoreError as err:
        raise SweepError(f"--store: {err}") from None
    return pack


def _requeue_damaged(path: str) -> None:
    """Runs whose files fail verification are set pending, so this sweep runs them again."""
    damaged = store.verify(path)
    if not damaged:
        return
    print(f"{len(damaged)} damaged run(s) will run again:\n" + "\n".join(f"  {t}" for _, t in damaged[:20]),
          file=sys.stderr)
    dims = list(store.open_group(path, mode="r")["status"].metadata.dimension_names)
    store.set_status(path, [dict(zip(dims, cell)) for cell, _ in damaged], "pending",
                     "damaged files: run again")


def pending_chunks(chunks: list[Chunk], status: np.ndarray) -> list[tuple[Chunk, frozenset]]:
    """Chunks with an unfinished cell, each with the set of its cells that are already finished."""
    out = []
    for chunk in chunks:
        done = frozenset(i for i in chunk.indices if status[i] in FINISHED)
        if len(done) < len(chunk.indices):
            out.append((chunk, done))
    return out


def check_arguments(spec: SweepSpec, *, task_source: str = "auto", max_pack: int | None = None,
                    workers: int | None = None, executor: str = "local", checkpoint_every: float = 300.0) -> None:
    """Refuses arguments a sweep cannot run with, before anything is written (the dry run checks them too)."""
    from gpicl_phase.driver import TASK_SOURCES

    if executor not in EXECUTORS:
        raise SweepError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if task_source not in TASK_SOURCES:
        raise SweepError(f"--task-source must be one of {', '.join(TASK_SOURCES)}, got {task_source!r}")
    if not checkpoint_every >= 0:
        raise SweepError(f"--checkpoint-every must be seconds >= 0 (inf: never), got {checkpoint_every!r}")
    if max_pack is not None and (isinstance(max_pack, bool) or max_pack < 1):
        raise SweepError(f"--max-pack must be at least 1 run per program, got {max_pack}")
    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")


def check_store_path(path: str) -> None:
    """Refuses, before the lock file beside it is made, a --store path that can be neither created nor resumed:
    a regular file, or a directory that holds something other than a results store."""
    p = Path(path)
    if p.exists() and not (p.is_dir() and not any(p.iterdir())):
        try:
            store.store_attrs(p)
        except store.StoreError as err:
            raise SweepError(f"--store: {err}") from None
    elif not p.exists() and any(q.exists() and not q.is_dir() for q in p.parents):
        raise SweepError(f"--store: {p} lies under a regular file, not a directory")


def check_runnable(spec: SweepSpec, budget_bytes: int | None = None) -> None:
    """Refuses, before a store exists, a sweep whose runs cannot fit the device or whose datasets cannot be
    read (a missing or damaged file would otherwise leave a store full of failed cells)."""
    from gpicl_phase import data
    from gpicl_phase.sweep import execute

    budget = execute.device_budget() if budget_bytes is None else budget_bytes
    configs = [cfg for _, cfg in spec.cells()]
    statics = {cfg.static_part() for cfg in configs}
    for static in statics:
        need = run_bytes(static)
        if need > budget:
            raise SweepError(f"a run of {static_text(static)} needs about {need / 2**30:.3g} GiB, more than the "
                             f"device budget of {budget / 2**30:.3g} GiB; nothing was written")
    wanted = {(name, c.image_size, c.channels) for c in configs for name in (c.dataset, *c.eval_datasets)}
    for name, size, channels in sorted(wanted, key=str):
        try:
            data.load(name, image_size=size, channels=channels)
        except (data.DataError, OSError, ValueError) as err:
            raise SweepError(f"dataset {name!r} cannot be read: {err}; nothing was written") from None


def sweep_plan(spec: SweepSpec, path: str, pack: dict) -> tuple[SweepSpec, list[Chunk]]:
    """The store's whole grid (the file's axes plus every refinement round's values) and its chunks, round
    by round; brings the store in line with its recorded rounds first (idempotent)."""
    recorded = rounds.read_rounds(store.store_attrs(path))
    rounds.apply(path, spec, recorded)
    full = rounds.extended(spec, recorded)
    chunks = plan(full, budget_bytes=pack["budget_bytes"], max_pack=pack["max_pack"],
                  rounds=rounds.cells_by_round(spec, recorded), probed=pack.get("probed"))
    return full, chunks


def probed_sizes(spec: SweepSpec, pack: dict, engine: Engine) -> dict[str, int]:
    """Per program group (static config JSON): the pack size ``pack_probe.choose_pack`` picks from timings,
    never more than memory allows or than the group has runs (rounded up to a power of two)."""
    from gpicl_phase.sweep.pack_probe import choose_pack, probe
    from gpicl_phase.sweep.plan import groups, pack_size

    log = lambda text: print(text, file=sys.stderr)  # noqa: E731
    out = {}
    for static, cells in groups(spec).items():
        cap = min(pack_size(static, pack["budget_bytes"], pack["max_pack"]), 1 << (cells - 1).bit_length())
        log(f"probing pack sizes up to {cap} for {static_text(static)}")
        out[static.to_json()] = choose_pack(cap, probe(static, engine, log=log))
        log(f"  chosen: {out[static.to_json()]} runs per pack")
    return out


def work_engine(pack: dict) -> Engine | None:
    """The engine a store recorded (None for stores made before engines were recorded: they ran with the
    backend's choice, which ``driver.resolve`` gives again)."""
    if "engine" not in pack:
        return None
    try:
        return Engine.from_json(json.dumps(pack["engine"]))
    except (TypeError, ValueError) as err:
        raise SweepError(f"the store's engine options cannot be used: {err}") from None


def run_sweep(spec: SweepSpec, path: str, *, executor: str = "local", max_pack: int | None = None,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              task_source: str = "auto", checkpoint_every: float = 300.0, lock: bool = True,
              engine: Engine | None = None, probe_pack: bool = False) -> SweepSummary:
    """Runs every unfinished cell of ``spec`` (and of the store's refinement rounds) into the store at ``path``.

    ``task_source`` (auto, bank, fresh) picks how training tasks are made; every choice gives the same
    batches (``driver.bank_size``). Packs in training are checkpointed into the store every
    ``checkpoint_every`` seconds (``inf``: never), so a killed sweep resumes mid-run. The store's writer lock
    is held throughout (``lock=False``: the caller holds it, as a refinement does across its sweeps).
    ``engine``: how models are lowered in a new store (default: the backend's choice); a store keeps its own.
    ``probe_pack``: a new store's pack sizes chosen by timing (``open_or_create``); default: memory alone.
    """
    check_arguments(spec, task_source=task_source, max_pack=max_pack, workers=workers, executor=executor,
                    checkpoint_every=checkpoint_every)
    path = os.fspath(path)
    if lock:  # a caller that holds the lock (a refinement, round after round) checked these once already
        check_runnable(spec)
        check_store_path(path)
    try:
        with store.writer_lock(path) if lock else contextlib.nullcontext():
            return _run(spec, path, executor=executor, max_pack=max_pack, workers=workers, scheduler=scheduler,
                        progress=progress, task_source=task_source, checkpoint_every=checkpoint_every,
                        engine=engine, probe_pack=probe_pack)
    except store.StoreError as err:
        raise SweepError(str(err)) from None


def _run(spec: SweepSpec, path: str, *, executor, max_pack, workers, scheduler, progress, task_source,
         checkpoint_every, engine, probe_pack) -> SweepSummary:
    from gpicl_phase.sweep import execute

    start = time.perf_counter()
    pack = open_or_create(spec, path, max_pack=max_pack, engine=engine, probe_pack=probe_pack)
    full, chunks = sweep_plan(spec, path, pack)
    _requeue_damaged(path)
    todo = pending_chunks(chunks, store.read_status(path, order="disk"))
    cells = sum(len(c.indices) for c in chunks)
    skipped = cells - sum(len(c.indices) - len(d) for c, d in todo)
    axis_names = tuple(a.name for a in full.axes)
    work = execute.Work(budget_bytes=pack["budget_bytes"], task_source=task_source,
                        checkpoint_every=checkpoint_every, rules=spec.rules, thresholds=spec.thresholds,
                        engine=work_engine(pack))
    bar = ProgressBar(todo, cells, skipped, enabled=progress, adaptive=spec.rules is not None)
    written: dict = {}
    failures: list = []
    run_steps = [0]

    def record(result, chunk):
        for k, v in result.written.items():
            written[k] = written.get(k, 0) + v
        if result.error:
            failures.append(f"chunk of {len(chunk.indices)} cells (group {chunk.group}): {result.error}")
        run_steps[0] += result.run_steps
        bar.chunk_done(chunk, result.run_steps)

    if executor == "local":
        execute.enable_compile_cache()
        for chunk, done in todo:
            bar.start_chunk(chunk)
            record(execute.run_chunk(chunk, path, axis_names, work, done,
                                     on_chunk=bar.on_chunk if progress else None), chunk)
    else:
        from gpicl_phase.sweep.distributed import run_on_dask

        run_on_dask(todo, path, axis_names, work, record=record, workers=workers, scheduler=scheduler)
    bar.close()
    return SweepSummary(cells, skipped, written, failures, time.perf_counter() - start, run_steps[0])
