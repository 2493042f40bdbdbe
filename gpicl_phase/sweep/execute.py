"""Running chunks: one ``jit(vmap(train))`` per chunk, results written cell by cell into the store.

``run_chunk`` is the one unit of work, used unchanged by the local loop and by Dask workers, so every
executor runs the same programs on the same inputs and writes the same numbers.
"""

from __future__ import annotations

import functools
import os
import time
import traceback
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase import models, store
from gpicl_phase.config import RunConfig
from gpicl_phase.sweep.plan import Chunk
from gpicl_phase.train import Metrics, hyper, make_train, run_key, task_data

# Progress listeners of this process. A compiled program can only call back into module-level code, and
# the program is cached per static config, so the listener cannot be baked into it.
_LISTENERS: list = []


def _notify(c) -> None:
    for listener in list(_LISTENERS):
        listener(c)


@dataclass(frozen=True)
class ChunkResult:
    """What happened to a chunk: cells written with each status, wall time, and an error if it failed."""

    group: int
    written: dict
    wall_time: float
    error: str = ""


def enable_compile_cache(path: str | None = None) -> None:
    """Turns on JAX's persistent compilation cache so a re-run or a resumed sweep skips compiles."""
    from gpicl_phase.data import cache_dir

    path = path or os.environ.get("GPICL_PHASE_JAX_CACHE") or str(cache_dir() / "jax-cache")
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def device_budget() -> int:
    """Bytes of device memory the sweep may plan with: the accelerator's limit, or available host RAM."""
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    import psutil

    return int(psutil.virtual_memory().available)


def device_name() -> str:
    """The device runs are compiled for, e.g. 'cpu x1' or 'NVIDIA H100 80GB HBM3 x1'."""
    devs = jax.devices()
    return f"{devs[0].device_kind} x{len(devs)}"


@functools.lru_cache(maxsize=16)
def packed(static: RunConfig, progress: bool = False):
    """``jit(vmap(train))`` over a leading run axis of hyper-parameters and keys, cached per static config.

    With ``progress`` the program calls back to the host after each meta-test interval. JAX never puts a
    program with host callbacks in its persistent compilation cache, so quiet sweeps and Dask workers
    (which report progress per chunk instead) compile without one and are cached.
    """
    train = make_train(static, on_chunk=_notify if progress else None)
    return jax.jit(jax.vmap(lambda data, hp, key: train(data, hp, key=key), in_axes=(None, 0, 0)))


@functools.lru_cache(maxsize=256)
def _sizes(static: RunConfig) -> tuple[int, int]:
    return models.count_params(static), models.state_size(static)


def train_chunk(chunk: Chunk, progress: bool = False) -> Metrics:
    """Trains a chunk's runs in one program; returns numpy metrics with a run axis of ``len(chunk.configs)``."""
    cfgs = list(chunk.configs) + [chunk.configs[-1]] * (chunk.size - len(chunk.configs))
    hp = hyper(cfgs)
    keys = jax.vmap(run_key)(jnp.asarray(hp.seed))
    out = packed(chunk.static, progress)(task_data(chunk.static), hp, keys)
    n = len(chunk.configs)
    return Metrics(*(np.asarray(x)[:n] for x in out))


def run_chunk(chunk: Chunk, store_path: str, axis_names: tuple[str, ...], skip: frozenset = frozenset(),
              progress: bool = False):
    """Trains a chunk and writes every cell not in ``skip`` (already finished); never raises for a bad run."""
    cells = [(i, c) for i, c in zip(chunk.indices, chunk.configs) if i not in skip]
    where = [dict(zip(axis_names, i)) for i, _ in cells]
    store.set_status(store_path, where, "running")
    start = time.perf_counter()
    try:
        metrics = train_chunk(chunk, progress)
    except Exception as err:  # one failing program must not take the sweep down: record it and go on
        msg = f"{type(err).__name__}: {err}"
        store.set_status(store_path, where, "failed", msg)
        tb = traceback.format_exc(limit=3)
        return ChunkResult(chunk.group, {"failed": len(cells)}, time.perf_counter() - start, msg + "\n" + tb)
    wall = time.perf_counter() - start
    written = {"done": 0, "diverged": 0}
    pos = {idx: k for k, idx in enumerate(chunk.indices)}
    for (idx, cfg), index in zip(cells, where):
        k = pos[idx]
        params, state = _sizes(cfg.static_part())
        div = int(metrics.diverged_step[k])
        status = "diverged" if div >= 0 else "done"
        written[status] += 1
        store.write_cell(
            store_path, index, train_loss=metrics.train_loss[k], grad_norm=metrics.grad_norm[k],
            eval_acc=metrics.eval_acc[k], eval_loss=metrics.eval_loss[k], param_count=params,
            state_size=state, wall_time=wall / len(chunk.configs), status=status, diverged_step=div,
            message=f"non-finite loss or gradient at step {div}" if div >= 0 else "")
    return ChunkResult(chunk.group, written, wall)
