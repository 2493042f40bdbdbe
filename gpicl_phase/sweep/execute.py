"""Running chunks: each chunk's runs trained as one pack (``driver.drive``), written cell by cell into the store.

``run_chunk`` is the one unit of work, used unchanged by the local loop and by Dask workers, so every
executor runs the same programs on the same inputs and writes the same numbers. What it needs beyond the
chunk comes in one ``Work`` value, fixed by the spec and the store (never by the memory free at the moment).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import sys
import time
import traceback
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase import checkpoints as checkpoints_io
from gpicl_phase import driver, models, store
from gpicl_phase.config import RunConfig
from gpicl_phase.engine import Engine
from gpicl_phase.rules import RunFacts, StopRules, Thresholds, decide_stops
from gpicl_phase.sweep.plan import Chunk
from gpicl_phase.train import hyper, run_key, task_data


@dataclass(frozen=True)
class Work:
    """How chunks of one sweep run: task source, checkpoint interval, the memory budget recorded in the
    store (task banks are planned with it), the stop rules of adaptive runs (None: train ``steps``) and the
    engine the store recorded (None: the backend's measured choice, for stores made before it was recorded)."""

    budget_bytes: int
    task_source: str = "auto"
    checkpoint_every: float = 300.0
    rules: StopRules | None = None
    thresholds: Thresholds = Thresholds()
    engine: Engine | None = None


@dataclass(frozen=True)
class ChunkResult:
    """What happened to a chunk: cells written with each status, run-steps trained, wall time, any error."""

    group: int
    written: dict
    wall_time: float
    error: str = ""
    run_steps: int = 0


def enable_compile_cache(path: str | None = None) -> None:
    """Turns on JAX's persistent compilation cache so a re-run or a resumed sweep skips compiles."""
    from gpicl_phase.data import cache_dir

    path = path or os.environ.get("GPICL_PHASE_JAX_CACHE") or str(cache_dir() / "jax-cache")
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def disable_compile_cache() -> None:
    """Turns the persistent compilation cache off again for this process (a notebook or a test that ran a
    sweep and wants later programs compiled afresh)."""
    from jax._src import compilation_cache  # JAX memoizes whether the cache is on; reset_cache forgets that

    jax.config.update("jax_compilation_cache_dir", None)
    compilation_cache.reset_cache()


def device_budget() -> int:
    """Bytes of device memory a new sweep plans with: the accelerator's limit, or half the host's RAM.

    Fixed properties of the machine, never the memory free at the moment, so the same spec packs the same
    way whatever else runs; the store records the number and every resume and worker reuses it.
    """
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def device_name() -> str:
    """The device runs are compiled for, e.g. 'cpu x1' or 'NVIDIA H100 80GB HBM3 x1'."""
    devs = jax.devices()
    return f"{devs[0].device_kind} x{len(devs)}"


@functools.lru_cache(maxsize=256)
def _sizes(static: RunConfig) -> tuple[int, int]:
    return models.count_params(static), models.state_size(static)


def _inputs(chunk: Chunk, work: Work):
    """``(data, hp, keys, bank)`` of a chunk's pack: padded to ``chunk.size``; ``bank`` tasks to bank (0: fresh)."""
    cfgs = list(chunk.configs) + [chunk.configs[-1]] * (chunk.size - len(chunk.configs))
    hp = hyper(cfgs)
    keys = jax.vmap(run_key)(jnp.asarray(hp.seed))
    data = task_data(chunk.static)
    bank = driver.bank_size(chunk.static, max(c.num_tasks for c in cfgs), chunk.size, data.train_x.shape[1],
                            work.budget_bytes, work.task_source)
    return data, hp, keys, bank


def stopper(static: RunConfig, work: Work) -> driver.Stopper | None:
    """The stop rule of a pack of this static config (None when the sweep is not adaptive)."""
    if work.rules is None:
        return None
    facts = RunFacts(static.streams, static.num_classes, static.eval_every, static.log_every, static.steps,
                     static.budget)
    decide = functools.partial(decide_stops, facts=facts, rules=work.rules, th=work.thresholds)
    return driver.Stopper(decide, work.rules.to_json() + work.thresholds.to_json())


def train_chunk(chunk: Chunk, work: Work, on_chunk=None, checkpoints: driver.Checkpoints | None = None):
    """Trains a chunk's runs as one pack; ``driver.Driven`` with a run axis of ``len(chunk.configs)``.

    ``on_chunk(c, runs)`` is called after each meta-test interval c (progress); ``checkpoints`` lets a killed
    chunk resume mid-run.
    """
    data, hp, keys, bank = _inputs(chunk, work)
    out = driver.drive(chunk.static, driver.with_bank(data, chunk.static, bank), hp, key=keys, packed=True,
                       on_chunk=on_chunk, checkpoints=checkpoints, stopper=stopper(chunk.static, work),
                       engine=work.engine)
    n = len(chunk.configs)
    return driver.Driven(type(out.metrics)(*(np.asarray(x)[:n] for x in out.metrics)), out.steps_trained[:n],
                         out.stop_reason[:n])


def check_chunk(chunk: Chunk, work: Work, traced: set | None = None) -> int:
    """Traces the chunk's programs as ``train_chunk`` would build them (nothing compiled, trained or
    written); returns the tasks it would bank (0: fresh draws). Raises what training would raise.
    ``traced``: (group, bank) pairs already traced, which are the same program and are skipped; updated."""
    data, hp, keys, bank = _inputs(chunk, work)
    if traced is None or (chunk.group, bank) not in traced:
        driver.check(chunk.static, data, hp, key=keys, packed=True, bank=bank, engine=work.engine)
        if traced is not None:
            traced.add((chunk.group, bank))
    return bank


def checkpoint_name(chunk: Chunk) -> str:
    """The store's name for a chunk's checkpoint: its group and cells, so a replanned sweep never mixes them."""
    return f"group{chunk.group}-" + hashlib.sha1(repr(chunk.indices).encode()).hexdigest()[:12]


def run_chunk(chunk: Chunk, store_path: str, axis_names: tuple[str, ...], work: Work,
              skip: frozenset = frozenset(), on_chunk=None) -> ChunkResult:
    """Trains a chunk and writes every cell not in ``skip`` (already finished); never raises for a bad run.

    Every ``work.checkpoint_every`` seconds (``inf``: never) the pack in training is checkpointed into the
    store, so a killed sweep resumes mid-run; the checkpoint is dropped once the cells are written.
    """
    cells = [(i, c) for i, c in zip(chunk.indices, chunk.configs) if i not in skip]
    where = [dict(zip(axis_names, i)) for i, _ in cells]
    store.set_status(store_path, where, "running")
    start = time.perf_counter()
    name = checkpoint_name(chunk)
    # Wall seconds of the segments before a kill travel in the checkpoint, so a resumed run records its total.
    earlier = {"found": 0.0, "used": 0.0}

    def load():
        found = checkpoints_io.load(store_path, name)
        earlier["found"] = float(found[1].get("wall_time", 0.0)) if found else 0.0
        return found

    def save(arrays, meta):
        checkpoints_io.save(store_path, name, arrays,
                            {**meta, "wall_time": earlier["used"] + time.perf_counter() - start})

    def resumed(step):
        earlier["used"] = earlier["found"]
        print(f"group {chunk.group}: {len(cells)} runs resume from their checkpoint at step {step} "
              f"({earlier['found']:.0f} s of training before)", file=sys.stderr)

    checkpoints = None if work.checkpoint_every == float("inf") else driver.Checkpoints(
        save=save, load=load, every=work.checkpoint_every, resumed=resumed)
    try:
        out = train_chunk(chunk, work, on_chunk, checkpoints)
    except OSError as err:
        if err.errno == errno.ENOSPC:  # the disk, not the runs: stop the sweep, nothing written is torn
            raise store_full(store_path, err) from None
        raise
    except Exception as err:  # one failing program must not take the sweep down: record it and go on
        msg = f"{type(err).__name__}: {err}"
        store.set_status(store_path, where, "failed", msg)
        tb = traceback.format_exc(limit=3)
        return ChunkResult(chunk.group, {"failed": len(cells)}, time.perf_counter() - start, msg + "\n" + tb)
    wall = time.perf_counter() - start
    try:
        written = _write(chunk, cells, where, out, store_path, work, earlier["used"] + wall)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise store_full(store_path, err) from None
        raise
    checkpoints_io.drop(store_path, name)
    return ChunkResult(chunk.group, written, wall, run_steps=int(out.steps_trained.sum()))


def store_full(path: str, err: OSError) -> store.StoreError:
    """The one message a full disk gives: what failed, what is needed, and that resuming is safe."""
    try:
        need = f"about {store.bytes_per_run(path) / 1024:.0f} KiB per run"
    except store.StoreError:
        need = "a few KiB per run"
    return store.StoreError(
        f"the disk holding {path} is full ({err.strerror}): the store needs {need}, and checkpoints of packs in "
        "training more. Runs already written are complete; free some space and run the same command again to "
        "resume exactly where it stopped.")


def _write(chunk, cells, where, out, store_path, work, wall) -> dict:
    m = out.metrics
    written = {"done": 0, "diverged": 0}
    pos = {idx: k for k, idx in enumerate(chunk.indices)}
    for (idx, cfg), index in zip(cells, where):
        k = pos[idx]
        params, state = _sizes(cfg.static_part())
        div = int(m.diverged_step[k])
        status = "diverged" if div >= 0 else "done"
        written[status] += 1
        store.write_cell(
            store_path, index, train_loss=m.train_loss[k], grad_norm=m.grad_norm[k], eval_acc=m.eval_acc[k],
            eval_loss=m.eval_loss[k], param_count=params, state_size=state, wall_time=wall / len(chunk.configs),
            steps_trained=int(out.steps_trained[k]), max_steps=cfg.budget if work.rules else cfg.steps,
            stop_reason=int(out.stop_reason[k]), status=status, diverged_step=div,
            message=f"non-finite loss or gradient at step {div}" if div >= 0 else "")
    return written
