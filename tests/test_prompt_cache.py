"""Prompt caching over real loopback, through the official SDKs: Anthropic's `cache_control`
on the shared prefix (billed as one cache write, then reads), OpenAI's automatic prefix cache
(few-shot examples included), priced by genai-prices and equal to the sim's ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import data_snapshot

from synth.config import load_config
from synth.errors import TemplateError
from synth.harvest.engine import harvest, plan
from synth.harvest.estimate import mode_estimates
from synth.journal.store import Journal
from synth.sim.runner import SimServer
from synth.templates import load_template
from tests.conftest import CLASSIFY_TEMPLATE, Run, distill, make_run

MODEL = "claude-sonnet-4-5"  # caches prompts from 1,024 tokens (Haiku 4.5: 4,096)
# a 1,300-word shared instruction block, like a real triage policy
POLICY = " ".join(
    f"Rule {i}: when a ticket mentions topic {i}, weigh the customer's words carefully, "
    "quote the order number if there is one, and keep the category list in mind."
    for i in range(60)
)


def table_prices(provider: str, model: str) -> dict[str, Decimal]:
    """The sim bills what the provider would: the table's own prices, never typed here."""
    snapshot = data_snapshot.get_snapshot()
    info = data_snapshot.find_provider_by_id(snapshot.providers, provider).find_model(model)
    p = info.get_prices(datetime.now(tz=UTC))
    base = {k: getattr(v, "base", v) for k, v in p.__dict__.items()}
    return {
        "price_input_per_mtok": base["input_mtok"],
        "price_output_per_mtok": base["output_mtok"],
        "price_cached_input_per_mtok": base["cache_read_mtok"],
        "price_cache_write_per_mtok": base.get("cache_write_mtok") or base["input_mtok"],
        "price_cache_write_1h_per_mtok": base.get("cache_write_1h_mtok") or base["input_mtok"],
    }


def cached_run(tmp: Path, base_url: str, **teacher: object) -> Run:
    """An Anthropic run with a long shared system prompt, priced from the table."""
    template = {**CLASSIFY_TEMPLATE, "system": POLICY + "\nAnswer with one category."}
    run = make_run(
        tmp,
        base_url,
        n=30,
        provider="anthropic",
        template=template,
        teacher={"model": MODEL, "price": None, "concurrency": 4, **teacher},
    )
    # make_run gives a price override: drop it, so that genai-prices prices the run
    run.config.write_text(run.config.read_text().replace("  price: null\n", ""))
    return run


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_an_anthropic_harvest_writes_the_prefix_once_then_reads_it(
    tmp_path: Path, ttl: str
) -> None:
    with SimServer(cache_min_tokens=1024, **table_prices("anthropic", MODEL)) as sim:
        run = cached_run(tmp_path, sim.anthropic_base_url, prompt_cache_ttl=ttl)
        r = distill("harvest", str(run.config))
        assert r.returncode == 0, r.stderr
        ledger = sim.ledger()
    entries = ledger["entries"]
    assert len(entries) == 30
    writes = [e for e in entries if e["cache_write_tokens"]]
    assert len(writes) == 1, "the shared prefix is written once"
    prefix = writes[0]["cache_write_tokens"]
    assert prefix > 1024
    assert writes[0]["cache_write_1h_tokens"] == (prefix if ttl == "1h" else 0)
    assert all(e["cached_input_tokens"] == prefix for e in entries if e is not writes[0])

    report = json.loads(distill("report", str(run.config), "--json").stdout)
    totals = ledger["totals"]
    assert Decimal(report["cost_usd_exact"]) == Decimal(totals["cost_usd"])  # to the last digit
    assert report["cached_input_tokens"] == totals["cached_input_tokens"] == 29 * prefix
    assert report["cache_write_tokens"] == prefix
    # what caching saved: the same tokens at the plain input price, less the bill
    prices = table_prices("anthropic", MODEL)
    uncached = sum(
        (
            e["input_tokens"] * prices["price_input_per_mtok"]
            + e["output_tokens"] * prices["price_output_per_mtok"]
        )
        / 1_000_000
        for e in entries
    )
    saved = Decimal(str(report["caching_saved_usd"]))
    assert abs(saved - (uncached - Decimal(totals["cost_usd"]))) < Decimal("0.000000002")
    assert saved > 0
    table = distill("report", str(run.config)).stdout
    assert "caching saved" in table


def test_prompt_cache_off_sends_no_cache_control(tmp_path: Path) -> None:
    with SimServer(cache_min_tokens=1024, **table_prices("anthropic", MODEL)) as sim:
        run = cached_run(tmp_path, sim.anthropic_base_url, prompt_cache="off")
        result = harvest(run.cfg())
        totals = sim.ledger(entries=False)["totals"]
    assert result.stats.done == 30
    assert totals["cache_write_tokens"] == totals["cached_input_tokens"] == 0
    with Journal(run.cfg().journal_path, readonly=True) as j:
        assert j.totals()["cost_usd"] == Decimal(totals["cost_usd"])


def test_a_short_prefix_is_not_marked_and_not_budgeted_as_a_write(tmp_path: Path) -> None:
    with SimServer(cache_min_tokens=1, **table_prices("anthropic", MODEL)) as sim:
        run = make_run(tmp_path, sim.anthropic_base_url, n=5, provider="anthropic")
        harvest(run.cfg())  # a one-line system prompt: far below the model's minimum
        totals = sim.ledger(entries=False)["totals"]
    assert totals["cache_write_tokens"] == totals["cached_input_tokens"] == 0


def test_the_worst_case_reserves_cache_writes_when_caching_is_on(tmp_path: Path) -> None:
    cfg = load_config(cached_run(tmp_path, "http://127.0.0.1:9/v1").config)
    on = plan(cfg).price
    cfg.teacher.prompt_cache = "off"
    off = plan(cfg).price
    assert on.cache_writes == "5m" and off.cache_writes is None
    assert on.worst_case(10_000, 100) > off.worst_case(10_000, 100)


def test_openai_few_shot_examples_are_a_cached_prefix(tmp_path: Path) -> None:
    examples = [
        {"user": f"Ticket: example {i}. {POLICY[:400]}", "assistant": "billing"} for i in range(4)
    ]
    template = {**CLASSIFY_TEMPLATE, "examples": examples}
    with SimServer(cache_min_tokens=256, price_input_per_mtok=0.15, price_output_per_mtok=0.6,
                   price_cached_input_per_mtok=0.075) as sim:  # fmt: skip
        run = make_run(
            tmp_path,
            sim.openai_base_url,
            n=12,
            template=template,
            teacher={"price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6,
                               "cached_input_per_mtok": 0.075}},
        )  # fmt: skip
        result = harvest(run.cfg())
        ledger = sim.ledger()
    assert result.stats.done == 12
    cached = [e["cached_input_tokens"] for e in ledger["entries"]]
    assert sorted(cached)[0] == 0 and len(set(cached[1:])) == 1 and cached[-1] > 256
    with Journal(run.cfg().journal_path, readonly=True) as j:
        items = list(j.iter_items())
        totals = j.totals()
    assert totals["cost_usd"] == Decimal(ledger["totals"]["cost_usd"])
    assert totals["cached_input_tokens"] == ledger["totals"]["cached_input_tokens"]
    # the examples are turns before the input: system, 4 x (user, assistant), the ticket
    roles = [m["role"] for m in items[0].messages]
    assert roles == ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert items[0].messages[-1]["content"].startswith("Ticket: ticket")


def test_a_template_example_without_its_answer_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "x.yaml").write_text(
        "user: '{{ text }}'\nexamples:\n  - {user: 'Ticket: refund please'}\n"
    )
    with pytest.raises(TemplateError, match="examples"):
        load_template("x", tmp_path)


def test_the_dry_run_compares_online_cached_and_batch(tmp_path: Path) -> None:
    run = cached_run(tmp_path, "http://127.0.0.1:9")
    rows = {r.mode: r for r in mode_estimates(load_config(run.config))}
    online, cached, batch = rows["online"], rows["online + cache"], rows["batch"]
    assert cached.est_usd < online.est_usd / 2  # 29 of 30 requests read the long prefix
    assert batch.est_usd == online.est_usd / 2  # the table's batch price: half
    assert cached.worst_usd > online.worst_usd  # a request may write the cache
    r = distill("harvest", str(run.config), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "online + cache (this config)" in r.stdout and "batch" in r.stdout
