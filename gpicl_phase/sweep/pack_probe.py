"""Pack sizes chosen by measured throughput, not by memory alone.

Packing runs into one ``jit(vmap(train))`` pays while a single run leaves the device idle (launch overhead,
small matmuls) and stops paying once one run already fills it: at the paper default on an H200, 32 runs in a
pack were only 1.5x faster per run-step than one at a time (BENCHMARKS.md). Past that point a bigger pack
only costs: longer compiles, more padding, fewer chunks to spread over workers.

``choose_pack`` doubles the pack while the run-steps per second it buys grow by at least ``gain``, so the
pack it returns is never slower per run-step than one-by-one (size 1 is where it starts). ``probe`` times the
chunk program a sweep would run at each size; a sweep created with ``--probe-pack`` records the chosen sizes
in its store, so every resume plans the same chunks whatever the load at the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

GAIN = 1.1  # a doubling must buy 10% more run-steps per second to be worth its compile and padding


def choose_pack(memory_cap: int, seconds_per_step: Callable[[int], float], gain: float = GAIN) -> int:
    """The pack size (a power of two, at most ``memory_cap``) after which doubling stops paying.

    ``seconds_per_step(p)``: wall seconds of one training step of a pack of ``p`` runs (measured by ``probe``,
    or a model). Sizes are tried 1, 2, 4, ... and each only after the one before it paid, so a slow probe at
    big sizes is never measured when a small one already saturates the device.
    """
    size, best = 1, 1.0 / seconds_per_step(1)
    while size * 2 <= memory_cap:
        rate = size * 2 / seconds_per_step(size * 2)
        if rate < gain * best:
            break
        size, best = size * 2, rate
    return size


def probe(static, engine, *, repeats: int = 2, log: Callable[[str], None] | None = None) -> Callable[[int], float]:
    """``seconds_per_step(p)`` for a static config: the sweep's own chunk program (``driver.programs``) at pack
    size ``p``, timed over ``repeats`` calls after a first call that compiles it (into the persistent cache,
    so the sweep that follows reuses it). Fresh task draws, the slower task source: a lower bound on speed."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from gpicl_phase import driver, train

    data = train.task_data(static)
    cfg = static.replace(num_tasks=2 ** 16)
    start, chunk, _ = driver.programs(static, True, engine)

    def seconds_per_step(p: int) -> float:
        hp = train.hyper([cfg.replace(seed=i) for i in range(p)])
        keys = jax.vmap(train.run_key)(jnp.arange(p, dtype=jnp.uint32))
        carry, _ = start(data, hp, keys)
        jax.block_until_ready(chunk(data, hp, carry, np.int32(0)))  # compile and warm
        tic = time.perf_counter()
        for _ in range(repeats):
            carry, out = chunk(data, hp, carry, np.int32(0))
        jax.block_until_ready((carry, out))
        seconds = (time.perf_counter() - tic) / (repeats * static.eval_every)
        if log is not None:
            log(f"  pack {p:4d}: {seconds * 1e3:8.2f} ms per step, {p / seconds:8.1f} run-steps/s")
        return seconds

    return seconds_per_step
