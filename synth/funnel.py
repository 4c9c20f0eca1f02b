"""The funnel: where the teacher's answers went, and what each loss cost.

    items in                1,000   $1.2000   (every journal item: answered, failed, not yet sent)
    teacher (failed)           12   $0.0030   failed requests, and what retries were billed
    finish                     40   $0.0800
    refusal                     9   $0.0110
    ...
    kept                      901   $1.0500

Counts add up to the journal's items and dollars to its `totals()["cost_usd"]`, exactly
(Decimal): `Funnel.check` asserts it. `<run>/build/funnel.json` holds `Funnel.to_dict()`;
`funnel_table` draws it for the CLI (from the object or from that JSON).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.table import Table

TEACHER = "teacher"


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
            "cost_usd": _money(self.cost_usd),
            "cost_usd_exact": str(self.cost_usd),
            "reasons": dict(self.reasons.most_common()),
        }


@dataclass
class Funnel:
    items_in: int
    cost_usd: Decimal  # the journal's total
    teacher: Stage  # failed at the teacher, or not answered yet
    filters: list[Stage]
    kept: int = 0
    kept_cost_usd: Decimal = Decimal(0)
    splits: dict[str, int] = field(default_factory=dict)
    groups: int = 0  # near-duplicate groups among the kept rows
    orphaned_usd: Decimal = Decimal(0)  # possibly billed by crashed runs: not in any stage

    @property
    def stages(self) -> list[Stage]:
        return [self.teacher, *self.filters]

    def check(self) -> None:
        """The arithmetic the report promises (a failure here is a bug, not a user error)."""
        removed = sum(s.removed for s in self.stages)
        spent = sum((s.cost_usd for s in self.stages), Decimal(0)) + self.kept_cost_usd
        assert self.kept + removed == self.items_in, (self.kept, removed, self.items_in)
        assert spent == self.cost_usd, (spent, self.cost_usd)
        assert sum(self.splits.values()) in (0, self.kept), (self.splits, self.kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items_in": self.items_in,
            "cost_usd": _money(self.cost_usd),
            "cost_usd_exact": str(self.cost_usd),
            "stages": [s.to_dict() for s in self.stages],
            "kept": self.kept,
            "kept_cost_usd": _money(self.kept_cost_usd),
            "kept_cost_usd_exact": str(self.kept_cost_usd),
            "splits": dict(self.splits),
            "groups": self.groups,
            "orphaned_usd": _money(self.orphaned_usd),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Funnel:
        stages = [
            Stage(s["name"], s["removed"], Decimal(s["cost_usd_exact"]), Counter(s["reasons"]))
            for s in d["stages"]
        ]
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
        )


def _money(d: Decimal) -> float:
    return float(d.quantize(Decimal("0.000000001")))


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
    table.add_row(
        "items in",
        "",
        _usd(f.cost_usd, places),
        f"{f.items_in:,}",
        "journal items: answers, failures, not yet sent",
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
