"""Read-only questions that other rooms ask the journal, so their SQL lives here (the store
keeps the reads of the harvest, build and eval themselves: items, plan, totals):

    done_keys(j)       the keys already answered: what a dry run would not send again
    bill_by_model(j)   items, tokens and dollars per (provider, model), for the cost report
    digest(j)          a fingerprint of the journal's content, for `distill run`'s stamps
    attempts_span_s(j) first request sent to last answer received
    recent_items(j)    the last N items, newest first, by state and text: `distill logs`
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from synth.journal.store import Journal


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


def attempts_span_s(j: Journal) -> float:
    lo, hi = j.db.execute("SELECT MIN(started_at), MAX(ended_at) FROM attempts").fetchone()
    return float(hi - lo) if lo is not None and hi is not None else 0.0


def recent_items(
    j: Journal, n: int = 10, *, state: str | None = None, grep: str | None = None
) -> list[dict[str, Any]]:
    """The last `n` items touched, newest first; `state` keeps one state, `grep` keeps items
    whose input, answer or error contains the text (case-insensitive)."""
    where, args = [], []
    if state:
        where.append("state = ?")
        args.append(state)
    if grep:
        where.append(
            "(instr(lower(input), lower(?)) OR instr(lower(COALESCE(response_text, '')), lower(?))"
            " OR instr(lower(COALESCE(last_error, '')), lower(?)))"
        )
        args += [grep, grep, grep]
    sql = (
        "SELECT key, line, sample, state, model, input, request, response_text, last_error, "
        "finish_reason, attempts, input_tokens, output_tokens, cost_usd, latency_s, updated_at "
        "FROM items" + (" WHERE " + " AND ".join(where) if where else "")
    )
    rows = j.db.execute(sql + " ORDER BY updated_at DESC, line DESC LIMIT ?", (*args, n))
    names = [
        "key", "line", "sample", "state", "model", "input", "request", "answer", "error",
        "finish_reason", "attempts", "input_tokens", "output_tokens", "cost_usd", "latency_s",
        "updated_at",
    ]  # fmt: skip
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["input"] = json.loads(item["input"])
        item["messages"] = json.loads(item.pop("request"))["messages"]
        out.append(item)
    return out
