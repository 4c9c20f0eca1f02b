"""`distill logs CONFIG`: what the teacher was asked and answered, read from the journal."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import distill, make_run


def test_logs_last_n_state_grep_and_json(tmp_path: Path, sim) -> None:
    records = [{"text": f"ticket {i}: my invoice shows a double charge"} for i in range(5)]
    records.append({"text": "zebra [parcel] lost"})
    run = make_run(tmp_path, sim.openai_base_url, records=records)
    assert distill("harvest", str(run.config)).returncode == 0

    r = distill("logs", str(run.config), "-n", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("· done ·") == 3
    assert "Ticket: " in r.stdout and "→ " in r.stdout

    r = distill("logs", str(run.config), "--grep", "ZEBRA", "--json")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["line"] == 6 and rows[0]["state"] == "done"
    assert rows[0]["input"] == {"text": "zebra [parcel] lost"}
    assert rows[0]["answer"] and rows[0]["messages"][-1]["content"] == "Ticket: zebra [parcel] lost"

    r = distill("logs", str(run.config), "--state", "failed", "--json")
    assert r.returncode == 0 and r.stdout == ""


def test_logs_before_any_harvest_is_one_line(tmp_path: Path) -> None:
    run = make_run(tmp_path, "http://127.0.0.1:9/v1")
    r = distill("logs", str(run.config))
    assert r.returncode != 0 and "no harvest yet" in r.stderr and "Traceback" not in r.stderr
