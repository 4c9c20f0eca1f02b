"""Bad state gets one line and a non-zero exit, never a traceback: a damaged journal, a
runs_dir that is no folder, a report written to a folder, a template that fails at render
time; progress as plain lines in a log; SIGTERM ends a run like Ctrl-C (tests/test_wire_money)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synth.sim.runner import SimServer
from tests.conftest import CLASSIFY_TEMPLATE, distill, make_run


def _one_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_journal_is_one_line(tmp_path: Path, sim: SimServer, damage: str) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=300)
    assert distill("harvest", str(run.config)).returncode == 0
    journal = run.cfg().journal_path
    for extra in ("-wal", "-shm"):
        Path(str(journal) + extra).unlink(missing_ok=True)
    data = journal.read_bytes()
    if damage == "truncated":
        journal.write_bytes(data[: len(data) // 3])
    else:
        journal.write_bytes(b"not a database at all" * 100)
    for verb in ("report", "harvest", "build"):
        r = distill(verb, str(run.config))
        assert r.returncode == 2, (verb, r.stderr)
        _one_line(r.stderr)
        assert "journal" in r.stderr and "cannot be read" in r.stderr


def test_runs_dir_that_is_a_file_is_one_line(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=3, runs_dir="runs")
    (tmp_path / "runs").write_text("a file where the runs folder should be")
    r = distill("harvest", str(run.config))
    assert r.returncode == 2, r.stderr
    _one_line(r.stderr)
    assert "runs_dir" in r.stderr
    assert sim.ledger(entries=False)["counters"]["received"] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_runs_dir_not_writable_is_one_line(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=3, runs_dir="runs")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs").chmod(0o500)
    try:
        r = distill("harvest", str(run.config))
    finally:
        (tmp_path / "runs").chmod(0o700)
    assert r.returncode == 2, r.stderr
    _one_line(r.stderr)
    assert "runs_dir" in r.stderr


def test_report_to_a_folder_or_a_missing_folder_is_one_line(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=3)
    assert distill("harvest", str(run.config)).returncode == 0
    (tmp_path / "out").mkdir()
    for flag, target, said in (
        ("--html", tmp_path / "out", "is a folder"),
        ("--html", tmp_path / "nowhere" / "r.html", "does not exist"),
        ("--md", tmp_path / "out", "is a folder"),
    ):
        r = distill("report", str(run.config), flag, str(target))
        assert r.returncode == 2, r.stderr
        _one_line(r.stderr)
        assert said in r.stderr


@pytest.mark.parametrize(
    ("user", "said"),
    [
        ("{{ 1/0 }} {{ text }}", "ZeroDivisionError"),
        ("{{ text + 1 }}", "TypeError"),
        ("{% for i in range(10**12) %}x{% endfor %}{{ text }}", "OverflowError"),
    ],
    ids=["div-zero", "str-plus-int", "huge-range"],
)
def test_template_runtime_errors_name_the_input_line(
    tmp_path: Path, sim: SimServer, user: str, said: str
) -> None:
    template = {**CLASSIFY_TEMPLATE, "user": user}
    run = make_run(tmp_path, sim.openai_base_url, n=3, template=template)
    r = distill("harvest", str(run.config))
    assert r.returncode == 2, r.stderr
    _one_line(r.stderr)
    assert "in.jsonl:1:" in r.stderr and said in r.stderr
    assert sim.ledger(entries=False)["counters"]["received"] == 0


def test_progress_is_plain_lines_in_a_log_with_the_rate_limit_wait(tmp_path: Path) -> None:
    # every first attempt is told to wait 3 s (the window is spent): the log says so
    with SimServer(rpm=6, burst_s=0.5, price_input_per_mtok=0.15, price_output_per_mtok=0.6) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=3, teacher={"concurrency": 3})
        r = distill("harvest", str(run.config), env={"DISTILL_PROGRESS_EVERY_S": "1"}, timeout=90)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("harvest ")]
    assert len(lines) >= 2, r.stderr
    assert all("\x1b[" not in ln for ln in lines), "no terminal codes in a log"
    assert any("waiting" in ln and "for the rate limit" in ln for ln in lines), lines
    assert lines[-1].startswith("harvest 3/3")
