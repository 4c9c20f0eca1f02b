"""The journal's plan: the keys of the last harvest, kept across connections (m004)."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from synth.harvest.providers.base import ChatRequest, ChatResponse, Usage
from synth.journal.migrations import MIGRATIONS
from synth.journal.store import PLAN_EXTEND, Journal, NewItem, request_key


def _item(i: int, prompt: str = "v1") -> NewItem:
    req = ChatRequest(
        model="m", messages=[{"role": "user", "content": f"{prompt}: q{i}"}], params={}
    )
    return NewItem(request_key("openai", req, 0), i + 1, 0, {"q": i}, req, "openai")


def _answer(j: Journal, run: int, key: str, cost: str, retry_cost: str | None = None) -> None:
    j.mark_in_flight(key, Decimal("0.01"))
    if retry_cost is not None:  # an attempt billed before a retry
        j.record_attempt(key, run, time.time(), "retry", 500, "boom", 1, 1, Decimal(retry_cost))
    resp = ChatResponse("ok", Usage(3, 1), "stop")
    j.mark_done(key, resp, Decimal(cost), run_id=run, started_at=time.time())


def test_a_new_plan_replaces_the_last_and_outlives_the_connection(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    v1 = [_item(i) for i in range(3)]
    v2 = [_item(i, "v2") for i in range(3)]
    with Journal(path) as j:
        assert j.plan() is None
        j.add_items(v1)
        run = j.start_run(provider="openai", model="m", budget_usd=None)
        for it in v1:
            _answer(j, run, it.key, "0.001", retry_cost="0.0005" if it.line == 1 else None)
        first = j.plan()
        assert first is not None and first["items"] == 3 and first["mode"] == "replace"
        j.add_items(iter(v1))  # the same harvest again: the plan on record is kept as it is
        assert j.plan() == first
    with Journal(path) as j:
        j.add_items(v2)  # an edited prompt
        assert [k for k, _ in j.iter_pending()] == [it.key for it in v2]
    with Journal(path, readonly=True) as j:
        assert j.plan()["items"] == 3 and j.plan()["id"] != first["id"]
        assert j.count() == 6 and j.outside_plan_count() == 3
        assert [i.key for i in j.iter_items(plan_only=True)] == [it.key for it in v2]
        assert [i.key for i in j.iter_items(state="done", plan_only=True)] == []
        assert len(list(j.iter_items(state="done"))) == 3  # still in the journal
        older = j.outside_plan()
        assert older == {
            "items": 3,
            "succeeded": 3,
            "failed": 0,
            "pending": 0,
            "cost_usd": Decimal("0.0035"),  # three answers and one retry billed
        }
        assert older["cost_usd"] == j.totals()["cost_usd"]  # v2 is not answered yet


def test_a_file_that_fails_validation_leaves_the_plan_alone(tmp_path: Path) -> None:
    def bad():
        yield _item(0, "v2")
        raise ValueError("line 2 is broken")

    with Journal(tmp_path / "j.sqlite") as j:
        j.add_items(_item(i) for i in range(3))
        plan = j.plan()
        with pytest.raises(ValueError):
            j.add_items(bad())
        assert j.plan() == plan and j.count() == 3 and j.outside_plan_count() == 0
        with pytest.raises(ValueError, match="plan must be"):
            j.add_items([_item(9)], plan="merge")


def test_extend_adds_to_the_plan_and_sends_only_its_own_items(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.add_items(_item(i) for i in range(4))  # four pending: say the budget stopped it
        plan = j.plan()
    with Journal(path) as j:
        extra = [_item(i, "extra") for i in range(2)]
        assert j.add_items(iter(extra), plan=PLAN_EXTEND) == 2
        assert [k for k, _ in j.iter_pending()] == [it.key for it in extra]  # this file only
        assert j.count(current=True) == 2
        grown = j.plan()
        assert grown["items"] == 6 and grown["mode"] == "extend" and grown["id"] > plan["id"]
        assert j.add_items(iter(extra), plan=PLAN_EXTEND) == 0
        assert j.plan() == grown  # nothing new: no new plan
        assert j.outside_plan_count() == 0


def test_extend_without_a_plan_keeps_every_item(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        j.add_items((_item(i) for i in range(3)), plan=PLAN_EXTEND)
        j.add_items((_item(i, "v2") for i in range(2)), plan=PLAN_EXTEND)
        assert j.plan() is None
        assert len(list(j.iter_items(plan_only=True))) == 5
        assert j.outside_plan()["items"] == 0


def test_a_journal_from_before_plans_reads_every_item(tmp_path: Path) -> None:
    """Written with m001..m003 only: m004 is applied on open, the plan stays empty."""
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for fn in MIGRATIONS[:3]:
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (fn.__name__,))
    for i in range(4):
        db.execute(
            "INSERT INTO items (key, line, sample, input, request, provider, model, state, "
            "response_text, cost_usd, created_at, updated_at) "
            "VALUES (?, ?, 0, '{}', '{\"messages\": []}', 'openai', 'm', 'done', 'a', '0.1', 0, 0)",
            (f"k{i}", i + 1),
        )
    db.commit()
    db.close()
    with Journal(path, readonly=True) as j:
        assert j.plan() is None
        assert [i.key for i in j.iter_items(state="done", plan_only=True)] == [
            "k0",
            "k1",
            "k2",
            "k3",
        ]
        assert j.outside_plan()["items"] == 0 and j.outside_plan_count() == 0
