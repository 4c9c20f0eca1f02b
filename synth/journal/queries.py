"""Read-only questions that other rooms ask the journal, so their SQL lives here (the store
keeps the reads of the harvest, build and eval themselves: items, plan, totals):

    done_keys(j)       the keys already answered: what a dry run would not send again
    bill_by_model(j)   items, tokens and dollars per (provider, model), for the cost report
    digest(j)          a fingerprint of the journal's content, for `distill run`'s stamps
    attempts_span_s(j) first request sent to last answer received
    recent_items(j)    the last N items touched, newest first, by state and text: `distill logs`
    answer_latencies(j) each online answer's round trip, for the report's latency distribution
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from synth.journal.store import _COLUMNS, Journal, JournalItem, _item


def done_keys(j: Journal) -> set[str]:
    return {r[0] for r in j.db.execute("SELECT key FROM items WHERE state = 'done'")}


def bill_by_model(j: Journal) -> list[dict[str, Any]]:
    """One row per (provider, model): items, answered, tokens, and the cost of every attempt
    billed (retries included), as a Decimal."""
    rows = []
    for provider, model, n, done, tin, tout, tcached in j.db.execute(
        "SELECT provider, model, COUNT(*), SUM(state='done'), COALESCE(SUM(input_tokens),0), "
        "COALESCE(SUM(output_tokens),0), COALESCE(SUM(cached_input_tokens),0) "
        "FROM items GROUP BY provider, model ORDER BY provider, model"
    ):
        cost = sum(
            (
                Decimal(r[0])
                for r in j.db.execute(
                    "SELECT a.cost_usd FROM attempts a JOIN items i ON a.key = i.key "
                    "WHERE a.cost_usd IS NOT NULL AND i.provider = ? AND i.model = ?",
                    (provider, model),
                )
            ),
            Decimal(0),
        )
        rows.append(
            {
                "provider": provider,
                "model": model,
                "items": n,
                "succeeded": done or 0,
                "input_tokens": tin,
                "output_tokens": tout,
                "cached_input_tokens": tcached,
                "cost_usd": cost,
            }
        )
    return rows


def digest(j: Journal) -> tuple[list[Any], str | None]:
    """(items, answered, last update; the plan's digest): changes whenever an answer lands or
    the plan changes (build reads the plan's answers: a new plan is a new build)."""
    row = j.db.execute("SELECT COUNT(*), SUM(state='done'), MAX(updated_at) FROM items").fetchone()
    plan = j.plan()
    return list(row), plan["digest"] if plan else None


def answer_latencies(j: Journal) -> list[float]:
    """The round trip of each answer bought online (its successful request, send to response;
    retries and limiter waits not counted). Batch answers have none: a batch has one
    turnaround for all its items."""
    return [
        float(r[0])
        for r in j.db.execute(
            "SELECT latency_s FROM items WHERE state = 'done' AND latency_s IS NOT NULL "
            "AND COALESCE(mode, 'online') = 'online'"
        )
    ]


def attempts_span_s(j: Journal) -> float:
    lo, hi = j.db.execute("SELECT MIN(started_at), MAX(ended_at) FROM attempts").fetchone()
    return float(hi - lo) if lo is not None and hi is not None else 0.0


def recent_items(
    j: Journal, n: int, *, state: str | None = None, grep: str | None = None
) -> list[JournalItem]:
    """The `n` items last updated, newest first; `state` keeps one state, `grep` keeps those
    whose input or answer contains the text (case-insensitive for ASCII, as SQLite's LIKE)."""
    where: list[str] = []
    args: list[Any] = []
    if state:
        where.append("state = ?")
        args.append(state)
    if grep:
        # the input is stored as JSON (ensure_ascii=False): plain text matches as typed
        like = "%" + grep.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(input LIKE ? ESCAPE '\\' OR response_text LIKE ? ESCAPE '\\')")
        args += [like, like]
    sql = f"SELECT {_COLUMNS} FROM items"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY updated_at DESC, line DESC, sample DESC LIMIT ?"
    return [_item(row) for row in j.db.execute(sql, [*args, n])]
