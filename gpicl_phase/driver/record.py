"""What a pack has produced so far, run by run, and its checkpoints (a snapshot of that plus the carry).

Runs of one pack may stop at different meta-tests, so outputs are kept per run in arrays sized for the
maximum budget, NaN where a run never trained; a stopped run's arrays stop growing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np

from gpicl_phase.config import RunConfig
from gpicl_phase.rules.stopping import History
from gpicl_phase.train import ChunkOut, Hyper, Metrics


@dataclass
class Record:
    """Per-run outputs (R runs, C meta-test intervals of W log windows; S streams, T positions)."""

    train_loss: np.ndarray  # [R, C * W]
    grad_norm: np.ndarray  # [R, C * W]
    eval_acc: np.ndarray  # [R, C + 1, S, T]; index 0 is the meta-test before training
    eval_loss: np.ndarray  # [R, C + 1, S, T]
    chunks: np.ndarray  # [R] intervals trained
    reason: np.ndarray  # [R] int8 stop reason (rules.REASON; 0 while training)
    diverged: np.ndarray  # [R] first non-finite step, -1 if none

    @classmethod
    def empty(cls, first_acc: np.ndarray, first_loss: np.ndarray, n_chunks: int, windows: int) -> Record:
        """A record of runs that have only their initial meta-test (``first_*``: [R, S, T])."""
        R = first_acc.shape[0]
        acc = np.full((R, n_chunks + 1, *first_acc.shape[1:]), np.nan, np.float32)
        loss = np.full_like(acc, np.nan)
        acc[:, 0], loss[:, 0] = first_acc, first_loss
        log = np.full((R, n_chunks * windows), np.nan, np.float32)
        return cls(log, log.copy(), acc, loss, np.zeros(R, np.int64), np.zeros(R, np.int8), np.full(R, -1, np.int64))

    def put(self, runs: np.ndarray, c: int, out: ChunkOut, diverged: np.ndarray) -> None:
        """Interval ``c``'s outputs of ``runs`` (a leading axis on every leaf of ``out`` matches ``runs``)."""
        w = out.train_loss.shape[-1]
        self.train_loss[runs, c * w:(c + 1) * w] = out.train_loss
        self.grad_norm[runs, c * w:(c + 1) * w] = out.grad_norm
        self.eval_acc[runs, c + 1] = out.eval_acc
        self.eval_loss[runs, c + 1] = out.eval_loss
        self.chunks[runs] = c + 1
        self.diverged[runs] = diverged

    def history(self, runs: np.ndarray, c: int) -> History:
        """What ``runs`` have produced up to the end of interval ``c``."""
        w = self.train_loss.shape[1] // (self.eval_acc.shape[1] - 1)
        return History(self.eval_acc[runs, : c + 2], self.train_loss[runs, : (c + 1) * w],
                       self.grad_norm[runs, : (c + 1) * w])

    def metrics(self) -> Metrics:
        """Every run's metrics, run axis first."""
        return Metrics(self.train_loss, self.grad_norm, self.eval_acc, self.eval_loss, self.diverged)


def fingerprint(static: RunConfig, hp: Hyper, key: jax.Array, rules: str) -> str:
    """What a checkpoint must match to be resumed from: the static config, every run's hyper-parameters and
    keys, and ``rules`` (the stop rules and the engine, as text)."""
    h = hashlib.sha256(static.to_json().encode() + rules.encode())
    for leaf in (*hp, jax.random.key_data(key)):
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return h.hexdigest()


def snapshot(carry, record: Record, slots: np.ndarray, next_chunk: int, fp: str) -> tuple[dict, dict]:
    """A checkpoint's arrays and meta: the pack's carry (keys as raw data), its slots, the record so far."""
    leaves = jax.tree_util.tree_leaves(carry)
    is_key = [jnp.issubdtype(x.dtype, jax.dtypes.prng_key) for x in leaves]
    # Copies, so a checkpoint never shares memory with device buffers (np.asarray may view them on CPU).
    arrays = {f"carry{i}": np.array(jax.random.key_data(x) if k else x, copy=True)
              for i, (x, k) in enumerate(zip(leaves, is_key, strict=True))}
    arrays |= {f"rec_{f.name}": getattr(record, f.name) for f in fields(Record)}
    arrays["slots"] = np.asarray(slots)
    meta = {"fingerprint": fp, "next_chunk": next_chunk, "key_leaves": [i for i, k in enumerate(is_key) if k]}
    return arrays, meta


def restore(found, fp: str, carry_like) -> tuple | None:
    """``(carry, record, slots, next_chunk)`` from a checkpoint of exactly these runs, or None.

    ``carry_like``: the carry's structure (shapes may differ: the pack may have shrunk before the checkpoint).
    """
    if found is None:
        return None
    arrays, meta = found
    if meta.get("fingerprint") != fp or "slots" not in arrays:
        return None  # another pack's (a changed sweep), or an older format: start over rather than mix runs
    leaves, treedef = jax.tree_util.tree_flatten(carry_like)
    restored = []
    for i, like in enumerate(leaves):
        value = arrays[f"carry{i}"]
        # Copies: device arrays that own their memory, never views of the file's numpy arrays.
        restored.append(jax.random.wrap_key_data(jnp.array(value)) if i in meta["key_leaves"]
                        else jnp.array(value, like.dtype))
    record = Record(**{f.name: np.array(arrays[f"rec_{f.name}"]) for f in fields(Record)})
    return jax.tree_util.tree_unflatten(treedef, restored), record, np.asarray(arrays["slots"]), meta["next_chunk"]
