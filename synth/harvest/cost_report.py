"""The cost report: what the harvest sent, what came back, and what it cost, from the journal.

`cost_report(cfg)` is the data (`distill report --json` prints it); `cost_table` draws it.
It covers the whole journal: every item and attempt ever paid for, also the answers to an
older prompt, inputs, model or params that build leaves out (they are the bill all the same);
`older_plan_items` and `older_plan_cost_usd` say how much of it that is, `plan_items` what the
last harvest's plan holds (synth.journal.store).
Later stages add their figures (funnel, eval, cost comparison) through `evals.report`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.table import Table

from synth.config import RunConfig
from synth.errors import StageError
from synth.journal import queries
from synth.journal.batches import BatchJournal
from synth.journal.store import Journal
from synth.money import usd_float


def cost_report(cfg: RunConfig) -> dict[str, Any]:
    if not cfg.journal_path.exists():
        raise StageError(
            f"no harvest yet for run '{cfg.name}' ({cfg.journal_path}): run distill harvest first"
        )
    with Journal(cfg.journal_path, readonly=True) as j:
        t = j.totals()
        older = j.outside_plan()
        per_model = [
            {**row, "cost_usd": usd_float(row["cost_usd"])} for row in queries.bill_by_model(j)
        ]
        runs = j.runs()
        failures = failures_by_reason(j.failures())
        usage_flagged = j.flagged_attempts()
        modes = BatchJournal(j).cost_by_mode()
        batch_counts = BatchJournal(j).counts()
    wall = sum((r["ended_at"] or r["started_at"]) - r["started_at"] for r in runs)
    succeeded = t["succeeded"]
    return {
        "run": cfg.name,
        "items": t["items"],
        "plan_items": t["items"] - older["items"],
        "older_plan_items": older["items"],
        "older_plan_cost_usd": usd_float(older["cost_usd"]),
        "older_plan_cost_usd_exact": str(older["cost_usd"]),
        "requests": t["requests"],
        "succeeded": succeeded,
        "failed": t["failed"],
        "pending": t["pending"],
        "input_tokens": t["input_tokens"],
        "output_tokens": t["output_tokens"],
        "cached_input_tokens": t["cached_input_tokens"],
        "cache_write_tokens": t["cache_write_tokens"],
        "caching_saved_usd": usd_float(t["caching_saved_usd"]),
        "batch_saved_usd": usd_float(modes["batch_saved_usd"]),
        # the bill had every answer been bought online with no prompt cache: what the two
        # savings above are measured against
        "online_uncached_usd": usd_float(
            t["cost_usd"] + modes["batch_saved_usd"] + t["caching_saved_usd"]
        ),
        "cost_by_mode": {
            "online_usd": usd_float(modes["online_usd"]),
            "batch_usd": usd_float(modes["batch_usd"]),
        },
        "batches": batch_counts,
        "open_batches_usd": usd_float(t["open_batches_usd"]),
        "cost_usd": usd_float(t["cost_usd"]),
        "cost_usd_exact": str(t["cost_usd"]),
        "token_cost_usd": usd_float(t["token_cost_usd"]),
        "hourly_cost_usd": usd_float(t["hourly_cost_usd"]),
        "orphaned_usd": usd_float(t["orphaned_usd"]),
        # cost_usd is settled (answers whose usage came back); possibly billed is the worst
        # case of attempts whose outcome is unknown (timed out, dropped, interrupted on the
        # wire, in flight at a crash): the budget counts both
        "possibly_billed_usd": usd_float(t["possibly_billed_usd"]),
        "possibly_billed_usd_exact": str(t["possibly_billed_usd"]),
        "last_run_status": runs[-1]["status"] if runs else None,
        "usage_flagged": usage_flagged,
        "failures": failures,
        "budget_usd": float(cfg.budget_usd) if cfg.budget_usd is not None else None,
        "retries": t["retries"],
        "rate_limited": t["rate_limited"],
        "cost_per_1k_usd": usd_float(t["cost_usd"] * 1000 / succeeded) if succeeded else None,
        "mean_latency_s": t["mean_latency_s"],
        "harvest_runs": len(runs),
        "harvest_wall_s": round(wall, 3),
        "per_model": per_model,
    }


_NUMBERS = re.compile(r"\d+(\.\d+)?")


def failures_by_reason(rows: Iterable[tuple[str | None, int]]) -> list[dict[str, Any]]:
    """Failed items grouped by reason (numbers in it, such as a wait or a count, do not split
    a group), the largest group first, each with its count and first input lines."""
    groups: dict[str, dict[str, Any]] = {}
    for reason, line in rows:
        text = reason or "no reason recorded"
        g = groups.setdefault(_NUMBERS.sub("N", text), {"reason": text, "items": 0, "lines": []})
        g["items"] += 1
        if len(g["lines"]) < 5:
            g["lines"].append(line)
    return sorted(groups.values(), key=lambda g: -g["items"])


def failures_table(r: dict[str, Any], config: str) -> Table | None:
    if not r.get("failures"):
        return None
    table = Table(
        title="failed items by reason",
        title_justify="left",
        caption=f"send them again: distill harvest {config} --retry-failed",
        caption_justify="left",
    )
    table.add_column("items", justify="right")
    table.add_column("reason")
    table.add_column("input lines", style="dim")
    for g in r["failures"]:
        lines = ", ".join(map(str, g["lines"])) + (", ..." if g["items"] > len(g["lines"]) else "")
        table.add_row(f"{g['items']:,}", g["reason"], lines)
    return table


def cost_table(r: dict[str, Any]) -> Table:
    table = Table(title=f"harvest cost · {r['run']}", show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column(justify="right")
    rows = [
        ("items", f"{r['items']:,}"),
        *(
            [("  of an older plan (not built)", f"{r['older_plan_items']:,}")]
            if r.get("older_plan_items")
            else []
        ),
        ("succeeded", f"{r['succeeded']:,}"),
        ("failed", f"{r['failed']:,}"),
        ("not yet sent", f"{r['pending']:,}"),
        ("requests (attempts)", f"{r['requests']:,}"),
        ("retries", f"{r['retries']:,}"),
        ("rate limited (429)", f"{r['rate_limited']:,}"),
        ("input tokens", f"{r['input_tokens']:,}"),
        ("  of which cached", f"{r['cached_input_tokens']:,}"),
        *(
            [("  of which written to the cache", f"{r['cache_write_tokens']:,}")]
            if r.get("cache_write_tokens")
            else []
        ),
        ("output tokens", f"{r['output_tokens']:,}"),
        ("cost (settled)", f"${r['cost_usd']:,.4f}"),
        *(
            [("  of which GPU hours", f"${r['hourly_cost_usd']:,.4f}")]
            if r["hourly_cost_usd"]
            else []
        ),
        *(
            [("  of which an older plan", f"${r['older_plan_cost_usd']:,.4f}")]
            if r.get("older_plan_items")
            else []
        ),
    ]
    if r.get("cost_by_mode", {}).get("batch_usd"):
        rows.append(("  of which batch", f"${r['cost_by_mode']['batch_usd']:,.4f}"))
        rows.append(("batch saved", f"${r['batch_saved_usd']:,.4f}"))
    if r.get("open_batches_usd"):
        rows.append(("open batches (worst case)", f"${r['open_batches_usd']:,.4f}"))
    if r.get("caching_saved_usd"):
        rows.append(("caching saved", f"${r['caching_saved_usd']:,.4f}"))
    if r.get("batch_saved_usd") or r.get("caching_saved_usd"):
        rows.append(("online, uncached, it would have cost", f"${r['online_uncached_usd']:,.4f}"))
    if r.get("possibly_billed_usd"):
        rows.append(
            ("possibly billed (timed out/dropped, worst case)", f"${r['possibly_billed_usd']:,.4f}")
        )
    if r["orphaned_usd"]:
        rows.append(("  of which in flight at a crash", f"${r['orphaned_usd']:,.4f}"))
    if r.get("usage_flagged"):
        rows.append(("usage missing/impossible (priced worst)", f"{r['usage_flagged']:,}"))
    if r.get("last_run_status") in ("interrupted", "budget", "auth"):
        said = {"interrupted": "interrupted (resumable)", "budget": "stopped at the budget"}
        rows.append(("last run", said.get(r["last_run_status"], "stopped: key refused")))
    if r["budget_usd"] is not None:
        rows.append(("budget", f"${r['budget_usd']:,.2f}"))
    if r["cost_per_1k_usd"] is not None:
        rows.append(("cost per 1K answers", f"${r['cost_per_1k_usd']:,.4f}"))
    for label, value in rows:
        table.add_row(label, value)
    return table
