"""A bad wire is a clear failure: 200s that are no answer, usage the budget cannot believe,
endpoints that fail every request alike, a missing key, and keys echoed back in error bodies.
All over real loopback against the simulated teacher, checked against its ledger."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from synth.journal.store import Journal
from synth.sim.runner import SimServer
from synth.sim.wire_faults import masked
from tests.conftest import distill, make_run

PRICES = {"price_input_per_mtok": 0.15, "price_output_per_mtok": 0.60}


def report_json(run_config: Path, env: dict[str, str] | None = None) -> dict:
    r = distill("report", str(run_config), "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_garbage_200s_end_every_item_with_no_hang(tmp_path: Path) -> None:
    garbage = dict(fault_html_200=0.1, fault_truncated_200=0.1, fault_no_choices_200=0.1)
    with SimServer(seed=5, **garbage, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=60, teacher={"concurrency": 4})
        r = distill("harvest", str(run.config), timeout=90)
        ledger = sim.ledger(entries=False)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    faults = ledger["counters"]["faults"]
    assert faults.get("html_200", 0) and faults.get("truncated_200", 0)
    assert faults.get("no_choices_200", 0)
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.count("done") + j.count("failed") == 60, "every item ended"
        errors = [a["error"] for a in j.iter_attempts() if a["outcome"] == "retry"]
    assert any("an HTML page from http://127.0.0.1" in e for e in errors), errors[:3]
    assert any("truncated or invalid JSON" in e for e in errors)
    assert any("without `choices`" in e for e in errors)
    data = report_json(run.config)
    # the mangled answers were billed by the teacher: the journal counts them as possibly billed
    bill = Decimal(ledger["totals"]["cost_usd"])
    assert Decimal(data["possibly_billed_usd_exact"]) > 0
    assert bill <= Decimal(data["cost_usd_exact"]) + Decimal(data["possibly_billed_usd_exact"])


def test_one_item_and_only_html_is_one_line_and_exit_5(tmp_path: Path) -> None:
    with SimServer(fault_html_200=1.0, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=1)
        r = distill("harvest", str(run.config), timeout=60)
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr
    assert "HTML page" in r.stderr and "base_url" in r.stderr
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.count("pending") == 1, "the item waits for a fixed endpoint"


def test_missing_usage_cannot_fool_the_budget(tmp_path: Path) -> None:
    with SimServer(fault_usage=1.0, usage_fault="missing", **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=40, budget_usd=0.0003)
        r = distill("harvest", str(run.config))
        bill = Decimal(sim.ledger(entries=False)["totals"]["cost_usd"])
    assert r.returncode == 4, r.stderr
    assert bill <= Decimal("0.0003")
    data = report_json(run.config)
    assert data["usage_flagged"] == data["succeeded"] > 0
    assert data["cost_usd"] > 0, "an answer without usage is priced, at its worst case"


@pytest.mark.parametrize("kind", ["negative", "huge"])
def test_absurd_usage_is_priced_at_the_worst_case(tmp_path: Path, kind: str) -> None:
    with SimServer(fault_usage=1.0, usage_fault=kind, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=5)
        r = distill("harvest", str(run.config))
        bill = Decimal(sim.ledger(entries=False)["totals"]["cost_usd"])
    assert r.returncode == 0, r.stderr
    assert "usage missing or impossible" in r.stderr
    data = report_json(run.config)
    assert data["usage_flagged"] == 5
    cost = Decimal(data["cost_usd_exact"])
    assert bill <= cost < Decimal("0.01"), "the worst case, neither negative nor $1,500"
    assert 0 <= data["output_tokens"] <= 5 * 16


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_stops_early_with_the_reason(tmp_path: Path) -> None:
    run = make_run(tmp_path, f"http://127.0.0.1:{_closed_port()}/v1", n=40)
    r = distill("harvest", str(run.config), timeout=60)
    assert r.returncode == 5, r.stderr
    assert "connection refused" in r.stderr and "Traceback" not in r.stderr


def test_404_on_every_request_stops_early_and_a_fixed_url_resumes(tmp_path: Path) -> None:
    with SimServer(**PRICES) as sim:
        wrong = sim.openai_base_url.removesuffix("/v1")
        run = make_run(tmp_path, wrong, n=40, teacher={"concurrency": 4})
        r = distill("harvest", str(run.config), timeout=60)
        assert r.returncode == 5, r.stderr
        assert "404" in r.stderr and "/v1" in r.stderr
        received = sim.ledger(entries=False)["counters"]["received"]
        assert received < 40, "stopped after the first requests"
        cfg = yaml.safe_load(run.config.read_text())
        cfg["teacher"]["base_url"] = sim.openai_base_url
        run.config.write_text(yaml.safe_dump(cfg))
        r2 = distill("harvest", str(run.config))
        assert r2.returncode == 0, r2.stderr
        assert "40/40 answered" in r2.stdout


def test_failed_items_grouped_by_reason_and_the_rerun_says_how_to_retry(tmp_path: Path) -> None:
    with SimServer(seed=2, fault_500_no_retry=0.3, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=40)
        r = distill("harvest", str(run.config))
        assert r.returncode == 0, r.stderr
        data = report_json(run.config)
        assert data["failed"] > 0
        groups = data["failures"]
        assert sum(g["items"] for g in groups) == data["failed"]
        assert "Do not retry" in groups[0]["reason"]
        table = distill("report", str(run.config))
        assert "failed items by reason" in table.stdout and "--retry-failed" in table.stdout
        rerun = distill("harvest", str(run.config))
        assert rerun.returncode == 0
        assert f"{data['failed']} items failed in an earlier run" in rerun.stderr
        assert "--retry-failed" in rerun.stderr


def test_missing_key_is_an_error_before_sending(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=5, teacher={"api_key_env": "UNSET_KEY_VAR"})
    r = distill("harvest", str(run.config))
    assert r.returncode == 3, r.stderr
    assert "no API key in $UNSET_KEY_VAR" in r.stderr and "api_key_env: null" in r.stderr
    assert sim.ledger(entries=False)["counters"]["received"] == 0


@pytest.mark.parametrize(
    "teacher", [{"api_key_env": None}, {"price": {"free": True}, "api_key_env": "UNSET_KEY_VAR"}]
)
def test_a_keyless_endpoint_is_declared(tmp_path: Path, sim: SimServer, teacher: dict) -> None:
    run = make_run(tmp_path, sim.openai_base_url, n=5, teacher=teacher)
    r = distill("harvest", str(run.config))
    assert r.returncode == 0, r.stderr
    assert sim.ledger(entries=False)["totals"]["requests"] == 5


KEY = "prov-Zx81kQ3mVbN5tR7yW2pLq9w"


def _leaks(text: str) -> list[str]:
    return [form for form in (KEY, masked(KEY), KEY[-12:]) if form in text]


@pytest.mark.parametrize("how", ["full", "masked"])
def test_a_401_echoing_the_key_leaves_it_nowhere(tmp_path: Path, how: str) -> None:
    with SimServer(require_key="the-right-key-000000", echo_key=how, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=10, teacher={"concurrency": 2})
        env = {"DISTILL_TEST_KEY": KEY}
        r = distill("harvest", str(run.config), env=env)
        rep = distill("report", str(run.config), "--json", env=env)
    assert r.returncode == 3, r.stderr
    assert "Incorrect API key provided: <key>" in r.stderr
    assert not _leaks(r.stdout + r.stderr + rep.stdout + rep.stderr)
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert not _leaks(p.read_bytes().decode("utf-8", "replace")), p


def test_server_errors_echoing_the_key_leave_it_nowhere(tmp_path: Path) -> None:
    with SimServer(
        require_key=KEY, echo_key="masked", fault_500=0.3, fault_500_no_retry=0.2, **PRICES
    ) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=30)
        env = {"DISTILL_TEST_KEY": KEY}
        r = distill("harvest", str(run.config), env=env)
        rep = distill("report", str(run.config), env=env)
        html = distill("report", str(run.config), "--html", str(tmp_path / "r.html"), env=env)
    assert r.returncode == 0, r.stderr
    with Journal(run.cfg().journal_path, readonly=True) as j:
        errors = [a["error"] for a in j.iter_attempts() if a["error"]]
    assert any("Bearer <key>" in e for e in errors), errors[:2]
    assert not _leaks(r.stdout + r.stderr + rep.stdout + rep.stderr + html.stderr)
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert not _leaks(p.read_bytes().decode("utf-8", "replace")), p
