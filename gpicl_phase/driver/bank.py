"""The task source of a pack: a ``TaskBank`` of every training task's matrices, or fresh draws per sequence.

A bank replaces the D x D Gaussian draw per sequence by a gather; both give the same batches (tests check it).
The choice is a function of the spec and the memory budget recorded in the store, never of the memory free at
the moment, so every process that runs a chunk runs the same program.
"""

from __future__ import annotations

import functools

import jax

from gpicl_phase import tasks
from gpicl_phase.choices import TASK_SOURCES
from gpicl_phase.config import RunConfig
from gpicl_phase.tasks import TaskData
from gpicl_phase.train import task_root

BANK_SHARE = 0.25  # at most this share of the device budget goes to a task bank


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
