"""`distill logs` over a real harvest on the simulated teacher: what it prints is what the
journal holds, filtered by count, state and text, as lines of JSON or for a reader."""

from __future__ import annotations

import json
from pathlib import Path

from synth.harvest.engine import harvest
from synth.journal.store import Journal
from synth.sim.runner import SimServer
from tests.conftest import distill, make_run


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_logs_shows_the_journals_answers_and_filters(tmp_path: Path, sim: SimServer) -> None:
    records = [{"id": i, "text": f"ticket {i}: my parcel never arrived"} for i in range(12)]
    records[4]["text"] = "ticket 4: the zebra-coloured invoice is wrong"
    run = make_run(tmp_path, sim.openai_base_url, records=records)
    harvest(run.cfg())
    with Journal(run.cfg().journal_path, readonly=True) as j:
        answers = {i.line: i.response_text for i in j.iter_items("done")}
    assert len(answers) == 12

    r = distill("logs", str(run.config), "--json")
    assert r.returncode == 0, r.stderr
    rows = _json_lines(r.stdout)
    assert len(rows) == 10, "ten by default"
    assert all(row["answer"] == answers[row["line"]] for row in rows)
    assert [row["updated_at"] for row in rows] == sorted(row["updated_at"] for row in rows)

    r = distill("logs", str(run.config), "-n", "3", "--json", "--state", "done")
    assert [row["state"] for row in _json_lines(r.stdout)] == ["done"] * 3

    r = distill("logs", str(run.config), "--grep", "ZEBRA", "--json", "-n", "50")
    rows = _json_lines(r.stdout)
    assert [row["line"] for row in rows] == [5]
    assert rows[0]["input"]["text"] == records[4]["text"]

    r = distill("logs", str(run.config), "--state", "failed", "--json")
    assert r.returncode == 0 and r.stdout == ""

    r = distill("logs", str(run.config), "-n", "2", "--grep", "zebra")
    assert r.returncode == 0, r.stderr
    assert "line 5 · done" in r.stdout and f"answer: {answers[5]}" in r.stdout


def test_logs_shows_failed_items_with_their_error(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=3, teacher={"params": {"temperature": 9}})
    harvest(run.cfg())
    r = distill("logs", str(run.config), "--state", "failed")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("· failed ·") == 3 and "error: 400" in r.stdout


def test_logs_without_a_harvest_is_one_line(tmp_path: Path) -> None:
    run = make_run(tmp_path, "http://127.0.0.1:9/v1", n=2)
    r = distill("logs", str(run.config))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "run distill harvest first" in r.stderr
    assert not run.cfg().journal_path.exists(), "read-only: no journal created"
    r = distill("logs", str(run.config), "--state", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr
