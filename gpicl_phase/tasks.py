"""GPICL tasks: a task is an int32 id; its projection and label permutation are recomputed from the id.

Shape letters (docs/DESIGN.md): B sequences, T positions, D input features (N_x), K classes, M dataset
examples, G task groups in a batch (one task each).

Training ids are drawn from [0, num_tasks) with num_tasks <= 2^31 - 1, so they are never negative;
unseen tasks use negative ids (-1, -2, ...), which training therefore never draws. Nothing about a task
is stored, so num_tasks costs no memory.

For finite task counts a ``TaskBank`` (every training task's matrices, computed once from the same ids)
replaces the D x D Gaussian draw per sequence by a gather; the batches are the same (tests check it).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class TaskBank(NamedTuple):
    """Training tasks 0..n-1, precomputed: ``projections[i]`` and ``permutations[i]`` are task i's."""

    projections: jax.Array  # [n, D, D]
    permutations: jax.Array  # [n, K]


class TaskData(NamedTuple):
    """Preprocessed datasets on device. ``evals`` holds one (x, y) pair per unseen dataset.

    ``bank``, when set, must hold at least every training id drawn (num_tasks of every run it serves).
    """

    train_x: jax.Array  # [N, D] float32
    train_y: jax.Array  # [N] int32
    test_x: jax.Array  # [M, D]
    test_y: jax.Array  # [M]
    evals: tuple[tuple[jax.Array, jax.Array], ...]
    bank: TaskBank | None = None


def task_key(root: jax.Array, task_id: jax.Array) -> jax.Array:
    """The key of task ``task_id`` (int32, negative for unseen tasks)."""
    # fold_in wants uint32; the int32 -> uint32 view keeps negative (unseen) ids distinct from training ids.
    return jax.random.fold_in(root, jnp.asarray(task_id, jnp.int32).astype(jnp.uint32))


def projection(root: jax.Array, task_id: jax.Array, input_dim: int) -> jax.Array:
    """Task ``task_id``'s projection ``W_DxD``, entries N(0, 1/D)."""
    proj_key, _ = jax.random.split(task_key(root, task_id))
    return jax.random.normal(proj_key, (input_dim, input_dim)) / jnp.sqrt(input_dim)


def permutation(root: jax.Array, task_id: jax.Array, num_classes: int) -> jax.Array:
    """Task ``task_id``'s label permutation ``perm_K`` (label k becomes perm_K[k])."""
    _, perm_key = jax.random.split(task_key(root, task_id))
    return jax.random.permutation(perm_key, num_classes)


def make_task(root: jax.Array, task_id: jax.Array, input_dim: int, num_classes: int):
    """Projection and label permutation of one task id."""
    return projection(root, task_id, input_dim), permutation(root, task_id, num_classes)


def bank_bytes(num_tasks: int, input_dim: int, num_classes: int) -> int:
    """Device bytes of a bank of ``num_tasks`` tasks (float32 projections, int32 permutations)."""
    return 4 * num_tasks * (input_dim * input_dim + num_classes)


def build_bank(root: jax.Array, num_tasks: int, input_dim: int, num_classes: int, block: int = 512) -> TaskBank:
    """Tasks 0..num_tasks-1 from ``make_task``, built ``block`` at a time so the draws never need more memory."""
    ids = jnp.arange(num_tasks, dtype=jnp.int32)
    fn = jax.jit(lambda i: jax.lax.map(lambda t: make_task(root, t, input_dim, num_classes), i,
                                       batch_size=min(block, num_tasks)))
    return TaskBank(*fn(ids))


def draw_ids(key: jax.Array, n: int, num_tasks: jax.Array) -> jax.Array:
    """``n`` training task ids uniform in [0, num_tasks); num_tasks may be a traced value."""
    return jax.random.randint(key, (n,), 0, jnp.asarray(num_tasks, jnp.int32), dtype=jnp.int32)


def unseen_ids(n: int) -> jax.Array:
    """The first ``n`` unseen task ids: -1, -2, ..., -n."""
    return -1 - jnp.arange(n, dtype=jnp.int32)


def tokens(x_BxTxD: jax.Array, y_BxT: jax.Array, num_classes: int) -> jax.Array:
    """Token t = [x_t, onehot(y_{t-1})]; position 0 carries the explicit 'no label' class K."""
    prev_BxT = jnp.concatenate(
        [jnp.full(y_BxT.shape[:-1] + (1,), num_classes, y_BxT.dtype), y_BxT[..., :-1]], axis=-1)
    return jnp.concatenate([x_BxTxD, jax.nn.one_hot(prev_BxT, num_classes + 1, dtype=x_BxTxD.dtype)], -1)


def project_groups(root, ids_G, perm_ids_G, x_GxSxD, y_GxS, num_classes, project=True):
    """Applies task ``ids_G[g]``'s projection and ``perm_ids_G[g]``'s permutation to group g's examples."""
    d = x_GxSxD.shape[-1]

    def one(task_id, perm_id, x_SxD, y_S):
        if project:
            x_SxD = x_SxD @ projection(root, task_id, d)
        return x_SxD, permutation(root, perm_id, num_classes)[y_S]

    return jax.vmap(one)(ids_G, perm_ids_G, x_GxSxD, y_GxS)


def sample_examples(key, x_MxD, y_M, shape):
    """Examples drawn uniformly with replacement: ``x`` of shape ``shape + (D,)`` and ``y`` of ``shape``."""
    idx = jax.random.randint(key, shape, 0, x_MxD.shape[0])
    return x_MxD[idx], y_M[idx]


def train_batch(key, data: TaskData, root, *, num_tasks, bias, batch_size: int, seq_len: int,
                tasks_per_batch: int, num_classes: int, bias_mode: str):
    """One meta-training batch: tokens ``[B, T, D+K+1]`` and targets ``[B, T]``.

    ``tasks_per_batch`` (G) tasks each fill B/G sequences (G = B when 0). A fraction ``bias`` of the
    groups, drawn per group, use the fixed task id 0 ('task') or only its permutation ('labels').
    """
    groups = tasks_per_batch or batch_size
    per_group = batch_size // groups
    id_key, bias_key, ex_key = jax.random.split(key, 3)
    ids_G = draw_ids(id_key, groups, num_tasks)
    fixed_G = jax.random.uniform(bias_key, (groups,)) < bias
    perm_ids_G = jnp.where(fixed_G, 0, ids_G)
    proj_ids_G = perm_ids_G if bias_mode == "task" else ids_G
    x, y = sample_examples(ex_key, data.train_x, data.train_y, (groups, per_group * seq_len))
    if data.bank is None:
        x, y = project_groups(root, proj_ids_G, perm_ids_G, x, y, num_classes)
    else:
        x = jnp.einsum("gsd,gde->gse", x, data.bank.projections[proj_ids_G])
        y = jnp.take_along_axis(data.bank.permutations[perm_ids_G], y, axis=1)
    x_BxTxD = x.reshape(batch_size, seq_len, -1)
    y_BxT = y.reshape(batch_size, seq_len)
    return tokens(x_BxTxD, y_BxT, num_classes), y_BxT


def make_tasks(root, proj_ids_G, perm_ids_G, input_dim: int, num_classes: int):
    """Projections ``[G, D, D]`` of tasks ``proj_ids_G`` and permutations ``[G, K]`` of tasks ``perm_ids_G``.

    Drawn one task after another (``lax.map``): the same bits as vmapped draws, and a loop body is compiled once
    where vmapped draws compiled several times slower on XLA:CPU. Meta-tests use it (once per meta-test);
    training batches keep the vmapped draw of ``project_groups`` (once per step, where a loop would serialize).
    """
    return jax.lax.map(lambda ij: (projection(root, ij[0], input_dim), permutation(root, ij[1], num_classes)),
                       (proj_ids_G, perm_ids_G))


def eval_sample(key, x_MxD, y_M, n: int, seq_len: int, made=None):
    """``n`` sequences of one dataset, ``x [n, T, D]`` and ``y [n, T]``, sequence b seen through task b of
    ``made = (projections [n, D, D], permutations [n, K])`` from ``make_tasks`` (or through none)."""
    x, y = sample_examples(key, x_MxD, y_M, (n, seq_len))
    if made is not None:
        x, y = jax.vmap(lambda x_SxD, w_DxD, p_K, y_S: (x_SxD @ w_DxD, p_K[y_S]))(x, made[0], made[1], y)
    return x, y


def eval_batch(key, x_MxD, y_M, root, ids_B, *, seq_len: int, num_classes: int, project: bool, perm_ids_B=None):
    """A meta-test batch on one dataset: sequence b uses task ``ids_B[b]`` (no task at all if not project),
    with the label permutation of task ``perm_ids_B[b]`` when given (the bias intervention's fixed one)."""
    made = make_tasks(root, ids_B, ids_B if perm_ids_B is None else perm_ids_B, x_MxD.shape[-1], num_classes)
    x, y = eval_sample(key, x_MxD, y_M, ids_B.shape[0], seq_len, made if project else None)
    return tokens(x, y, num_classes), y
