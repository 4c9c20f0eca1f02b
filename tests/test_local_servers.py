"""Local teachers, over real loopback against the simulated teacher imitating each server:
vLLM (503 when its queue is full), llama.cpp's server (503 "Loading model" while it loads),
Ollama (503 "server busy"). None of them sends rate-limit headers; the harvest retries their
503s with backoff and lowers its concurrency. Also the prices of a self-hosted teacher
(`per_hour`, `free`) and token log-probabilities, end to end.

The retry policy's first backoff (synth.harvest.retry.INITIAL_BACKOFF_S, 1 s) is patched down to
BACKOFF_S so that each test takes a few seconds; the limiter's policy is the real one.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import synth.harvest.engine
import synth.harvest.retry
from synth.harvest.engine import harvest
from synth.harvest.limits import Limiter
from synth.journal.store import Journal
from synth.sim.runner import SimServer
from tests.conftest import distill, make_run

PRICES = {"price_input_per_mtok": 0.15, "price_output_per_mtok": 0.60}
BACKOFF_S = 0.1
CONCURRENCY = 8

# (imitation, its knob, what its 503 says)
SERVERS = [
    ("vllm", {"max_queue": 2}, "Scheduler waiting queue is full"),
    ("llamacpp", {"loading_s": 1.0}, "Loading model"),
    ("ollama", {"max_parallel": 2}, "server busy"),
]


class SpyLimiter(Limiter):
    """The engine's limiter, recording its concurrency ceiling after each overload answer."""

    ceilings: list[int] = []

    def on_overloaded(self) -> None:
        super().on_overloaded()
        SpyLimiter.ceilings.append(self.concurrency)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth.harvest.retry, "INITIAL_BACKOFF_S", BACKOFF_S)
    monkeypatch.setattr(synth.harvest.retry, "MAX_BACKOFF_S", 1.0)


@pytest.fixture
def spy_limiter(monkeypatch: pytest.MonkeyPatch) -> type[SpyLimiter]:
    SpyLimiter.ceilings = []
    monkeypatch.setattr(synth.harvest.engine, "Limiter", SpyLimiter)
    return SpyLimiter


def _attempts_by_key(journal_path: Path) -> dict[str, list[dict[str, Any]]]:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with Journal(journal_path, readonly=True) as j:
        for a in j.iter_attempts():
            by_key[a["key"]].append(a)
    return by_key


@pytest.mark.parametrize("kind, knobs, says", SERVERS, ids=[s[0] for s in SERVERS])
def test_local_server_503s_are_retried_with_backoff_and_concurrency_drops(
    tmp_path: Path,
    fast_backoff: None,
    spy_limiter: type[SpyLimiter],
    kind: str,
    knobs: dict[str, Any],
    says: str,
) -> None:
    n = 40
    with SimServer(imitate=kind, latency_ms=(20, 40), seed=1, **knobs, **PRICES) as sim:
        run = make_run(tmp_path, sim.openai_base_url, n=n, teacher={"concurrency": CONCURRENCY})
        cfg = run.cfg()
        if kind == "llamacpp":
            assert sim.app is not None
            sim.app.imitation.started = time.monotonic()  # the model starts loading now
            loading_from = time.time()
            # what a local server sends while it cannot take a request: a 503, and no
            # rate-limit header or retry-after to go by
            probe = httpx.post(
                f"{sim.openai_base_url}/chat/completions",
                json={"model": "sim-teacher", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert probe.status_code == 503 and says in probe.text
            assert not [h for h in probe.headers if "ratelimit" in h or h.startswith("retry-after")]
        result = harvest(cfg)
        ledger = sim.ledger()

    # every item answered, each billed once
    assert result.status == "finished"
    assert result.stats.done == n and result.stats.failed == 0
    assert len(ledger["entries"]) == n and len({e["body_hash"] for e in ledger["entries"]}) == n
    counters = ledger["counters"]
    probes = 1 if kind == "llamacpp" else 0
    refused = counters["faults"].get(f"{kind}_503", 0) - probes  # the harvest's requests
    assert refused >= 3, "the server really refused requests"
    assert counters["by_status"] == {"200": n, "503": refused + probes}

    # the 503s were retried: journaled as retries with their status and the server's words
    by_key = _attempts_by_key(cfg.journal_path)
    retries = [a for atts in by_key.values() for a in atts if a["outcome"] != "ok"]
    assert len(retries) == refused
    assert {(a["outcome"], a["status"]) for a in retries} == {("retry", 503)}
    assert all(says in a["error"] for a in retries)
    # ... without any rate-limit header to go by, and nothing counted as rate limited
    assert counters["rate_limited"] == 0 and result.stats.rate_limited == 0
    with Journal(cfg.journal_path, readonly=True) as j:
        totals = j.totals()
    assert totals["retries"] == refused and totals["rate_limited"] == 0

    # ... with exponential backoff: an item's k-th retry came at least the k-th backoff (less
    # its jitter) after the answer before it
    gaps_checked = 0
    for atts in by_key.values():
        atts.sort(key=lambda a: a["ended_at"])
        for k, (before, after) in enumerate(zip(atts, atts[1:], strict=False)):
            backoff = min(BACKOFF_S * 2**k, synth.harvest.retry.MAX_BACKOFF_S)
            assert before["status"] == 503
            assert after["ended_at"] - before["ended_at"] >= backoff * (
                1 - synth.harvest.retry.JITTER
            )
            gaps_checked += 1
    assert gaps_checked == refused

    # the lane lowered its concurrency on the streak of 503s
    assert spy_limiter.ceilings and min(spy_limiter.ceilings) < CONCURRENCY

    if kind == "llamacpp":  # refused while loading, never after
        loaded_at = loading_from + knobs["loading_s"]
        assert all(a["ended_at"] <= loaded_at + 0.5 for a in retries)
    else:  # refused beyond its queue: it never served more at once
        assert counters["max_in_flight"] <= max(knobs.values())


def _report(config: Path) -> dict[str, Any]:
    r = distill("report", str(config), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_per_hour_price_costs_wall_time_beside_per_token_prices(tmp_path: Path) -> None:
    per_hour = Decimal(36)  # USD, a cent a second: big enough to see
    with SimServer(latency_ms=(20, 40), **PRICES) as sim:
        run = make_run(
            tmp_path,
            sim.openai_base_url,
            n=30,
            teacher={
                "model": "my-local-model",
                "concurrency": 2,
                "price": {
                    "per_hour": str(per_hour),
                    "input_per_mtok": 0.15,
                    "output_per_mtok": 0.60,
                },
            },
        )
        r = distill("harvest", str(run.config))
        token_bill = Decimal(sim.ledger(entries=False)["totals"]["cost_usd"])
    assert r.returncode == 0, r.stderr
    report = _report(run.config)
    assert report["succeeded"] == 30
    with Journal(run.cfg().journal_path, readonly=True) as j:
        totals = j.totals()
        (only_run,) = j.runs()
    wall = only_run["ended_at"] - only_run["started_at"]
    assert wall > 0.3  # 30 answers of 20-40 ms, 2 at a time
    assert totals["token_cost_usd"] == token_bill
    assert totals["hourly_cost_usd"] == pytest.approx(
        Decimal(str(wall)) * per_hour / 3600, abs=Decimal("1e-8")
    )
    assert Decimal(report["cost_usd_exact"]) == token_bill + totals["hourly_cost_usd"]
    assert report["cost_usd"] == pytest.approx(
        float(token_bill) + report["harvest_wall_s"] * 0.01, abs=1e-5
    )
    teacher = report["cost_comparison"]["teacher"]
    assert teacher["pricing"] == "per_hour"
    assert teacher["token_usd"] == pytest.approx(float(token_bill), abs=1e-9)
    assert teacher["hourly_usd"] == pytest.approx(float(totals["hourly_cost_usd"]), abs=1e-9)


def test_per_hour_budget_stops_the_run_and_resumes(tmp_path: Path) -> None:
    from synth.config import load_config
    from synth.harvest.cost_report import cost_report

    with SimServer(latency_ms=(30, 50), **PRICES) as sim:
        # $1 a second: the budget lasts 0.3 s of a run that needs about 1.5 s
        run = make_run(
            tmp_path,
            sim.openai_base_url,
            n=120,
            budget_usd=0.3,
            teacher={"model": "my-local-model", "concurrency": 4, "price": {"per_hour": 3600}},
        )
        r = distill("harvest", str(run.config))
        assert r.returncode == 4, r.stderr
        assert "budget_usd 0.3" in r.stderr and "raise budget_usd" in r.stderr
        assert "Traceback" not in r.stderr
        sent = len(sim.ledger()["entries"])
        assert 0 < sent < 120
        report = _report(run.config)
        # charged as time passes: stopped at the first charge past the budget, and the
        # requests then in flight finished
        assert 0.3 <= report["cost_usd"] <= 0.3 + 1.0
        assert report["cost_usd"] == pytest.approx(report["harvest_wall_s"], abs=1e-3)
        assert report["pending"] == 120 - sent and report["succeeded"] == sent

        resumed = harvest(load_config(run.config, {"budget_usd": 100}))
        assert resumed.status == "finished" and resumed.stats.done == 120 - sent
        assert len(sim.ledger()["entries"]) == 120
    report = cost_report(run.cfg())
    assert report["succeeded"] == 120 and report["harvest_runs"] == 2
    assert report["cost_usd"] == pytest.approx(report["harvest_wall_s"], abs=2e-3)


def test_free_endpoint_costs_nothing_and_needs_no_price(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(
        tmp_path,
        sim.openai_base_url,
        n=10,
        teacher={"model": "my-local-model", "price": {"free": True}},
    )
    r = distill("harvest", str(run.config))
    assert r.returncode == 0, r.stderr
    report = _report(run.config)
    assert report["succeeded"] == 10 and report["cost_usd"] == 0
    assert report["input_tokens"] == sim.ledger(entries=False)["totals"]["input_tokens"] > 0
    assert report["per_model"][0]["model"] == "my-local-model"
    assert report["cost_comparison"]["teacher"]["pricing"] == "free"
    dry = distill("harvest", str(run.config), "--dry-run")
    assert dry.returncode == 0 and "Traceback" not in dry.stderr


def _ticket_records(n: int) -> list[dict[str, Any]]:
    topics = [
        "I was charged twice for order {i}",
        "my package {i} never arrived",
        "please refund order {i}, it was broken",
        "I cannot log in to my account since {i}",
        "the app crashes when I open screen {i}",
    ]
    return [{"id": i, "text": topics[i % len(topics)].format(i=1000 + 37 * i)} for i in range(n)]


def test_logprobs_from_the_teacher_to_the_dataset(tmp_path: Path) -> None:
    from datasets import load_from_disk

    from synth.dataset.builder import build
    from synth.sim.answers.tickets import belief, ticket_text
    from synth.sim.openai_api import logprobs_content

    k = 3
    with SimServer(answers="tickets", **PRICES) as sim:
        run = make_run(
            tmp_path,
            sim.openai_base_url,
            records=_ticket_records(25),
            teacher={"logprobs": k, "params": {"temperature": 0, "max_tokens": 16}},
            dataset={"validation": 0.2, "test": 0.2},
        )
        result = harvest(run.cfg())
    assert result.stats.done == 25
    with Journal(run.cfg().journal_path, readonly=True) as j:
        items = {i.key: i for i in j.iter_items("done")}
    for it in items.values():
        assert it.request["logprobs"] == k  # part of what is asked, so part of the item's key
        assert it.logprobs is not None and it.response_text
        # one entry per answer token, the sim's top-K exactly
        assert "".join(t["token"] for t in it.logprobs) == it.response_text
        # the answer token's top-K is the teacher's belief over the labels, the rest fixed
        user = [m for m in it.request["messages"] if m["role"] == "user"][-1]["content"]
        expected = logprobs_content(it.response_text, k, belief(ticket_text(user)))
        assert expected[0]["top_logprobs"][0]["token"].strip().lower() in belief(user)
        assert [t["token"] for t in it.logprobs] == [e["token"] for e in expected]
        for got, want in zip(it.logprobs, expected, strict=True):
            assert got["logprob"] == pytest.approx(want["logprob"])
            assert got["top"] == pytest.approx(
                {a["token"]: a["logprob"] for a in want["top_logprobs"]}
            )
            assert len(got["top"]) == k

    built = build(run.cfg())
    splits = load_from_disk(str(built.dataset_dir))
    rows = [row for split in splits.values() for row in split]
    assert len(rows) >= 10
    for row in rows:
        assert json.loads(row["logprobs"]) == items[row["key"]].logprobs
        # the teacher's belief over the labels, read back from its top-K by the build
        dist = json.loads(row["teacher_dist"])
        assert sum(dist.values()) == pytest.approx(1.0)
        assert max(dist, key=dist.__getitem__) == row["label"]


def test_anthropic_with_logprobs_is_a_one_line_error(tmp_path: Path, sim: SimServer) -> None:
    run = make_run(
        tmp_path,
        sim.anthropic_base_url,
        n=3,
        provider="anthropic",
        teacher={"logprobs": 5, "params": {"max_tokens": 32}},
    )
    r = distill("harvest", str(run.config))
    assert r.returncode == 2
    assert "teacher.logprobs" in r.stderr and "Anthropic" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sim.ledger(entries=False)["counters"]["received"] == 0
