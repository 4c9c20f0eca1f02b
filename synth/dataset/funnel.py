"""The funnel: where the teacher's answers went, and what each loss cost.

    older plan                200   $0.3000   (answers to an edited prompt, inputs, model, params)
    items in                1,000   $1.2000   (the last harvest's plan: answered, failed, not sent)
    teacher (failed)           12   $0.0030   failed requests, and what retries were billed
    finish                     40   $0.0800
    refusal                     9   $0.0110
    ...
    kept                      901   $1.0500

`items_in` is the last harvest's plan (every journal item when the journal has no plan, see
synth.journal.store); the journal items outside it are the `older_plan` line, which is not a stage:
it comes before `items in`. Counts add up to `items_in`, and dollars, the older plan's
included, to the journal's `totals()["cost_usd"]`, exactly (Decimal): `Funnel.check` asserts
it. `<run>/build/funnel.json` holds `Funnel.to_dict()`; `funnel_table` draws it for the CLI
(from the object or from that JSON).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.table import Table

from synth.money import usd_float

TEACHER = "teacher"
OLDER_PLAN = "older plan"
NOT_IN_PLAN = "not_in_last_plan"  # its one reason


@dataclass
class Stage:
    """What one stage removed: how many items, the dollars spent on them, and why."""

    name: str
    removed: int = 0
    cost_usd: Decimal = Decimal(0)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, reason: str, cost: Decimal) -> None:
        self.removed += 1
        self.cost_usd += cost
        self.reasons[reason] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "removed": self.removed,
            "cost_usd": usd_float(self.cost_usd),
            "cost_usd_exact": str(self.cost_usd),
            "reasons": dict(self.reasons.most_common()),
        }


def older_plan_stage(items: int = 0, cost_usd: Decimal = Decimal(0)) -> Stage:
    """The journal items outside the last harvest's plan, and what they cost."""
    return Stage(OLDER_PLAN, items, cost_usd, Counter({NOT_IN_PLAN: items} if items else {}))


@dataclass
class Funnel:
    items_in: int  # the last harvest's plan (every journal item when there is none)
    cost_usd: Decimal  # the journal's total, the older plan's answers included
    teacher: Stage  # failed at the teacher, or not answered yet
    filters: list[Stage]
    kept: int = 0
    kept_cost_usd: Decimal = Decimal(0)
    splits: dict[str, int] = field(default_factory=dict)
    groups: int = 0  # near-duplicate groups among the kept rows
    orphaned_usd: Decimal = Decimal(0)  # possibly billed by crashed runs: not in any stage
    # journal items outside the plan (an edited template, inputs, model or params): not built,
    # not counted in items_in, but their dollars are part of cost_usd
    older_plan: Stage = field(default_factory=older_plan_stage)

    def set_older_plan(self, items: int, cost_usd: Decimal) -> None:
        """The journal items outside the last harvest's plan, and what they cost."""
        self.older_plan = older_plan_stage(items, cost_usd)

    @property
    def stages(self) -> list[Stage]:
        return [self.teacher, *self.filters]

    def check(self) -> None:
        """The arithmetic the report promises (a failure here is a bug, not a user error)."""
        removed = sum(s.removed for s in self.stages)
        spent = sum((s.cost_usd for s in self.stages), Decimal(0)) + self.kept_cost_usd
        spent += self.older_plan.cost_usd
        assert self.kept + removed == self.items_in, (self.kept, removed, self.items_in)
        assert spent == self.cost_usd, (spent, self.cost_usd)
        assert sum(self.splits.values()) in (0, self.kept), (self.splits, self.kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items_in": self.items_in,
            "cost_usd": usd_float(self.cost_usd),
            "cost_usd_exact": str(self.cost_usd),
            "stages": [s.to_dict() for s in self.stages],
            "kept": self.kept,
            "kept_cost_usd": usd_float(self.kept_cost_usd),
            "kept_cost_usd_exact": str(self.kept_cost_usd),
            "splits": dict(self.splits),
            "groups": self.groups,
            "orphaned_usd": usd_float(self.orphaned_usd),
            "older_plan": self.older_plan.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Funnel:
        def stage(s: dict[str, Any]) -> Stage:
            return Stage(
                s["name"], s["removed"], Decimal(s["cost_usd_exact"]), Counter(s["reasons"])
            )

        stages = [stage(s) for s in d["stages"]]
        older = d.get("older_plan")  # absent from a funnel.json written before plans
        return cls(
            items_in=d["items_in"],
            cost_usd=Decimal(d["cost_usd_exact"]),
            teacher=stages[0],
            filters=stages[1:],
            kept=d["kept"],
            kept_cost_usd=Decimal(d["kept_cost_usd_exact"]),
            splits=dict(d["splits"]),
            groups=d.get("groups", 0),
            orphaned_usd=Decimal(str(d.get("orphaned_usd", 0))),
            older_plan=stage(older) if older else older_plan_stage(),
        )


def _usd(d: Decimal, places: int) -> str:
    return f"${d:,.{places}f}"


def _reasons(c: Counter[str], top: int = 3) -> str:
    parts = [f"{r} {n:,}" for r, n in c.most_common(top)]
    if len(c) > top:
        parts.append(f"+{len(c) - top} more")
    return ", ".join(parts)


def funnel_table(funnel: Funnel | dict[str, Any]) -> Table:
    """The funnel as a rich table: one row per stage, with what is left after it."""
    f = funnel if isinstance(funnel, Funnel) else Funnel.from_dict(funnel)
    places = 2 if f.cost_usd >= 100 else 4 if f.cost_usd >= 1 else 6  # cents matter on small runs
    table = Table(title="build funnel", title_justify="left")
    table.add_column("stage")
    table.add_column("removed", justify="right")
    table.add_column("spent on them", justify="right")
    table.add_column("left", justify="right")
    table.add_column("why", style="dim")
    older = f.older_plan
    if older.removed:
        table.add_row(
            older.name,
            f"{older.removed:,}",
            _usd(older.cost_usd, places),
            "",
            "not in the last harvest's plan (an edited template, inputs, model or params): "
            f"not built; journal total {_usd(f.cost_usd, places)}",
        )
    table.add_row(
        "items in",
        "",
        _usd(f.cost_usd - older.cost_usd, places),
        f"{f.items_in:,}",
        "the last harvest's plan: answers, failures, not yet sent"
        if older.removed
        else "journal items: answers, failures, not yet sent",
    )
    left = f.items_in
    for s in f.stages:
        left -= s.removed
        table.add_row(
            s.name, f"{s.removed:,}", _usd(s.cost_usd, places), f"{left:,}", _reasons(s.reasons)
        )
    splits = " / ".join(f"{k} {v:,}" for k, v in f.splits.items())
    table.add_row("kept", "", _usd(f.kept_cost_usd, places), f"{f.kept:,}", splits, style="bold")
    if f.orphaned_usd:
        table.caption = f"plus up to {_usd(f.orphaned_usd, places)} possibly billed for requests lost in a crash"
    return table
