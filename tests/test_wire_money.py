"""Money per attempt on a wire that times out: the teacher bills what it generates whether or
not the client still waits, so a timed-out attempt keeps its worst case and its retry reserves
anew. The referee is the simulated teacher's own ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from synth.journal.store import Journal
from synth.sim.runner import SimServer
from tests.conftest import REPO, distill, make_run

PRICES = {"price_input_per_mtok": 100, "price_output_per_mtok": 400}
TEACHER = {"price": {"input_per_mtok": 100, "output_per_mtok": 400}, "params": {"max_tokens": 64}}


@pytest.mark.parametrize(
    ("latency_ms", "timeout_s"),
    [((20, 300), 0.15), ((300, 400), 0.1)],
    ids=["sometimes-times-out", "always-times-out"],
)
def test_bill_never_above_budget_when_attempts_time_out(
    tmp_path: Path, latency_ms: tuple[int, int], timeout_s: float
) -> None:
    with SimServer(seed=3, latency_ms=latency_ms, **PRICES) as sim:
        run = make_run(
            tmp_path,
            sim.openai_base_url,
            n=300,
            budget_usd=0.5,
            teacher={**TEACHER, "concurrency": 32, "timeout_s": timeout_s, "max_attempts": 4},
        )
        r = distill("harvest", str(run.config))
        ledger = sim.ledger(entries=False)
    bill = Decimal(ledger["totals"]["cost_usd"])
    assert ledger["counters"]["abandoned"] > 0, "attempts really timed out and were billed"
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr
    assert "possibly billed" in r.stderr
    assert bill <= Decimal("0.5"), f"the teacher billed ${bill}, over the $0.5 budget"
    report = json.loads(distill("report", str(run.config), "--json").stdout)
    settled, unknown = (
        Decimal(report["cost_usd_exact"]),
        Decimal(report["possibly_billed_usd_exact"]),
    )
    assert unknown > 0
    assert settled <= bill <= settled + unknown <= Decimal("0.5"), (
        "what the journal counts covers the bill, within the budget"
    )
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.count("in_flight") == 0
        assert j.count("pending") > 0, "what the budget could not cover waits, not failed"


def _harvest_proc(run_config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "DISTILL_TEST_KEY": "sk-test-123456"}
    return subprocess.Popen(
        [sys.executable, "-m", "synth.cli", "harvest", str(run_config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_during_retry_after_adds_nothing_possibly_billed(
    tmp_path: Path, sig: signal.Signals
) -> None:
    # every first attempt gets a 429 asking for 30 s: the items are only waiting, never sent
    with SimServer(fault_429=1.0, fault_retry_after_s=30, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=12, teacher={**TEACHER, "concurrency": 4})
        for _ in range(3):
            proc = _harvest_proc(run.config)
            deadline = time.time() + 30
            while sim.ledger(entries=False)["counters"]["received"] < 1 and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=30)
            assert proc.returncode == 130, stderr
            assert "Traceback" not in stderr
            assert "interrupted" in stderr or "terminated" in stderr
            sim.reset()
        with Journal(run.cfg().journal_path, readonly=True) as j:
            t = j.totals()
            runs = j.runs()
            assert j.count("in_flight") == 0
    assert t["possibly_billed_usd"] == 0, "nothing was sent to be billed"
    assert [r["status"] for r in runs] == ["interrupted"] * 3
    report = distill("report", str(run.config))
    assert "interrupted" in report.stdout and "crash" not in report.stdout


def test_interrupt_on_the_wire_keeps_the_worst_case(tmp_path: Path) -> None:
    with SimServer(latency_ms=(5000, 5000), **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=6, teacher={**TEACHER, "concurrency": 3})
        proc = _harvest_proc(run.config)
        deadline = time.time() + 30
        while sim.ledger(entries=False)["counters"]["max_in_flight"] < 3 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        time.sleep(0.2)
        bill = Decimal(sim.ledger(entries=False)["totals"]["cost_usd"] or 0)
    with Journal(run.cfg().journal_path, readonly=True) as j:
        t = j.totals()
        assert j.count("in_flight") == 0
    assert t["orphaned_usd"] == 0, "a clean stop is no crash"
    assert bill <= t["possibly_billed_usd"], "the three abandoned answers are covered"
    assert t["possibly_billed_usd"] > 0
