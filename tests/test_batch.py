"""`teacher.mode: batch` over real loopback, through the official SDKs, both providers: every
item answered once and billed once at the batch price, report == ledger to the cent; a
SIGKILL after submission then a re-run submits nothing twice; per-item errors and an expired
batch completed by the next harvest; the budget holds with several batches."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from synth.errors import BudgetExceeded
from synth.harvest.engine import harvest
from synth.harvest.providers.base import ChatRequest
from synth.journal.batches import BatchJournal
from synth.journal.store import Journal, pending_migrations
from synth.sim.runner import SimServer
from tests.conftest import REPO, Run, distill, make_run

PRICES = {"price_input_per_mtok": 0.15, "price_output_per_mtok": 0.60}
PROVIDERS = ["openai", "anthropic"]


def batch_run(tmp: Path, sim: SimServer, provider: str, n: int = 20, **teacher: Any) -> Run:
    base = sim.openai_base_url if provider == "openai" else sim.anthropic_base_url
    return make_run(
        tmp,
        base,
        n=n,
        provider=provider,
        teacher={"mode": "batch", "batch_size": 7, "batch_poll_s": 0.02, **teacher},
    )


def batch_ids(run: Run) -> list[str]:
    with Journal(run.cfg().journal_path, readonly=True) as j:
        return [r[0] for r in j.db.execute("SELECT id FROM batches ORDER BY created_at")]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_item_answered_once_at_the_batch_price(tmp_path: Path, provider: str) -> None:
    with SimServer(**PRICES) as sim:
        run = batch_run(tmp_path, sim, provider)
        r = distill("harvest", str(run.config))
        assert r.returncode == 0, r.stderr
        ledger = sim.ledger()
    entries = ledger["entries"]
    assert len(entries) == 20 and all(e["batch"] for e in entries)
    assert len({e["body_hash"] for e in entries}) == 20, "every item billed once"
    assert len(batch_ids(run)) == 3  # 20 items, 7 a batch
    report = json.loads(distill("report", str(run.config), "--json").stdout)
    assert report["succeeded"] == 20
    assert Decimal(report["cost_usd_exact"]) == Decimal(ledger["totals"]["cost_usd"])
    # the batch price is half the online one: what batch saved equals what was paid
    assert report["cost_by_mode"]["batch_usd"] == pytest.approx(report["cost_usd"])
    assert report["batch_saved_usd"] == pytest.approx(report["cost_usd"], abs=1e-9)
    assert "batch saved" in distill("report", str(run.config)).stdout


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sigkill_after_submission_then_rerun_submits_nothing_twice(
    tmp_path: Path, provider: str
) -> None:
    with SimServer(batch_delay_s=3, **PRICES) as sim:
        run = batch_run(tmp_path, sim, provider)
        env = {"DISTILL_TEST_KEY": "sk-test-123456"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "synth.cli", "harvest", str(run.config)],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            path = run.cfg().journal_path
            try:
                # read only once the harvest has created the schema (a reader never migrates)
                if path.exists() and not pending_migrations(path) and len(batch_ids(run)) == 3:
                    break
            except sqlite3.Error:  # the harvest is still creating the journal
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        submitted = batch_ids(run)
        assert len(submitted) == 3 and not sim.ledger()["entries"]
        r = distill("harvest", str(run.config))
        assert r.returncode == 0, r.stderr
        ledger = sim.ledger()
    assert batch_ids(run) == submitted, "the re-run polled the batches it had"
    assert len(ledger["entries"]) == 20
    assert len({e["body_hash"] for e in ledger["entries"]}) == 20
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.count("done") == 20
        assert j.totals()["cost_usd"] == Decimal(ledger["totals"]["cost_usd"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_item_errors_and_an_expired_batch_are_completed_by_the_next_harvest(
    tmp_path: Path, provider: str
) -> None:
    with SimServer(batch_item_error_rate=0.25, batch_expire_first=1, seed=3, **PRICES) as sim:
        run = batch_run(tmp_path, sim, provider)
        first = harvest(run.cfg())
        assert first.status == "pending"  # the expired batch and the errored items came back
        with Journal(run.cfg().journal_path, readonly=True) as j:
            assert j.count("pending") >= 7 and j.count("failed") == 0
            reasons = [i.last_error or "" for i in j.iter_items("pending")]
            assert sum("expired" in r for r in reasons) == 7  # the first batch, whole
        for _ in range(8):
            if harvest(run.cfg()).status == "finished":
                break
        ledger = sim.ledger()
    assert len(ledger["entries"]) == 20, "every item billed exactly once"
    assert len({e["body_hash"] for e in ledger["entries"]}) == 20
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.count("done") == 20
        assert j.totals()["cost_usd"] == Decimal(ledger["totals"]["cost_usd"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_budget_holds_with_several_batches(tmp_path: Path, provider: str) -> None:
    with SimServer(**PRICES) as sim:
        run = batch_run(tmp_path, sim, provider, n=60, batch_size=5)
        # about a third of the items' worst case at the batch price
        budget = Decimal("0.00012")
        cfg = run.cfg()
        cfg.budget_usd = budget
        with pytest.raises(BudgetExceeded):
            harvest(cfg)
        ledger = sim.ledger()
    assert Decimal(ledger["totals"]["cost_usd"]) <= budget
    assert 5 < len(ledger["entries"]) < 60
    assert len(batch_ids(run)) >= 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_wait_submits_and_a_later_harvest_collects(tmp_path: Path, provider: str) -> None:
    with SimServer(**PRICES) as sim:
        run = batch_run(tmp_path, sim, provider)
        r = distill("harvest", str(run.config), "--no-wait")
        assert r.returncode == 0, r.stderr
        assert "submitted" in r.stdout and "3 submitted" in r.stdout
        assert not sim.ledger()["entries"]
        with Journal(run.cfg().journal_path, readonly=True) as j:
            assert j.count("batched") == 20
            assert len(BatchJournal(j).open()) == 3
        r = distill("harvest", str(run.config))
        assert r.returncode == 0, r.stderr
        assert len(sim.ledger()["entries"]) == 20
    assert len(batch_ids(run)) == 3


def test_a_server_without_a_batch_api_is_one_line(tmp_path: Path) -> None:
    from synth.sim.runner import SimServer as Sim

    with Sim(**PRICES) as sim:
        # an OpenAI-compatible server whose /v1 has no Files API: the base_url path is wrong
        run = make_run(
            tmp_path,
            sim.openai_base_url.replace("/v1", "/other/v1"),
            n=3,
            teacher={"mode": "batch", "batch_poll_s": 0.02},
        )
        r = distill("harvest", str(run.config))
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr and "batch API" in r.stderr
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.count("pending") == 3  # nothing lost


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("reached", [True, False])
def test_a_crash_between_submission_and_its_journal_entry_sends_nothing_twice(
    tmp_path: Path, provider: str, reached: bool
) -> None:
    """The window a SIGKILL can hardly hit: the batch is journaled (`intend`) and the process
    dies before the provider's answer is recorded. The next harvest finds the batch the
    provider has (or learns it never arrived) instead of sending its items again."""
    import asyncio

    from synth.harvest.batch import batch_client
    from synth.harvest.engine import iter_items, plan
    from synth.harvest.providers import make_provider
    from synth.journal.store import PLAN_REPLACE

    with SimServer(**PRICES) as sim:
        run = batch_run(tmp_path, sim, provider, n=6)
        cfg = run.cfg()
        p = plan(cfg)

        async def crash_after_submitting() -> None:
            provider_ = make_provider(cfg.teacher)
            client = batch_client(provider_)
            with Journal(cfg.journal_path) as j:
                j.add_items(iter_items(p), plan=PLAN_REPLACE)
                pending = list(j.iter_pending())
                keys = [k for k, _ in pending]
                BatchJournal(j).intend("distill-crash", provider, keys, Decimal("0.01"), 0)
                if reached:
                    lines = [client.line(k, ChatRequest(**r)) for k, r in pending]
                    await client.submit(lines, "distill-crash")
            await provider_.aclose()  # ... and the process dies before `confirm`

        asyncio.run(crash_after_submitting())
        result = harvest(cfg)
        ledger = sim.ledger()
    assert result.status == "finished"
    assert len(ledger["entries"]) == 6 and len({e["body_hash"] for e in ledger["entries"]}) == 6
    with Journal(cfg.journal_path, readonly=True) as j:
        assert j.count("done") == 6
        states = [r[0] for r in j.db.execute("SELECT state FROM batches ORDER BY created_at")]
    assert states == (["collected"] if reached else ["never_sent", "collected"])
