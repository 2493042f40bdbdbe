"""The host loop: a run, or a pack of runs, as two compiled programs (start, chunk) called from Python.

``train.make_train`` scans the chunks inside one program; looping them from the host instead gives the same
numbers (tests check it) and what one program cannot: progress between chunks without host callbacks (JAX's
persistent compilation cache refuses programs that have them), a compile of one chunk of ``eval_every`` steps
instead of the whole run, checkpoints between chunks (a killed run resumes where it was and gives the numbers
it would have given uninterrupted), and adaptive runs: after each meta-test a stop rule may end some runs.

When half a pack has stopped, the runs still training move into a pack of the next power of two (the
carry gathered on device), so stopped runs do not burn compute for long and a group compiles at most
log2(pack size) + 1 chunk programs. Which runs stop, and so every re-pack, is a function of the runs'
numbers alone: a resumed pack takes the same path.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase import tasks
from gpicl_phase.config import RunConfig
from gpicl_phase.driver import record as rec
from gpicl_phase.engine import Engine
from gpicl_phase.rules.stopping import REASON, History
from gpicl_phase.tasks import TaskData
from gpicl_phase.train import ChunkOut, Hyper, Metrics, make_stages, task_root


def resolve(engine: Engine | None) -> Engine:
    """The engine given, or the measured choice for the backend JAX runs on (decided before any tracing)."""
    return Engine.for_backend(jax.default_backend()) if engine is None else engine


@functools.lru_cache(maxsize=16)
def programs(static: RunConfig, packed: bool, engine: Engine):
    """``(start, chunk, n_chunks)`` jitted for a static config and engine, vmapped over a leading run axis if
    ``packed``. The engine is part of the cache key: a changed option builds new programs.

    The carry is not donated: a pack's parameters and Adam state are small next to the activations, and
    donated buffers must never be seen by numpy views on the host (checkpoints, metrics).
    """
    stages = make_stages(static, engine)
    init, chunk = stages.init, stages.chunk
    if packed:
        # A loop over the runs, not vmap: vmapped random draws compile several times slower on XLA:CPU (the
        # init of a pack compiled longer than its training chunk), and each run's parameters are the same bits.
        def init(hp, key):
            return jax.lax.map(lambda run: stages.init(*run), (hp, key))
        chunk = jax.vmap(chunk, in_axes=(None, 0, 0, None))
    chunk = jax.jit(chunk)
    return Start(jax.jit(init), chunk), chunk, stages.n_chunks


@dataclass(frozen=True)
class Start:
    """``start(data, hp, key) -> (carry, (acc0, loss0))`` as two programs: ``init`` (small) and the chunk program at
    c = -1, its meta-test alone, so the evaluation is compiled once per group rather than once more for start."""

    init: Callable
    chunk: Callable

    def __call__(self, data: TaskData, hp: Hyper, key: jax.Array):
        carry = self.init(hp, key)
        _, out = self.chunk(data, hp, carry, np.int32(-1))
        return carry, (out.eval_acc, out.eval_loss)


@dataclass(frozen=True)
class Checkpoints:
    """Where a pack's checkpoint lives (the store provides these): ``save(arrays, meta)`` and
    ``load() -> (arrays, meta) | None``; a checkpoint is written at most every ``every`` seconds, and
    ``resumed(step)`` is told when training starts from one."""

    save: Callable[[dict, dict], None]
    load: Callable[[], tuple[dict, dict] | None]
    every: float = 300.0
    resumed: Callable[[int], None] | None = None


@dataclass(frozen=True)
class Stopper:
    """An adaptive pack's stop rule: ``decide(history) -> reason codes`` (0: go on) for the runs given, and
    ``key``, text that names the rule (checkpoints of another rule are not resumed)."""

    decide: Callable[[History], np.ndarray]
    key: str


class Driven(NamedTuple):
    """A pack's results: metrics (run axis first when packed), steps each run trained and why it stopped."""

    metrics: Metrics
    steps_trained: np.ndarray
    stop_reason: np.ndarray


def drive(static: RunConfig, data: TaskData, hp: Hyper, *, key: jax.Array, packed: bool,
          on_chunk: Callable[[int, np.ndarray], None] | None = None, checkpoints: Checkpoints | None = None,
          stopper: Stopper | None = None, engine: Engine | None = None) -> Driven:
    """Trains one run (``packed=False``) or a pack (``hp`` and ``key`` with a leading run axis); numpy results.

    Without ``stopper`` every run trains ``static.steps``; with one, runs train up to ``static.budget`` and stop
    when it says so. ``on_chunk(c, runs)`` is called on the host once interval ``c`` has finished, with the
    runs that trained in it (progress bars). With ``checkpoints``, training starts from a checkpoint of these
    same runs if there is one. ``engine``: how the model is lowered (default: ``resolve(None)``).
    """
    engine = resolve(engine)
    start, chunk, _ = programs(static, packed, engine)
    n_chunks = (static.budget if stopper else static.steps) // static.eval_every
    one = (lambda x: x[None]) if not packed else (lambda x: x)  # noqa: E731  views with a run axis
    fp = rec.fingerprint(static, hp, key, (stopper.key if stopper else "") + engine.to_json())
    found = checkpoints.load() if checkpoints else None
    resumed = rec.restore(found, fp, jax.eval_shape(start, data, hp, key)[0]) if found else None
    if resumed is None:
        carry, first = start(data, hp, key)
        record = rec.Record.empty(*(one(np.asarray(x)) for x in first), n_chunks,
                                  static.eval_every // static.log_every)
        slots, begin = np.arange(record.chunks.size), 0
    else:
        carry, record, slots, begin = resumed
        if checkpoints.resumed is not None:
            checkpoints.resumed(begin * static.eval_every)
        for c in range(begin):
            if on_chunk is not None:
                on_chunk(c, np.flatnonzero(record.chunks > c))
    hp_now = _take(hp, slots) if packed and not np.array_equal(slots, np.arange(record.chunks.size)) else hp
    live = record.reason == 0
    saved_at = time.monotonic()
    pending = None

    def collect(c, out, diverged_step):
        runs, pos = np.unique(slots, return_index=True)
        runs, pos = runs[live[runs]], pos[live[runs]]
        take = lambda x: one(np.asarray(x))[pos]  # noqa: E731
        record.put(runs, c, ChunkOut(*(take(x) for x in out)), take(diverged_step))
        if on_chunk is not None:
            on_chunk(c, runs)
        return runs

    for c in range(begin, n_chunks):
        carry, out = chunk(data, hp_now, carry, np.int32(c))
        if stopper is None:
            # Dispatch interval c before reading c-1's outputs, so the device never idles on the host.
            if pending is not None:
                collect(*pending)
            pending = (c, out, carry.diverged_step)
        else:
            runs = collect(c, out, carry.diverged_step)
            reasons = np.asarray(stopper.decide(record.history(runs, c)), np.int8)
            record.reason[runs] = reasons
            live = record.reason == 0
            if not live.any():
                break
            if packed and live.sum() <= len(slots) // 2:
                carry, slots = _repack(carry, slots, np.flatnonzero(live))
                hp_now = _take(hp, slots)
        if checkpoints and c + 1 < n_chunks and time.monotonic() - saved_at >= checkpoints.every:
            if pending is not None:
                collect(*pending)
                pending = None
            checkpoints.save(*rec.snapshot(carry, record, slots, c + 1, fp))
            saved_at = time.monotonic()
    if pending is not None:
        collect(*pending)
    record.reason[record.reason == 0] = REASON["budget"]
    record.reason[record.diverged >= 0] = REASON["diverged"]
    steps = record.chunks * static.eval_every
    if packed:
        return Driven(record.metrics(), steps, record.reason)
    return Driven(Metrics(*(x[0] for x in record.metrics())), steps[0], record.reason[0])


def _repack(carry, slots: np.ndarray, live: np.ndarray) -> tuple:
    """The live runs' carries in a pack of the next power of two (padded with copies of the first live run)."""
    size = 1 << (len(live) - 1).bit_length()
    if size >= len(slots):
        return carry, slots
    new = np.concatenate([live, np.full(size - len(live), live[0])])
    where = {int(r): i for i, r in reversed(list(enumerate(slots)))}  # first position of each run
    idx = jnp.asarray([where[int(r)] for r in new])
    return jax.tree_util.tree_map(lambda x: x[idx], carry), new


def _take(hp: Hyper, slots: np.ndarray) -> Hyper:
    """The hyper-parameters of the runs in ``slots``, in that order."""
    return Hyper(*(np.asarray(leaf)[slots] for leaf in hp))


def check(static: RunConfig, data: TaskData, hp: Hyper, *, key: jax.Array, packed: bool, bank: int = 0,
          engine: Engine | None = None) -> None:
    """Traces ``drive``'s programs on these inputs without compiling or running them (seconds, not minutes):
    shape and config errors surface as they would in training. ``bank``: the task bank ``drive`` would get
    (only its shape is made)."""
    start, chunk, _ = programs(static, packed, resolve(engine))
    if bank > 0:
        shape = jax.eval_shape(lambda: tasks.build_bank(task_root(static.task_seed), bank, data.train_x.shape[1],
                                                        static.num_classes))
        data = data._replace(bank=shape)
    carry, _ = jax.eval_shape(start, data, hp, key)
    jax.eval_shape(chunk, data, hp, carry, np.int32(0))
