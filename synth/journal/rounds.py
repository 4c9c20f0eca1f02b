"""The journal's record of active distillation rounds (tables from migration m007_rounds).

A round is `selected` once its picks are written (in one transaction, with the round's row),
`trained` once its student exists, and `done` with its figures. A crash before `done` resumes
that round from its recorded picks; a `done` round is never run again. The test split that
round 1's build made is kept as its rows' input hashes, and every later build keeps it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synth.journal.store import Journal


@dataclass
class Round:
    round: int
    state: str
    select_mode: str
    scored_by: str | None
    metrics: dict[str, Any] | None


def rounds(j: Journal) -> list[Round]:
    rows = j.db.execute(
        "SELECT round, state, select_mode, scored_by, metrics FROM rounds ORDER BY round"
    ).fetchall()
    return [Round(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else None) for r in rows]


def record_selection(
    j: Journal,
    round_no: int,
    select_mode: str,
    scored_by: str | None,
    pool_lines: Sequence[int],
    scores: Sequence[float | None],
) -> None:
    """Round `round_no` and its picks, all or nothing."""
    with j.db:
        j.db.execute("BEGIN")
        j.db.execute(
            "INSERT INTO rounds (round, state, select_mode, scored_by, selected_at) "
            "VALUES (?, 'selected', ?, ?, ?)",
            (round_no, select_mode, scored_by, time.time()),
        )
        j.db.executemany(
            "INSERT INTO round_items (pool_line, round, score) VALUES (?, ?, ?)",
            [
                (int(line), round_no, None if s is None or s != s else float(s))
                for line, s in zip(pool_lines, scores, strict=True)
            ],
        )


def set_state(j: Journal, round_no: int, state: str, metrics: dict[str, Any] | None = None) -> None:
    j.db.execute(
        "UPDATE rounds SET state = ?, metrics = COALESCE(?, metrics), "
        "finished_at = CASE WHEN ? = 'done' THEN ? ELSE finished_at END WHERE round = ?",
        (state, json.dumps(metrics) if metrics is not None else None, state, time.time(), round_no),
    )


def sent_lines(j: Journal, up_to_round: int | None = None) -> list[int]:
    """Pool lines sent so far (through `up_to_round`), in round order, then pool order."""
    sql = "SELECT pool_line FROM round_items"
    args: tuple[Any, ...] = ()
    if up_to_round is not None:
        sql += " WHERE round <= ?"
        args = (up_to_round,)
    return [r[0] for r in j.db.execute(sql + " ORDER BY round, pool_line", args)]


def selection(j: Journal, round_no: int) -> list[tuple[int, float | None]]:
    """(pool line, score) of one round's picks."""
    return [
        (r[0], r[1])
        for r in j.db.execute(
            "SELECT pool_line, score FROM round_items WHERE round = ? ORDER BY pool_line",
            (round_no,),
        )
    ]


def fix_test_split(j: Journal, input_hashes: Iterable[int]) -> None:
    """Keep these rows' inputs as the test split of every later build (once: round 1's)."""
    with j.db:
        j.db.execute("BEGIN")
        if j.db.execute("SELECT 1 FROM round_test LIMIT 1").fetchone():
            return
        j.db.executemany(
            "INSERT OR IGNORE INTO round_test (input_hash) VALUES (?)",
            [(int(h),) for h in input_hashes],
        )


def fixed_test(j: Journal) -> np.ndarray | None:
    """The fixed test split's input hashes (int64), or None when no round fixed one."""
    hashes = [r[0] for r in j.db.execute("SELECT input_hash FROM round_test")]
    return np.array(hashes, dtype=np.int64) if hashes else None
