"""The harvest over real loopback against the simulated teacher: faults, crashes, budget, auth,
bad input, secrets and the report, each checked against the sim's own ledger."""

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

from synth.harvest.engine import harvest
from synth.journal.store import Journal
from synth.sim.runner import SimServer
from tests.conftest import REPO, distill, make_run

PRICES = {"price_input_per_mtok": 0.15, "price_output_per_mtok": 0.60}


def billed(sim: SimServer) -> list[dict]:
    return sim.ledger()["entries"]


def test_faults_every_item_done_billed_once_retry_after_obeyed(tmp_path: Path) -> None:
    faults = dict(
        fault_429=0.05, fault_500=0.05, fault_503=0.05, fault_drop=0.05, fault_retry_after_s=0.05
    )
    with SimServer(seed=7, latency_ms=(1, 5), **faults, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=150, teacher={"concurrency": 16})
        result = harvest(run.cfg())
        ledger = sim.ledger()
    assert result.status == "finished"
    assert result.stats.done == 150 and result.stats.failed == 0
    entries = ledger["entries"]
    assert len(entries) == 150, "every item billed exactly once"
    assert len({e["body_hash"] for e in entries}) == 150
    counters = ledger["counters"]
    assert sum(counters["faults"].values()) >= 20, "faults were really injected"
    assert counters["retry_after_violations"] == 0
    with Journal(run.cfg().journal_path, readonly=True) as j:
        t = j.totals()
    assert t["succeeded"] == 150 and t["retries"] == counters["received"] - 150
    assert t["rate_limited"] == counters["faults"].get("429", 0)


def test_report_json_equals_ledger_to_the_cent(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=40)
    r = distill("harvest", str(run.config))
    assert r.returncode == 0, r.stderr
    report = distill("report", str(run.config), "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    totals = sim.ledger(entries=False)["totals"]
    assert data["succeeded"] == totals["requests"] == 40
    assert data["input_tokens"] == totals["input_tokens"]
    assert data["output_tokens"] == totals["output_tokens"]
    assert Decimal(data["cost_usd_exact"]) == Decimal(totals["cost_usd"])
    assert round(data["cost_usd"], 2) == round(float(totals["cost_usd"]), 2)
    for key in (
        "requests",
        "succeeded",
        "failed",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "retries",
        "rate_limited",
    ):
        assert key in data


def test_rerun_sends_nothing_and_changed_inputs_send_only_new(
    tmp_path: Path, sim: SimServer
) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=10)
    harvest(run.cfg())
    harvest(run.cfg())
    assert len(billed(sim)) == 10
    with (tmp_path / "in.jsonl").open("a") as f:
        f.write(json.dumps({"id": 99, "text": "a brand new ticket"}) + "\n")
    result = harvest(run.cfg())
    assert result.stats.done == 1 and result.stats.already_done == 10
    assert len(billed(sim)) == 11


def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    with SimServer(latency_ms=(20, 40), **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=200, teacher={"concurrency": 8})
        env = {**os.environ, "DISTILL_TEST_KEY": "sk-test-123456"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "synth.cli", "harvest", str(run.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )
        deadline = time.time() + 60
        while len(billed(sim)) < 60 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = len(billed(sim))
        assert 0 < first < 200, "killed mid-run"
        with Journal(run.cfg().journal_path, readonly=True) as j:
            in_flight = j.count("in_flight")
            done_before = j.count("done")
        assert in_flight <= 8
        r = distill("harvest", str(run.config))
        assert r.returncode == 0, r.stderr
        entries = billed(sim)
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.count("done") == 200
        assert j.totals()["orphaned_usd"] > 0 or in_flight == 0
    resent = len(entries) - 200
    assert resent <= in_flight, f"{resent} items paid twice, only {in_flight} were in flight"
    assert done_before <= first


def test_budget_is_never_exceeded_with_32_in_flight(tmp_path: Path) -> None:
    # each answer costs ~ (prompt ~30 + output ~10 tokens); max_tokens 64 makes worst cases big
    with SimServer(latency_ms=(5, 15), price_input_per_mtok=100, price_output_per_mtok=400) as sim:
        run = make_run(
            tmp_path,
            sim.openai_base_url,
            n=300,
            budget_usd=0.5,
            teacher={
                "concurrency": 32,
                "price": {"input_per_mtok": 100, "output_per_mtok": 400},
                "params": {"max_tokens": 64},
            },
        )
        r = distill("harvest", str(run.config))
        bill = Decimal(sim.ledger(entries=False)["totals"]["cost_usd"])
        assert r.returncode == 4, r.stderr
        assert "budget_usd 0.5" in r.stderr and "raise budget_usd" in r.stderr
        assert 0 < bill <= Decimal("0.5")
        assert bill > Decimal("0.4"), "the budget is used, not wasted by over-reservation"
        # resumable with a higher budget
        r2 = distill("harvest", str(run.config), "--budget", "10")
        assert r2.returncode == 0, r2.stderr
        assert len(billed(sim)) == 300


def test_401_stops_the_run_at_once(tmp_path: Path) -> None:
    with SimServer(require_key="sk-the-right-one", **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=200, teacher={"concurrency": 4})
        r = distill("harvest", str(run.config))
        received = sim.ledger(entries=False)["counters"]["received"]
    assert r.returncode == 3
    assert "refused the key in $DISTILL_TEST_KEY" in r.stderr
    assert "Traceback" not in r.stderr
    assert received <= 4 + 4, "stopped after the first answers, not one request per item"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda d: (d / "in.jsonl").write_text('{"text": "ok"}\n{"text": broken}\n'),
            "in.jsonl:2: invalid JSON",
        ),
        (
            lambda d: (d / "in.jsonl").write_text('{"text": "ok"}\n{"id": 3}\n'),
            "in.jsonl:2: record has no field 'text'",
        ),
        (
            lambda d: (d / "c.yaml").write_text(
                (d / "c.yaml").read_text().replace("concurrency:", "concurency:")
            ),
            "teacher.concurency: unknown key",
        ),
        (
            lambda d: (d / "c.yaml").write_text(
                (d / "c.yaml").read_text().replace("template: t", "template: nope")
            ),
            "no template named 'nope'",
        ),
        (lambda d: (d / "in.jsonl").unlink(), "inputs file not found"),
    ],
)
def test_bad_input_sends_nothing(tmp_path: Path, sim: SimServer, mutate, expected: str) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=5)
    mutate(tmp_path)
    r = distill("harvest", str(run.config))
    assert r.returncode == 2
    assert expected in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sim.ledger(entries=False)["counters"]["received"] == 0


def test_unknown_price_is_an_error_before_sending(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(
        tmp_path, sim.openai_base_url, n=3, teacher={"price": None, "model": "my-local-model"}
    )
    r = distill("harvest", str(run.config))
    assert r.returncode == 2 and "no price known" in r.stderr
    assert sim.ledger(entries=False)["counters"]["received"] == 0


def test_dry_run_sends_nothing(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=12)
    r = distill("harvest", str(run.config), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "12 to send" in r.stdout and "worst case" in r.stdout
    assert sim.ledger(entries=False)["counters"]["received"] == 0


def test_harvest_imports_no_training_library(tmp_path: Path, sim: SimServer) -> None:
    """A whole `distill harvest` runs without torch, transformers, trl, peft or datasets."""
    run = make_run(tmp_path, sim.openai_base_url, n=5)
    code = (
        "import atexit, sys; "
        "atexit.register(lambda: print('HEAVY', [m for m in "
        "('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules])); "
        f"sys.argv = ['distill', 'harvest', {str(run.config)!r}]; "
        "from synth.cli import main; main()"
    )
    env = {**os.environ, "DISTILL_TEST_KEY": "sk-test-123456"}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout, r.stdout[-500:]
    assert sim.ledger(entries=False)["counters"]["received"] == 5


def test_key_is_written_nowhere(tmp_path: Path) -> None:
    key = "sk-secret-DO-NOT-LEAK-4242"
    with SimServer(
        require_key=key, fault_500=0.2, fault_429=0.1, fault_retry_after_s=0.01, **PRICES
    ) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=30)
        r = distill("harvest", str(run.config), env={"DISTILL_TEST_KEY": key})
        assert r.returncode == 0, r.stderr
        rep = distill("report", str(run.config), "--json", env={"DISTILL_TEST_KEY": key})
    assert key not in r.stdout + r.stderr + rep.stdout + rep.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "journal.sqlite" for p in files)
    for p in files:
        assert key.encode() not in p.read_bytes(), p


def test_anthropic_through_its_sdk(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(
        tmp_path,
        sim.anthropic_base_url,
        n=10,
        provider="anthropic",
        teacher={"params": {"max_tokens": 200}},
    )
    result = harvest(run.cfg())
    assert result.stats.done == 10
    ledger = sim.ledger()
    assert {e["api"] for e in ledger["entries"]} == {"anthropic"}
    with Journal(run.cfg().journal_path, readonly=True) as j:
        items = list(j.iter_items())
        assert j.totals()["cost_usd"] == sum(Decimal(e["cost_usd"]) for e in ledger["entries"])
    assert all(i.finish_reason == "stop" and i.response_text and i.request_id for i in items)


def test_truncation_and_refusal_are_recorded(tmp_path: Path) -> None:
    with SimServer(fault_truncate=0.3, fault_refusal=0.2, seed=3, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=40, teacher={"params": {"max_tokens": 200}})
        harvest(run.cfg())
    with Journal(run.cfg().journal_path, readonly=True) as j:
        items = list(j.iter_items())
    reasons = {i.finish_reason for i in items}
    assert {"length", "refusal", "stop"} <= reasons
    assert all(i.refusal for i in items if i.finish_reason == "refusal")


def test_400_fails_the_item_with_the_providers_message(tmp_path: Path, sim: SimServer) -> None:
    # max_tokens 0 is rejected by the API: every item fails with its message, exit 0
    run = make_run(tmp_path, sim.openai_base_url, n=3, teacher={"params": {"max_tokens": 0}})
    r = distill("harvest", str(run.config))
    assert r.returncode == 2 and "max_tokens: must be a positive integer" in r.stderr
    run = make_run(tmp_path, sim.openai_base_url, n=3, teacher={"params": {"temperature": 9}})
    result = harvest(run.cfg())
    with Journal(run.cfg().journal_path, readonly=True) as j:
        failed = list(j.iter_items("failed"))
    # the sim validates temperature (0..2) as the API does: each item fails with its message
    assert result.status == "finished" and result.stats.failed == 3 and len(failed) == 3
    assert all(i.last_error.startswith("400") and "temperature" in i.last_error for i in failed)
