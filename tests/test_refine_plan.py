"""Boundary refinement on synthetic stores with planted boundaries: located to the resolution asked for, with
a fraction of a uniform grid's cells, sampling only the series that have a boundary."""

from __future__ import annotations

import numpy as np
import pytest

from gpicl_phase.analysis import classify_cells
from gpicl_phase.refine import Bracket, brackets, located, midpoint, next_round
from gpicl_phase.store import STATUS
from gpicl_phase.testing import synthetic_store

D_MODELS = (16, 32, 64)
PLANTED = {16: 13.3, 32: 11.6, 64: 10.2}  # log2 num_tasks of each model size's transition to generalizing
AXES = ["d_model", "num_tasks", "seed"]


def sampled_store(sampled: dict[int, set[int]]):
    """A synthetic store over the union of task counts, each d_model row 'skipped' where it was not sampled."""
    tasks = sorted(set().union(*sampled.values()))
    ds = synthetic_store(d_models=D_MODELS, num_tasks=tasks, seeds=(0, 1), transition_log2=PLANTED,
                         transition_jitter=0.0, plateau_jitter=0.0, noise=0.0, seq_len=40, steps=4000,
                         eval_every=1000, seed=3)  # noise-free: a cell keeps its phase as others are added
    status = ds["status"].values.copy()
    for i, d in enumerate(D_MODELS):
        for j, n in enumerate(tasks):
            if n not in sampled[d]:
                status[i, j, :] = STATUS["skipped"]
    return ds.assign(status=(ds["status"].dims, status))


def refine_synthetic(resolution: float, max_rounds: int = 12):
    """Bisect along num_tasks, 'running' each round by regenerating the synthetic store on the sampled cells."""
    sampled = {d: {2 ** k for k in range(0, 17, 4)} for d in D_MODELS}
    for number in range(1, max_rounds + 1):
        phase = classify_cells(sampled_store(sampled))["phase"]
        rnd = next_round(phase, "num_tasks", resolution, number=number, axes=AXES, seeds=(0, 1),
                         known=tuple(phase["num_tasks"].values.tolist()))
        if rnd is None:
            return sampled, classify_cells(sampled_store(sampled))["phase"], number - 1
        assert rnd.axis == "num_tasks" and all(len(c) == 3 for c in rnd.cells)
        for d, n, _ in rnd.cells:
            sampled[d].add(n)
    pytest.fail("refinement did not converge")


@pytest.mark.parametrize("resolution", [1.0, 0.5, 0.25])
def test_planted_boundaries_are_located_to_the_resolution(resolution):
    sampled, phase, rounds = refine_synthetic(resolution)
    found = brackets(phase, "num_tasks")
    assert found and all(located(b, resolution, integer=True) for b in found)
    assert all(b.octaves <= resolution + 0.1 for b in found), "rounding widens a bracket by little"
    for d in D_MODELS:
        mine = [b for b in found if b.series["d_model"] == d and "generalizing" in b.phases]
        assert len(mine) == 1, f"one generalization boundary for d_model={d}"
        b = mine[0]
        # The rule flips about an octave below the planted midpoint of the sigmoid (unseen gain of 0.1 headroom).
        assert np.log2(b.low) <= PLANTED[d] and np.log2(b.high) >= PLANTED[d] - 2.0
    assert rounds <= int(np.ceil(np.log2(4 / resolution))) + 1, "each round halves every open bracket"


def test_refinement_samples_a_fraction_of_the_uniform_grid():
    sampled, _, _ = refine_synthetic(0.5)
    runs = sum(len(v) for v in sampled.values())
    uniform = len(D_MODELS) * (16 * 2 + 1)  # 2^0 .. 2^16 every half octave
    assert runs <= 0.5 * uniform, f"{runs} cells against {uniform} for a uniform grid"
    rows = [sorted(v) for v in sampled.values()]
    assert rows[0] != rows[1] != rows[2], "each model size is refined where its own boundaries are"


def test_no_round_when_every_boundary_is_located_and_bad_resolution_refused():
    _, phase, _ = refine_synthetic(1.0)
    assert next_round(phase, "num_tasks", 1.0, number=9, axes=AXES, seeds=(0, 1)) is None
    with pytest.raises(ValueError, match="resolution"):
        next_round(phase, "num_tasks", 0.0, number=9, axes=AXES, seeds=(0, 1))
    with pytest.raises(ValueError, match="no axis"):
        brackets(phase, "lr")


def test_midpoints_are_log2_midpoints_strictly_inside():
    assert midpoint(16, 64, True) == 32
    assert midpoint(16, 32, True) == 23
    assert midpoint(1, 2, True) is None  # no integer strictly between after rounding 1.41
    assert midpoint(1e-4, 1e-2, False) == pytest.approx(1e-3)


def test_located_allows_the_rounding_of_integer_midpoints_only():
    at = lambda low, high: Bracket({}, low, high, ("memorizing", "identifying"))  # noqa: E731
    assert located(at(11, 16), 0.5, integer=True)  # 2^3.5 rounds to 11: 0.54 octaves, as narrow as it can be
    assert located(at(1448, 2048), 0.5, integer=True)
    assert not located(at(11, 16), 0.5, integer=False)
    assert not located(at(8, 16), 0.5, integer=True)
    assert not located(at(2, 4), 0.5, integer=True)  # 3 lies between: rounding does not excuse a whole octave
