"""The cost report: what the harvest sent, what came back, and what it cost, from the journal.

`cost_report(cfg)` is the data (`distill report --json` prints it); `cost_table` draws it.
It covers the whole journal: every item and attempt ever paid for, also the answers to an
older prompt, inputs, model or params that build leaves out (they are the bill all the same);
`older_plan_items` and `older_plan_cost_usd` say how much of it that is, `plan_items` what the
last harvest's plan holds (synth.journal.store).
Later stages add their figures (funnel, eval, cost comparison) through `evals.report`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.table import Table

from synth.config import RunConfig
from synth.errors import StageError
from synth.journal.store import Journal


def _money(d: Decimal) -> float:
    return float(d.quantize(Decimal("0.000000001")))


def cost_report(cfg: RunConfig) -> dict[str, Any]:
    if not cfg.journal_path.exists():
        raise StageError(
            f"no harvest yet for run '{cfg.name}' ({cfg.journal_path}): run distill harvest first"
        )
    with Journal(cfg.journal_path, readonly=True) as j:
        t = j.totals()
        older = j.outside_plan()
        per_model = []
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
            per_model.append(
                {
                    "provider": provider,
                    "model": model,
                    "items": n,
                    "succeeded": done or 0,
                    "input_tokens": tin,
                    "output_tokens": tout,
                    "cached_input_tokens": tcached,
                    "cost_usd": _money(cost),
                }
            )
        runs = j.runs()
    wall = sum((r["ended_at"] or r["started_at"]) - r["started_at"] for r in runs)
    succeeded = t["succeeded"]
    return {
        "run": cfg.name,
        "items": t["items"],
        "plan_items": t["items"] - older["items"],
        "older_plan_items": older["items"],
        "older_plan_cost_usd": _money(older["cost_usd"]),
        "older_plan_cost_usd_exact": str(older["cost_usd"]),
        "requests": t["requests"],
        "succeeded": succeeded,
        "failed": t["failed"],
        "pending": t["pending"],
        "input_tokens": t["input_tokens"],
        "output_tokens": t["output_tokens"],
        "cached_input_tokens": t["cached_input_tokens"],
        "cost_usd": _money(t["cost_usd"]),
        "cost_usd_exact": str(t["cost_usd"]),
        "token_cost_usd": _money(t["token_cost_usd"]),
        "hourly_cost_usd": _money(t["hourly_cost_usd"]),
        "orphaned_usd": _money(t["orphaned_usd"]),
        "budget_usd": float(cfg.budget_usd) if cfg.budget_usd is not None else None,
        "retries": t["retries"],
        "rate_limited": t["rate_limited"],
        "cost_per_1k_usd": _money(t["cost_usd"] * 1000 / succeeded) if succeeded else None,
        "mean_latency_s": t["mean_latency_s"],
        "harvest_runs": len(runs),
        "harvest_wall_s": round(wall, 3),
        "per_model": per_model,
    }


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
        ("output tokens", f"{r['output_tokens']:,}"),
        ("cost", f"${r['cost_usd']:,.4f}"),
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
    if r["orphaned_usd"]:
        rows.append(("in flight at a crash (worst case)", f"${r['orphaned_usd']:,.4f}"))
    if r["budget_usd"] is not None:
        rows.append(("budget", f"${r['budget_usd']:,.2f}"))
    if r["cost_per_1k_usd"] is not None:
        rows.append(("cost per 1K answers", f"${r['cost_per_1k_usd']:,.4f}"))
    for label, value in rows:
        table.add_row(label, value)
    return table
