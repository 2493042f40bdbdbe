"""The host loop: a run, or a pack of runs, as two compiled programs (start, chunk) called from Python.

``train.make_train`` scans the chunks inside one program; looping them from the host instead gives the same
numbers (tests check it) and three things one program cannot: progress between chunks without host
callbacks (JAX's persistent compilation cache refuses programs that have them), a compile of one chunk of
``eval_every`` steps instead of the whole run, and checkpoints between chunks, so a killed long run resumes
where it was (and, resumed, gives the numbers it would have given uninterrupted).

Here too the task source is chosen: a ``TaskBank`` when every task a pack draws fits the device's memory
budget and building it costs fewer Gaussian draws than the runs would make fresh, else a fresh projection per
sequence. Both give the same batches.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase import tasks
from gpicl_phase.config import RunConfig
from gpicl_phase.tasks import TaskData
from gpicl_phase.train import ChunkOut, Hyper, Metrics, assemble, make_stages, task_root

TASK_SOURCES = ("auto", "bank", "fresh")
BANK_SHARE = 0.25  # at most this share of the device budget goes to a task bank


@functools.lru_cache(maxsize=16)
def programs(static: RunConfig, packed: bool):
    """``(start, chunk, n_chunks)`` jitted for a static config, vmapped over a leading run axis if ``packed``.

    The carry is not donated: a pack's parameters and Adam state are small next to the activations, and
    donated buffers must never be seen by numpy views on the host (checkpoints, metrics).
    """
    stages = make_stages(static)
    start, chunk = stages.start, stages.chunk
    if packed:
        start = jax.vmap(start, in_axes=(None, 0, 0))
        chunk = jax.vmap(chunk, in_axes=(None, 0, 0, None))
    return jax.jit(start), jax.jit(chunk), stages.n_chunks


@dataclass(frozen=True)
class Checkpoints:
    """Where a pack's checkpoint lives (the store provides these): ``save(arrays, meta)`` and
    ``load() -> (arrays, meta) | None``; a checkpoint is written at most every ``every`` seconds, and
    ``resumed(step)`` is told when training starts from one."""

    save: Callable[[dict, dict], None]
    load: Callable[[], tuple[dict, dict] | None]
    every: float = 300.0
    resumed: Callable[[int], None] | None = None


def drive(static: RunConfig, data: TaskData, hp: Hyper, key: jax.Array, *, packed: bool,
          on_chunk: Callable[[int], None] | None = None, checkpoints: Checkpoints | None = None) -> Metrics:
    """Trains one run (``packed=False``) or a pack (``hp`` and ``key`` with a leading run axis); numpy metrics.

    ``on_chunk(c)`` is called on the host once chunk ``c`` has finished (for progress bars). With
    ``checkpoints``, training starts from a checkpoint of these same runs if there is one.
    """
    start, chunk, n_chunks = programs(static, packed)
    fingerprint = _fingerprint(static, hp, key)
    resumed = _resume(checkpoints, fingerprint, start, data, hp, key) if checkpoints else None
    if resumed is None:
        carry, first = start(data, hp, key)
        outs, begin = [], 0
    else:
        carry, first, outs, begin = resumed
        if checkpoints.resumed is not None:
            checkpoints.resumed(begin * static.eval_every)
        for c in range(begin):
            if on_chunk is not None:
                on_chunk(c)
    saved_at = time.monotonic()
    pending = None
    for c in range(begin, n_chunks):
        # Dispatch chunk c before waiting for chunk c-1's outputs, so the device never idles on the host.
        carry, out = chunk(data, hp, carry, np.int32(c))
        if pending is not None:
            _collect(outs, pending, on_chunk)
        pending = (c, out)
        if checkpoints and c + 1 < n_chunks and time.monotonic() - saved_at >= checkpoints.every:
            _collect(outs, pending, on_chunk)
            pending = None
            checkpoints.save(*_snapshot(carry, first, outs, c + 1, fingerprint))
            saved_at = time.monotonic()
    if pending is not None:
        _collect(outs, pending, on_chunk)
    axis = 1 if packed else 0
    stacked = ChunkOut(*(np.stack(parts, axis=axis) for parts in zip(*outs, strict=True)))
    first = tuple(np.asarray(x) for x in first)
    return assemble(first, stacked, np.asarray(carry.diverged_step))


def check(static: RunConfig, data: TaskData, hp: Hyper, key: jax.Array, *, packed: bool, bank: int = 0) -> None:
    """Traces ``drive``'s programs on these inputs without compiling or running them (seconds, not minutes):
    shape and config errors surface as they would in training. ``bank``: the task bank ``drive`` would get
    (only its shape is made)."""
    start, chunk, _ = programs(static, packed)
    if bank > 0:
        shape = jax.eval_shape(lambda: tasks.build_bank(task_root(static.task_seed), bank, data.train_x.shape[1],
                                                        static.num_classes))
        data = data._replace(bank=shape)
    carry, _ = jax.eval_shape(start, data, hp, key)
    jax.eval_shape(chunk, data, hp, carry, np.int32(0))


def _collect(outs: list, pending: tuple, on_chunk) -> None:
    c, out = pending
    outs.append(ChunkOut(*(np.asarray(x) for x in out)))
    if on_chunk is not None:
        on_chunk(c)


def _fingerprint(static: RunConfig, hp: Hyper, key: jax.Array) -> str:
    """What a checkpoint must match to be resumed from: the static config, every run's hyper-parameters, keys."""
    h = hashlib.sha256(static.to_json().encode())
    for leaf in (*hp, jax.random.key_data(key)):
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return h.hexdigest()


def _snapshot(carry, first, outs: list[ChunkOut], next_chunk: int, fingerprint: str) -> tuple[dict, dict]:
    """A checkpoint's arrays and meta: the carry's leaves (keys as their raw data), the meta-tests so far."""
    leaves = jax.tree_util.tree_leaves(carry)
    is_key = [jnp.issubdtype(x.dtype, jax.dtypes.prng_key) for x in leaves]
    # Copies, so a checkpoint never shares memory with device buffers (np.asarray may view them on CPU).
    arrays = {f"carry{i}": np.array(jax.random.key_data(x) if k else x, copy=True)
              for i, (x, k) in enumerate(zip(leaves, is_key, strict=True))}
    arrays |= {f"first{i}": np.asarray(x) for i, x in enumerate(first)}
    arrays |= {f"out_{name}": np.stack([getattr(o, name) for o in outs]) for name in ChunkOut._fields}
    meta = {"fingerprint": fingerprint, "next_chunk": next_chunk,
            "key_leaves": [i for i, k in enumerate(is_key) if k]}
    return arrays, meta


def _resume(checkpoints: Checkpoints, fingerprint: str, start, data, hp, key):
    """``(carry, first, outs, next_chunk)`` from a checkpoint of exactly these runs, or None."""
    found = checkpoints.load()
    if found is None:
        return None
    arrays, meta = found
    if meta.get("fingerprint") != fingerprint:
        return None  # another pack's (a changed sweep): start over rather than mix runs
    carry_shape, first_shape = jax.eval_shape(start, data, hp, key)
    leaves, treedef = jax.tree_util.tree_flatten(carry_shape)
    restored = []
    for i, like in enumerate(leaves):
        value = arrays[f"carry{i}"]
        is_key = i in meta["key_leaves"]
        # Copies: device arrays that own their memory, never views of the file's numpy arrays.
        restored.append(jax.random.wrap_key_data(jnp.array(value)) if is_key else jnp.array(value, like.dtype))
    carry = jax.tree_util.tree_unflatten(treedef, restored)
    first = tuple(arrays[f"first{i}"] for i in range(len(first_shape)))
    n = meta["next_chunk"]
    outs = [ChunkOut(*(arrays[f"out_{name}"][c] for name in ChunkOut._fields)) for c in range(n)]
    return carry, first, outs, n


def bank_size(static: RunConfig, num_tasks: int, runs: int, input_dim: int, budget_bytes: int,
              mode: str = "auto") -> int:
    """Tasks to bank for a pack of ``runs`` runs drawing ids below ``num_tasks`` (0: draw fresh projections).

    ``auto`` banks when the bank takes at most BANK_SHARE of ``budget_bytes`` and has no more tasks than the
    runs would draw fresh (steps x task groups x runs); otherwise building it would cost more than it saves.
    """
    if mode not in TASK_SOURCES:
        raise ValueError(f"task source must be one of {', '.join(TASK_SOURCES)}, got {mode!r}")
    need = tasks.bank_bytes(num_tasks, input_dim, static.num_classes)
    if mode == "fresh":
        return 0
    if mode == "bank":
        if need > budget_bytes:
            raise ValueError(f"a bank of {num_tasks} tasks at {input_dim} features needs {need / 2**30:.1f} GiB, "
                             f"more than the {budget_bytes / 2**30:.1f} GiB device budget; use task source "
                             "'fresh' or 'auto'")
        return num_tasks
    draws = static.steps * (static.tasks_per_batch or static.batch_size) * runs
    return num_tasks if need <= BANK_SHARE * budget_bytes and num_tasks <= draws else 0


def with_bank(data: TaskData, static: RunConfig, n: int) -> TaskData:
    """``data`` with a bank of tasks 0..n-1 (n > 0), or without one (n = 0)."""
    if n <= 0:
        return data._replace(bank=None)
    return data._replace(bank=_bank(static.task_seed, data.train_x.shape[1], static.num_classes, n))


@functools.lru_cache(maxsize=1)  # one bank alive at a time: consecutive chunks of a sweep share it
def _bank(task_seed: int, input_dim: int, num_classes: int, n: int) -> tasks.TaskBank:
    return jax.block_until_ready(tasks.build_bank(task_root(task_seed), n, input_dim, num_classes))
