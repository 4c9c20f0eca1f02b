"""Round selection on a hand-made pool with known margins (synth.rounds.select)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from synth.rounds.select import affordable, least_certain, random_sample

# ten pool items: a cluster of five paraphrases (group 7), all unsure, and five loners
GROUPS = np.array([7, 7, 7, 7, 7, 1, 2, 3, 4, 5], dtype=np.uint64)
MARGINS = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.90, 0.10, 0.60, 0.20, 0.80])


def test_picks_the_least_certain_items() -> None:
    ids = np.arange(10)
    loners = ids[5:]
    picked = least_certain(loners, MARGINS[5:], GROUPS[5:], 2)
    assert picked.tolist() == [6, 8]  # margins 0.10 and 0.20


def test_one_cluster_cannot_take_the_whole_round() -> None:
    ids = np.arange(10)
    picked = least_certain(ids, MARGINS, GROUPS, 4)
    # the cluster's surest-to-be-wrong item first, then the least certain of the other groups
    assert picked.tolist() == [0, 6, 8, 7]
    # once every group gave one, the cluster's next items come back in
    assert least_certain(ids, MARGINS, GROUPS, 7).tolist() == [0, 6, 8, 7, 9, 5, 1]


def test_unscored_items_count_as_least_certain() -> None:
    scores = MARGINS.copy()
    scores[9] = np.nan
    assert least_certain(np.arange(5, 10), scores[5:], GROUPS[5:], 1).tolist() == [9]


def test_random_sample_is_stratified_by_group_and_seeded() -> None:
    ids = np.arange(10)
    picked = random_sample(ids, GROUPS, 6, np.random.default_rng(3))
    assert len(set(picked.tolist())) == 6
    assert sum(GROUPS[picked] == 7) == 1  # six groups: one item each
    again = random_sample(ids, GROUPS, 6, np.random.default_rng(3))
    assert picked.tolist() == again.tolist()
    draws = {
        tuple(sorted(random_sample(ids, GROUPS, 6, np.random.default_rng(s)).tolist()))
        for s in range(5)
    }
    assert len(draws) > 1  # the cluster's member changes with the seed


def test_a_round_is_cut_to_what_the_budget_can_pay() -> None:
    prices = [Decimal("0.01")] * 5
    assert affordable(prices, Decimal("0.035")) == 3
    assert affordable(prices, Decimal("0.05")) == 5
    assert affordable(prices, Decimal("0")) == 0
    assert affordable(prices, None) == 5
