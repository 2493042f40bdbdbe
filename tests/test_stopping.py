"""Stop rules of adaptive runs on planted curves: decided runs stop, undecided ones go on, plateaus use the budget."""

from __future__ import annotations

import numpy as np
import pytest

from gpicl_phase.rules import REASON, History, RunFacts, StopRules, Thresholds, decide, decide_stops

K, T, EVERY, LOG = 5, 10, 100, 20
STREAMS = ("seen", "unseen", "unseen:random", "base")
FACTS = RunFacts(STREAMS, K, EVERY, LOG, steps=600, max_steps=2000)
LN_K = float(np.log(K))


def curves(n_evals: int, *, seen_first, seen_last, unseen_last, loss):
    """One run's history over ``n_evals`` meta-tests (index 0 = before training); each argument is a function
    of the meta-test index e >= 1 (or of the log step for ``loss``)."""
    acc = np.full((1, n_evals, len(STREAMS), T), 1.0 / K, np.float32)
    ramp = np.linspace(0.0, 1.0, T)
    for e in range(1, n_evals):
        acc[0, e, 0] = seen_first(e) + (seen_last(e) - seen_first(e)) * ramp
        acc[0, e, 1] = acc[0, e, 2] = 1.0 / K + (unseen_last(e) - 1.0 / K) * ramp
    steps = np.arange(LOG, (n_evals - 1) * EVERY + 1, LOG)
    train = np.array([[loss(s) for s in steps]], np.float32)
    return History(acc, train, np.full_like(train, 0.2))


def first_stop(make, rules=StopRules(), th=Thresholds(), facts=FACTS, n_max=21):
    """(meta-test index, reason) at which the rules first stop a run whose history ``make(n)`` gives."""
    for n in range(2, n_max + 1):
        reason = int(decide_stops(make(n), facts, rules, th)[0])
        if reason:
            return n - 1, reason
    return None, 0


def flat(v):
    return lambda _: v


def test_a_memorizing_run_stops_once_converged():
    # Seen tasks right from position 0 (0.9), no improvement, unseen at chance, loss flat after step 200.
    make = lambda n: curves(n, seen_first=flat(0.9), seen_last=flat(0.9), unseen_last=flat(0.2),  # noqa: E731
                            loss=lambda s: 0.4 if s > 200 else 1.5)
    e, reason = first_stop(make)
    assert reason == REASON["settled"]
    assert e == 6, "the loss is flat from interval 3 on; three intervals later (step 600) it has not fallen: stop"


def test_a_generalizing_run_stops_only_after_its_accuracy_is_stable():
    # Unseen accuracy at the last positions rises 0.3 -> 0.8 until meta-test 8, then holds.
    rise = lambda e: min(0.3 + 0.06 * e, 0.78)  # noqa: E731
    make = lambda n: curves(n, seen_first=flat(0.2), seen_last=rise, unseen_last=rise,  # noqa: E731
                            loss=lambda s: 0.7)
    e, reason = first_stop(make)
    assert reason == REASON["settled"]
    assert e >= 9, "not while the accuracy still moves"


def test_a_generalizing_run_settles_once_stable_even_while_its_loss_still_falls():
    make = lambda n: curves(n, seen_first=flat(0.2), seen_last=flat(0.75), unseen_last=flat(0.75),  # noqa: E731
                            loss=lambda s: 1.0 * 0.95 ** (s / EVERY))
    assert first_stop(make) == (3, REASON["settled"])


def test_a_run_whose_loss_still_falls_goes_on():
    # Identifying at every meta-test, but the loss keeps falling by 5% per interval: undecided.
    make = lambda n: curves(n, seen_first=flat(0.2), seen_last=flat(0.6), unseen_last=flat(0.2),  # noqa: E731
                            loss=lambda s: 1.4 * 0.95 ** (s / EVERY))
    assert first_stop(make, n_max=19) == (None, 0)
    assert first_stop(make, n_max=21) == (20, REASON["budget"])


def test_a_plateau_run_uses_its_maximum_budget_and_is_then_failed():
    make = lambda n: curves(n, seen_first=flat(0.2), seen_last=flat(0.2), unseen_last=flat(0.2),  # noqa: E731
                            loss=lambda s: LN_K)
    assert first_stop(make) == (20, REASON["budget"])
    labels = [decide(0.2, 0.0, 0.0, None, LN_K, k=K, budget_used=used, th=Thresholds()) for used in (True, False)]
    assert labels == ["failed", "unresolved"]


def test_a_run_that_leaves_the_plateau_late_is_not_stopped_on_it():
    # On the plateau until step 1200, then generalizes: it must not stop while on the plateau.
    make = lambda n: curves(n, seen_first=flat(0.2), seen_last=lambda e: 0.2 if e <= 12 else 0.8,  # noqa: E731
                            unseen_last=lambda e: 0.2 if e <= 12 else 0.8,
                            loss=lambda s: LN_K if s <= 1200 else 0.8)
    e, reason = first_stop(make)
    assert reason == REASON["settled"] and e == 15, "three generalizing meta-tests after the escape at 12"


def test_the_stall_rule_stops_a_flat_plateau_past_the_base_budget_as_unresolved():
    make = lambda n: curves(n, seen_first=flat(0.2), seen_last=flat(0.2), unseen_last=flat(0.2),  # noqa: E731
                            loss=lambda s: LN_K)
    e, reason = first_stop(make, rules=StopRules(stall_steps=300))
    assert reason == REASON["stalled"] and e * EVERY == FACTS.steps, "at the base budget, not before"


def test_a_diverged_run_stops_at_once():
    make = lambda n: curves(n, seen_first=flat(0.9), seen_last=flat(0.9), unseen_last=flat(0.2),  # noqa: E731
                            loss=lambda s: np.nan if s > 300 else 1.0)
    assert first_stop(make) == (4, REASON["diverged"])


@pytest.mark.parametrize("k", [3, 5, 10])
def test_thresholds_mean_the_same_at_every_number_of_classes(k):
    th = Thresholds()
    chance = 1.0 / k
    head = 1.0 - chance
    # Just above and just below the improvement threshold, in units of the headroom above chance.
    above, below = chance + 1.05 * th.improvement * head, chance + 0.95 * th.improvement * head
    assert decide(chance, 0.0, above - chance, None, 0.5, k=k, budget_used=True, th=th) == "generalizing"
    assert decide(chance, 0.0, below - chance, None, 0.5, k=k, budget_used=True, th=th) == "unclassified"
    mem = chance + th.memorization_acc * head
    assert decide(mem + 0.01, 0.0, 0.0, None, 0.5, k=k, budget_used=True, th=th) == "memorizing"
    assert decide(mem - 0.01, 0.0, 0.0, None, 0.5, k=k, budget_used=True, th=th) == "unclassified"


def test_bad_stop_rules_are_refused():
    for bad in (dict(patience=0), dict(acc_tol=0.0), dict(loss_tol=1.5), dict(stall_steps=-1), dict(patience=1.5)):
        with pytest.raises(ValueError):
            StopRules(**bad)
    with pytest.raises(ValueError, match="unknown stop rule"):
        StopRules.from_dict({"patiense": 3})
