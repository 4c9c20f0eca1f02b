"""The journal: migrations, resume state, and exact totals."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from synth.harvest.providers.base import ChatRequest, ChatResponse, Usage
from synth.journal.migrations import MIGRATIONS, m001_initial
from synth.journal.store import Journal, NewItem, pending_migrations, request_key


def _item(i: int) -> NewItem:
    req = ChatRequest(
        model="m", messages=[{"role": "user", "content": f"q{i}"}], params={"max_tokens": 5}
    )
    return NewItem(request_key("openai", req, 0), i + 1, 0, {"q": i}, req, "openai")


def test_old_journal_opens_and_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    m001_initial(db)
    db.execute("INSERT INTO _migrations VALUES ('m001_initial', 0)")
    db.commit()
    db.close()
    assert pending_migrations(path) == [fn.__name__ for fn in MIGRATIONS[1:]]
    with Journal(path, readonly=True) as j:  # readers too get an up-to-date schema
        assert j.totals()["items"] == 0
    assert pending_migrations(path) == []


def test_key_depends_on_everything_asked() -> None:
    req = ChatRequest(
        model="m", messages=[{"role": "user", "content": "q"}], params={"temperature": 0}
    )
    keys = {
        request_key("openai", req, 0),
        request_key("openai", req, 1),
        request_key("anthropic", req, 0),
        request_key("openai", ChatRequest("m2", req.messages, req.params), 0),
        request_key("openai", ChatRequest("m", req.messages, {"temperature": 1}), 0),
    }
    assert len(keys) == 5
    assert request_key("openai", req, 0) == request_key(
        "openai", ChatRequest("m", [dict(req.messages[0])], {"temperature": 0}), 0
    )


def test_add_items_is_atomic_and_resume_state(tmp_path: Path) -> None:
    def bad():
        yield _item(0)
        raise ValueError("line 2 is broken")

    with Journal(tmp_path / "j.sqlite") as j:
        try:
            j.add_items(bad())
        except ValueError:
            pass
        assert j.count() == 0, "nothing journaled from a file that failed validation"
        assert j.add_items(_item(i) for i in range(3)) == 3
        assert j.add_items(_item(i) for i in range(4)) == 1
        run = j.start_run(provider="openai", model="m", budget_usd=None)
        keys = [k for k, _ in j.iter_pending()]
        j.mark_in_flight(keys[0], Decimal("0.5"))
        j.mark_in_flight(keys[1], Decimal("0.25"))
        resp = ChatResponse("a", Usage(10, 2, 4), "stop", request_id="r1")
        j.mark_done(keys[1], resp, Decimal("0.001"), run_id=run, started_at=0.0)
    # a crash left keys[0] in flight: the next run sends it again, counting its worst case
    with Journal(tmp_path / "j.sqlite") as j:
        j.add_items(_item(i) for i in range(4))
        j.start_run(provider="openai", model="m", budget_usd=None)
        assert [k for k, _ in j.iter_pending()] == [keys[0], keys[2], keys[3]]
        t = j.totals()
        assert t["orphaned_usd"] == Decimal("0.5") and t["cost_usd"] == Decimal("0.001")
        assert j.spent_usd() == Decimal("0.501")
        assert t["cached_input_tokens"] == 4 and t["succeeded"] == 1


def test_pending_pages_walk_the_line_index_in_order_without_sorting(tmp_path: Path) -> None:
    """Each page of pending items is a range read from the cursor on: no sort of every pending
    row per page, which made a 1M-item harvest slower as it went."""
    with Journal(tmp_path / "j.sqlite") as j:
        j.add_items(_item(i) for i in range(25))
        keys = [k for k, _ in j.iter_pending(batch=4)]
        assert len(keys) == 25 and keys == [k for k, _ in j.iter_pending(batch=100)]
        run = j.start_run(provider="openai", model="m", budget_usd=None)
        resp = ChatResponse("a", Usage(1, 1, 0), "stop", request_id="r")
        for k in keys[::2]:  # answered items are skipped, the order is kept
            j.mark_in_flight(k, Decimal("0.1"))
            j.mark_done(k, resp, Decimal("0.001"), run_id=run, started_at=0.0)
        assert [k for k, _ in j.iter_pending(batch=3)] == keys[1::2]
        executed: list[str] = []  # the statements iter_pending really runs, values bound
        j.db.set_trace_callback(executed.append)
        list(j.iter_pending(batch=3))
        j.db.set_trace_callback(None)
        page = next(sql for sql in executed if "FROM items" in sql and "pending" in sql)
        details = " ".join(row[-1] for row in j.db.execute("EXPLAIN QUERY PLAN " + page))
        assert "items_line" in details and "TEMP B-TREE" not in details, details
