"""From a grid to compiled programs: group cells whose shapes agree, split groups into equal-size chunks.

Cells whose configs share a static part (every non-dynamic field) run as one ``jit(vmap(train))``. A chunk
is the unit of work and of resume: its composition depends only on the spec and the pack size, never on
what already ran, so a resumed or distributed sweep runs exactly the programs an uninterrupted one would.
Every chunk of a group is padded to the same size so the group compiles once; chunks of adaptive sweeps take
power-of-two sizes instead, the sizes their packs shrink through anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpicl_phase import models
from gpicl_phase.config import RunConfig
from gpicl_phase.sweep.spec import SweepSpec


@dataclass(frozen=True)
class Chunk:
    """Cells run together: their grid indices and configs, all sharing ``static``; padded to ``size``."""

    static: RunConfig
    indices: tuple[tuple[int, ...], ...]
    configs: tuple[RunConfig, ...]
    size: int
    group: int

    @property
    def steps(self) -> int:
        """Base budget of each run in the chunk (what a run that is not adaptive trains)."""
        return self.static.steps


def run_bytes(cfg: RunConfig) -> int:
    """A rough upper estimate of the device memory one packed run needs (float32).

    Parameters, gradients and two Adam moments; activations kept for the backward pass (about 20 floats
    per token and width per layer, plus the attention matrices); the projected batch and its task matrices.
    """
    params = models.count_params(cfg)
    b, t, n, layers = cfg.batch_size, cfg.seq_len, cfg.d_model, max(cfg.num_layers, 1)
    tokens = b * t
    acts = tokens * n * layers * 20
    if cfg.model == "transformer":
        acts += b * cfg.num_heads * t * t * layers * 3
    if cfg.model == "vsml":  # N_x x K LSTMs of state N, their gates and states kept at every position
        acts += tokens * cfg.input_dim * cfg.num_classes * n * 12
    groups = cfg.tasks_per_batch or b
    data = tokens * (cfg.input_dim + cfg.num_classes + 1) * 3 + groups * cfg.input_dim ** 2
    evals = len(cfg.streams) * cfg.eval_batch * t * (n * 8 + cfg.input_dim * 2) + cfg.eval_batch * cfg.input_dim ** 2
    return 4 * (4 * params + acts + data + evals)


def pack_size(static: RunConfig, budget_bytes: int, max_pack: int | None, probed: dict | None = None) -> int:
    """How many runs of this shape to pack: what fits in half the budget, capped by ``max_pack`` and by the
    size a throughput probe chose for this shape (``probed``: static config JSON -> size; ``pack_probe``)."""
    fit = max(1, int(budget_bytes // 2 // max(run_bytes(static), 1)))
    size = max(1, min(fit, max_pack) if max_pack else fit)
    return min(size, probed.get(static.to_json(), size)) if probed else size


def groups(spec: SweepSpec) -> dict[RunConfig, int]:
    """Each static config of the grid (one compiled program group) and its number of cells."""
    counts: dict[RunConfig, int] = {}
    for _, cfg in spec.cells():
        counts[cfg.static_part()] = counts.get(cfg.static_part(), 0) + 1
    return counts


def plan(spec: SweepSpec, *, budget_bytes: int, max_pack: int | None = None,
         rounds: list[list[tuple[int, ...]]] | None = None, probed: dict | None = None) -> list[Chunk]:
    """Every chunk of the sweep, in a deterministic order (groups by first appearance, cells in C order).

    ``rounds``: the cells of each refinement round (``sweep.rounds.cells_by_round``), planned one round after
    another so that cells added later never change the chunks of earlier rounds; default: the whole grid.
    ``probed``: pack sizes a throughput probe chose, recorded in the store (``pack_size``).
    """
    parts = rounds if rounds is not None else [[index for index, _ in spec.cells()]]
    ids: dict[RunConfig, int] = {}
    chunks = []
    for part in parts:
        groups: dict[RunConfig, list[tuple[tuple[int, ...], RunConfig]]] = {}
        for index in part:
            cfg = spec.config_at(index)
            groups.setdefault(cfg.static_part(), []).append((index, cfg))
        for static, cells in groups.items():
            g = ids.setdefault(static, len(ids))
            cap = pack_size(static, budget_bytes, max_pack, probed)
            start = 0
            for size, real in (_powers_of_two(len(cells), cap) if spec.rules else _balanced(len(cells), cap)):
                part_cells = cells[start:start + real]
                start += real
                chunks.append(Chunk(static, tuple(i for i, _ in part_cells), tuple(c for _, c in part_cells),
                                    size, g))
    return chunks


def _balanced(n: int, cap: int) -> list[tuple[int, int]]:
    """(pack size, real runs) of each chunk: equal sizes, so padding wastes at most one run per chunk."""
    size = min(cap, n)
    n_chunks = math.ceil(n / size)
    size = math.ceil(n / n_chunks)
    return [(size, min(size, n - start)) for start in range(0, n, size)]


def _powers_of_two(n: int, cap: int) -> list[tuple[int, int]]:
    """(pack size, real runs) of each chunk, every pack size a power of two: adaptive packs shrink through
    powers of two as their runs stop, so these are the only programs a group ever compiles. A remainder is
    padded up to the next power when that wastes at most a quarter of its pack, else split further."""
    top = 1 << (max(cap, 1).bit_length() - 1)  # the largest power of two the memory budget allows
    out = []
    while n > 0:
        size = min(top, 1 << (n.bit_length() - 1))
        up = 1 << (n - 1).bit_length()
        if up <= top and up > n and (up - n) * 4 <= up:
            out.append((up, n))
            break
        out.append((size, size))
        n -= size
    return out


def static_text(static) -> str:
    """The shape-deciding fields of a group, for people."""
    return (f"{static.model} d_model={static.d_model} layers={static.num_layers} batch={static.batch_size} "
            f"T={static.seq_len} input={static.input_dim}")
