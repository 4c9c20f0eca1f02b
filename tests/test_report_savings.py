"""What the batch API and the prompt cache saved, on every page of the report: a real batch
harvest with a cached few-shot prefix over loopback (the simulated teacher, the official SDK),
its savings checked against what the sim's ledger says the same tokens cost online, uncached."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from evals.report import write_report
from synth.harvest.engine import harvest
from synth.sim.runner import SimServer
from tests.conftest import CLASSIFY_TEMPLATE, distill, make_run
from tests.test_report_html import CHROMIUM, DevTools, _open, _problems

PRICE = {"input_per_mtok": 0.15, "output_per_mtok": 0.6, "cached_input_per_mtok": 0.075}
SHARED = " ".join(f"Rule {i}: weigh the customer's words and quote the order." for i in range(40))


def test_batch_and_caching_savings_in_html_markdown_terminal_and_json(tmp_path: Path) -> None:
    examples = [
        {"user": f"Ticket: example {i}. {SHARED}", "assistant": "billing"} for i in range(3)
    ]
    with SimServer(
        cache_min_tokens=256,
        price_input_per_mtok=0.15,
        price_output_per_mtok=0.6,
        price_cached_input_per_mtok=0.075,
    ) as sim:
        run = make_run(
            tmp_path,
            sim.openai_base_url,
            n=12,
            template={**CLASSIFY_TEMPLATE, "examples": examples},
            teacher={"mode": "batch", "batch_size": 5, "batch_poll_s": 0.02, "price": PRICE},
        )
        assert harvest(run.cfg()).stats.done == 12
        ledger = sim.ledger()
    entries = ledger["entries"]
    assert all(e["batch"] for e in entries) and any(e["cached_input_tokens"] for e in entries)
    # the same tokens bought online with no cache, from the sim's own counts
    uncached = sum(
        (
            Decimal(e["input_tokens"]) * Decimal("0.15")
            + Decimal(e["output_tokens"]) * Decimal("0.6")
        )
        / 1_000_000
        for e in entries
    )
    billed = Decimal(ledger["totals"]["cost_usd"])

    r = json.loads(distill("report", str(run.config), "--json").stdout)
    assert Decimal(r["cost_usd_exact"]) == billed
    assert r["batch_saved_usd"] > 0 and r["caching_saved_usd"] > 0
    assert r["online_uncached_usd"] == pytest.approx(float(uncached), abs=1e-9)
    assert r["teacher_latency"] is None  # a batch has one turnaround, no per-answer round trip
    assert r["batch_saved_usd"] + r["caching_saved_usd"] == pytest.approx(
        float(uncached - billed), abs=1e-9
    )

    batch, caching = f"${r['batch_saved_usd']:,.4f}", f"${r['caching_saved_usd']:,.4f}"
    whole = f"${r['online_uncached_usd']:,.4f}"
    html_path, md_path = write_report(run.cfg(), tmp_path / "r.html", tmp_path / "r.md")
    html = html_path.read_text(encoding="utf-8")
    sentence = re.search(r'<p id="savings">([^<]*)</p>', html)
    assert sentence is not None
    assert f"Batch saved {batch} and caching saved {caching}" in sentence.group(1)
    assert f"instead of {whole} online and uncached" in sentence.group(1)
    for label, value in (("batch saved", batch), ("caching saved", caching)):
        assert re.search(rf"<th>{label}</th><td class=\"n\">\{value}</td>", html), label
    assert 'data-chart="savings"' in html
    md = md_path.read_text(encoding="utf-8")
    assert f"| batch saved | {batch} |" in md and f"| caching saved | {caching} |" in md

    if CHROMIUM is not None:  # the savings on a phone and a wide screen
        browser = DevTools(tmp_path / "chromium-profile")
        try:
            for width in (1400, 420):
                _, page = _open(browser, html_path, width)
                assert "savings" in page["ids"], page["ids"]
                assert any(i["chart"] == "savings" and i["ok"] for i in page["images"])
                assert page["scroll_width"] <= page["client_width"], page["wide"]
                assert _problems(browser.events) == []
        finally:
            browser.close()

    terminal = distill("report", str(run.config), env={"COLUMNS": "120"}).stdout
    for label, value in (
        ("batch saved", batch),
        ("caching saved", caching),
        ("online, uncached, it would have cost", whole),
    ):
        assert re.search(rf"{label}\s+│?\s*\{value}", terminal), (label, terminal)
