"""Which pool items a round sends: pure functions over arrays, no model and no journal.

Every pool item has a near-duplicate group (synth.dataset.neardup) and, after a round's
training, a score from the student: the margin between its two most likely labels, or the
mean log-probability of its greedy answer. Higher means surer. A round takes items in order
of their rank inside their group first and their score second, so each group gives its least
certain item before any group gives a second one, and one cluster of paraphrases cannot take
a whole round:

    groups [a, a, a, b, c], scores [0.1, 0.2, 0.3, 0.9, 0.5], n 3  →  items 0 (a), 2 (c), 3 (b)

Round 1, and `select: random`, draw the same way with random scores. Last, a round is cut to
the longest prefix of its picks whose worst-case teacher price fits the budget left.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np


def _rank_in_group(groups: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For items taken in `order`, each one's rank among the items of its group before it."""
    g = groups[order]
    _, inverse = np.unique(g, return_inverse=True)
    inverse = inverse.reshape(-1)
    rank = np.empty(len(order), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, code in enumerate(inverse.tolist()):
        rank[i] = seen.get(code, 0)
        seen[code] = rank[i] + 1
    return rank


def spread(candidates: np.ndarray, scores: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """The `n` candidates to take: least certain first, one per group before any group's
    second. `scores` and `groups` are per candidate; ties break by candidate order."""
    candidates = np.asarray(candidates)
    if n <= 0 or len(candidates) == 0:
        return candidates[:0]
    by_score = np.lexsort((np.arange(len(candidates)), scores))
    rank = _rank_in_group(np.asarray(groups), by_score)
    take = by_score[np.lexsort((np.arange(len(by_score)), rank))][:n]
    return candidates[take]


def random_sample(
    candidates: np.ndarray, groups: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """`n` candidates at random, stratified by group: every group once before any twice."""
    return spread(candidates, rng.random(len(candidates)), groups, n)


def least_certain(
    candidates: np.ndarray, scores: np.ndarray, groups: np.ndarray, n: int
) -> np.ndarray:
    """The `n` candidates the student is least sure of, spread across groups; a candidate
    without a score (NaN) counts as the least certain of all."""
    scores = np.where(np.isnan(scores), -np.inf, scores)
    return spread(candidates, scores, groups, n)


def affordable(worst_case_usd: Sequence[Decimal], remaining_usd: Decimal | None) -> int:
    """How many of the picks, in order, the budget left can pay at their worst case."""
    if remaining_usd is None:
        return len(worst_case_usd)
    total = Decimal(0)
    for i, price in enumerate(worst_case_usd):
        total += price
        if total > remaining_usd:
            return i
    return len(worst_case_usd)
