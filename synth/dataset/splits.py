"""Train / validation / test: stratified by label, whole near-duplicate groups at a time.

Every group (see `synth.dataset.neardup.group_ids`) gets a position from a hash of its id and the seed,
not from a shuffle, so the split depends on what the rows are and never on their order: the same
journal gives the same split, and after more harvesting a row keeps its split unless the quota
boundary moves past it (few rows near the cut) or its group merges with a new one.

Within each stratum (the group's majority label; one stratum without labels), groups are taken
in position order and a group goes to test while its midpoint lies in the first `test` fraction
of the stratum's rows, to validation while in the next `validation` fraction, else to train:

    stratum "refund", 50 rows, test 0.1 → the groups whose midpoints fall within rows [0, 5)
"""

from __future__ import annotations

import numpy as np

from synth.dataset.neardup import digest64, splitmix

SPLITS = ("train", "validation", "test")
TRAIN, VALIDATION, TEST = 0, 1, 2


def assign_splits(
    groups: np.ndarray, strata: np.ndarray | None, *, validation: float, test: float, seed: int
) -> tuple[np.ndarray, int]:
    """Split code (TRAIN / VALIDATION / TEST) per row, and the number of groups.

    `groups`: a uint64 group id per row; `strata`: a label per row (any sortable values), or
    None for no stratification.
    """
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.uint8), 0
    gids, row_group, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    row_group = row_group.reshape(-1)
    g = len(gids)
    if strata is None:
        group_stratum = np.zeros(g, dtype=np.int64)
    else:
        _, codes = np.unique(np.asarray(strata), return_inverse=True)
        codes = codes.reshape(-1)
        # a group's stratum is its most common label (ties: the first label in sorted order)
        pairs, counts = np.unique(row_group * (codes.max() + 1) + codes, return_counts=True)
        pg, pc = pairs // (codes.max() + 1), pairs % (codes.max() + 1)
        order = np.lexsort((pc, -counts, pg))
        first = np.ones(len(order), dtype=bool)
        first[1:] = pg[order][1:] != pg[order][:-1]
        group_stratum = np.empty(g, dtype=np.int64)
        group_stratum[pg[order][first]] = pc[order][first]

    position = splitmix(gids ^ np.uint64(digest64(f"split-seed:{seed}")))
    group_split = np.full(g, TRAIN, dtype=np.uint8)
    for s in np.unique(group_stratum):
        members = np.flatnonzero(group_stratum == s)
        members = members[np.lexsort((gids[members], position[members]))]
        size = sizes[members]
        mid = np.cumsum(size) - size / 2
        total = size.sum()
        cut_test, cut_val = test * total, (test + validation) * total
        group_split[members[mid < cut_val]] = VALIDATION
        group_split[members[mid < cut_test]] = TEST
    return group_split[row_group], g


def keep_fixed_test(
    split: np.ndarray, groups: np.ndarray, input_hashes: np.ndarray, fixed: np.ndarray
) -> np.ndarray:
    """The split with a test set fixed earlier (active distillation's round 1) kept as it was.

    Rows whose input is in `fixed` go to test, and no other row does; a row that is not in
    `fixed` but shares a near-duplicate group with one that is goes to validation, so that no
    paraphrase of a test item is trained on.
    """
    in_fixed = np.isin(input_hashes, fixed)
    near_test = np.isin(groups, groups[in_fixed]) & ~in_fixed
    out = split.copy()
    out[(out == TEST) & ~in_fixed] = TRAIN
    out[near_test] = VALIDATION
    out[in_fixed] = TEST
    return out
