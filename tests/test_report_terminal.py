"""`distill report CONFIG` in the terminal: once eval ran, the student's quality, its cost and the
break-even too, the same figures `--json` gives."""

from __future__ import annotations

from typing import Any

from evals.report import report_json_extras
from tests.conftest import distill
from tests.test_report_html import full_run  # noqa: F401 (the fixture)


def test_terminal_report_shows_eval_cost_and_break_even(full_run: Any) -> None:  # noqa: F811
    r = distill("report", str(full_run.config_path), env={"COLUMNS": "120"})
    assert r.returncode == 0, r.stderr
    extras = report_json_extras(full_run)
    e, c = extras["eval"], extras["cost_comparison"]
    text = " ".join(r.stdout.split())
    assert f"Student vs teacher ({e['task']}, {e['split']} split, {e['items']} items)" in text
    assert "Cost: teacher vs student" in text
    assert "break-even volume" in text and "student per 1K requests" in text
    assert f"${c['teacher']['per_1k_usd']:.4f}" in text, text[-1500:]
    # per-label precision / recall / F1, and per-item latency with the teacher's from the journal
    assert "Precision, recall and F1 per label: teacher vs gold" in text
    assert "Latency per item" in text and "teacher: per answer bought online" in text
