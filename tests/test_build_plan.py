"""Build reads the last harvest's plan: after an edited prompt (or inputs), the answers to the
older one stay in the journal and in the bill, but not in the dataset; the funnel shows them on
a line of their own and its dollars still add up to the journal's total.

Real harvests against the simulated teacher on 127.0.0.1 (echo answers: "You said: <the
prompt's first words>", so each answer shows which prompt it answered), a real SQLite journal.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from synth.dataset.builder import build
from synth.dataset.funnel import OLDER_PLAN, Funnel, funnel_table
from synth.harvest.cost_report import cost_report
from synth.harvest.engine import dry_run, harvest
from synth.journal.store import Journal, pending_migrations
from tests.conftest import distill, make_run

V1 = {
    "description": "Triage a ticket",
    "system": "You triage support tickets.",
    "user": "V1 ticket: {{ text }}",
    "params": {"temperature": 0, "max_tokens": 64},
}
V2 = {**V1, "user": "V2 triage this support ticket: {{ text }}"}
BUILD = {"filters": ["finish"], "dataset": {"validation": 0, "test": 0}}  # every answer kept
N = 12


@pytest.fixture
def sim():
    from synth.sim.runner import SimServer

    with SimServer(price_input_per_mtok=0.15, price_output_per_mtok=0.60) as s:
        yield s


def edit_template(run: Any, template: dict[str, Any]) -> None:
    (run.dir / "prompts" / "t.yaml").write_text(yaml.safe_dump(template))


def dataset_rows(result: Any) -> list[dict[str, Any]]:
    rows = []
    for split in ("train", "validation", "test"):
        path = result.dataset_dir / f"{split}.jsonl"
        rows += [json.loads(x) for x in path.read_text().splitlines()]
    return rows


def answers(rows: list[dict[str, Any]]) -> set[str]:
    """Which prompt each row answered: "V1" or "V2" (the echo's first word after "You said:")."""
    return {r["messages"][-1]["content"].split()[2] for r in rows}


def journal_cost(cfg: Any) -> Decimal:
    with Journal(cfg.journal_path, readonly=True) as j:
        return j.totals()["cost_usd"]


def test_edited_template_builds_only_the_new_answers_and_bills_the_old(
    tmp_path: Path, sim: Any
) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=N, template=V1, **BUILD)
    harvest(run.cfg())
    v1_cost = journal_cost(run.cfg())
    assert v1_cost > 0
    first = build(run.cfg())
    assert answers(dataset_rows(first)) == {"V1"} and first.funnel.kept == N
    assert first.funnel.older_plan.removed == 0

    edit_template(run, V2)
    cfg = run.cfg()
    harvest(cfg)
    with Journal(cfg.journal_path, readonly=True) as j:
        totals = j.totals()
    assert totals["items"] == 2 * N and totals["succeeded"] == 2 * N  # both versions journaled
    v2_cost = totals["cost_usd"] - v1_cost
    assert v2_cost > 0

    result = build(cfg)
    rows = dataset_rows(result)
    assert len(rows) == N and answers(rows) == {"V2"}
    assert all(r["messages"][-2]["content"].startswith("V2 triage") for r in rows)

    f = result.funnel
    f.check()
    assert f.items_in == N and f.kept == N  # the plan only
    assert f.older_plan.name == OLDER_PLAN
    assert f.older_plan.removed == N and f.older_plan.cost_usd == v1_cost
    assert f.kept_cost_usd == v2_cost and f.teacher.removed == 0
    assert f.cost_usd == totals["cost_usd"]  # the journal's whole bill
    spent = sum((s.cost_usd for s in f.stages), Decimal(0)) + f.kept_cost_usd
    assert spent + f.older_plan.cost_usd == totals["cost_usd"]

    saved = json.loads(result.funnel_path.read_text())
    assert saved["items_in"] == N
    assert saved["older_plan"]["removed"] == N
    assert Decimal(saved["older_plan"]["cost_usd_exact"]) == v1_cost
    assert saved["older_plan"]["reasons"] == {"not_in_last_plan": N}
    assert Funnel.from_dict(saved).to_dict() == saved
    table = funnel_table(saved)
    assert table.row_count == 3 + len(f.stages)  # older plan, items in, stages, kept
    assert list(table.columns[0].cells)[:2] == [OLDER_PLAN, "items in"]
    assert list(table.columns[1].cells)[0] == f"{N:,}"

    # the cost report is the bill: the whole journal, with the older plan's share said
    report = cost_report(cfg)
    assert report["cost_usd_exact"] == str(totals["cost_usd"])
    assert report["items"] == 2 * N and report["plan_items"] == N
    assert report["older_plan_items"] == N
    assert Decimal(report["older_plan_cost_usd_exact"]) == v1_cost

    # back to the first prompt: nothing sent, its answers are the dataset again
    edit_template(run, V1)
    again = harvest(run.cfg())
    assert again.stats.done == 0 and again.stats.already_done == N
    back = build(run.cfg())
    assert answers(dataset_rows(back)) == {"V1"}
    assert back.funnel.older_plan.cost_usd == v2_cost
    back.funnel.check()


def test_dry_run_leaves_the_plan_alone(tmp_path: Path, sim: Any) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=N, template=V1, **BUILD)
    harvest(run.cfg())
    with Journal(run.cfg().journal_path, readonly=True) as j:
        plan = j.plan()
    assert plan is not None and plan["items"] == N

    edit_template(run, V2)
    d = dry_run(run.cfg())
    assert d.items == N and d.to_send == N
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.plan() == plan and j.count() == N
    assert answers(dataset_rows(build(run.cfg()))) == {"V1"}


def test_removed_input_lines_leave_the_dataset_and_the_build_goes_stale(
    tmp_path: Path, sim: Any
) -> None:
    from synth.cli.stamps import _journal_digest

    run = make_run(tmp_path, sim.openai_base_url, n=N, template=V1, **BUILD)
    harvest(run.cfg())
    before = _journal_digest(run.cfg())
    lines = (tmp_path / "in.jsonl").read_text().splitlines()
    (tmp_path / "in.jsonl").write_text("\n".join(lines[:8]) + "\n")
    r = harvest(run.cfg())
    assert r.stats.done == 0  # nothing new to send: the journal's items are unchanged...
    assert _journal_digest(run.cfg()) != before  # ...but its plan is: build must run again
    result = build(run.cfg())
    assert {row["line"] for row in dataset_rows(result)} == set(range(1, 9))
    assert result.funnel.older_plan.removed == N - 8
    result.funnel.check()


def test_another_inputs_file_adds_to_the_plan(tmp_path: Path, sim: Any) -> None:
    """`distill harvest CONFIG --inputs FILE` (e.g. eval/failures.jsonl): its answers join the
    dataset's, they do not replace them."""
    run = make_run(tmp_path, sim.openai_base_url, n=N, template=V1, **BUILD)
    harvest(run.cfg())
    extra = tmp_path / "more.jsonl"
    extra.write_text(
        "".join(json.dumps({"id": f"x{i}", "text": f"another ticket {i}"}) + "\n" for i in range(3))
    )
    r = distill("harvest", str(run.config), "--inputs", str(extra))
    assert r.returncode == 0, r.stderr
    result = build(run.cfg())
    rows = dataset_rows(result)
    assert len(rows) == N + 3 and result.funnel.older_plan.removed == 0
    assert sum("another ticket" in row["messages"][-2]["content"] for row in rows) == 3

    # `distill report --json` still shows the journal's bill
    r = distill("report", str(run.config), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["cost_usd"] == pytest.approx(float(journal_cost(run.cfg())))
    assert report["older_plan_items"] == 0 and report["plan_items"] == N + 3


def strip_to_m003(path: Path) -> None:
    """What a journal written before m004 looks like as to its plan: no plan tables and no m004
    recorded (the later migrations' columns and tables stay: they are not what is tested)."""
    db = sqlite3.connect(path)
    db.execute("DROP TABLE plan_keys")
    db.execute("DROP TABLE plans")
    db.execute("DELETE FROM _migrations WHERE name = 'm004_plan'")
    db.commit()
    db.close()
    assert pending_migrations(path) == ["m004_plan"]


def test_old_journal_without_a_plan_still_builds_everything(tmp_path: Path, sim: Any) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=N, template=V1, **BUILD)
    harvest(run.cfg())
    edit_template(run, V2)
    harvest(run.cfg())
    cfg = run.cfg()
    total = journal_cost(cfg)
    strip_to_m003(cfg.journal_path)  # both prompts' answers, and no plan: as before the fix

    result = build(cfg)
    assert pending_migrations(cfg.journal_path) == []  # opened, brought up to date
    with Journal(cfg.journal_path, readonly=True) as j:
        assert j.plan() is None and j.outside_plan()["items"] == 0
    rows = dataset_rows(result)
    assert len(rows) == 2 * N and answers(rows) == {"V1", "V2"}  # today's behaviour: all items
    f = result.funnel
    f.check()
    assert f.items_in == 2 * N and f.older_plan.removed == 0 and f.cost_usd == total
    assert funnel_table(f).row_count == 2 + len(f.stages)  # no older-plan line
    assert cost_report(cfg)["plan_items"] == 2 * N

    # the next harvest records its plan: from then on only its answers are built
    harvest(cfg)
    result = build(cfg)
    assert answers(dataset_rows(result)) == {"V2"}
    assert result.funnel.older_plan.removed == N
    result.funnel.check()
