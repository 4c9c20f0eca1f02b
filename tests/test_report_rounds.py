"""The report's rounds section (evals/report_rounds.py), from journals with recorded rounds:
as text, and in headless Chromium where it is installed."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import evalkit
import pytest
from test_report_html import CHROMIUM, DevTools, _open, _problems

from evals.report import write_report
from synth.journal import rounds as journal_rounds
from synth.journal.store import Journal

UNCERTAIN = [(0.0021, 400, 0.62, 0.58), (0.0034, 640, 0.74, 0.69), (0.0046, 880, 0.81, 0.75)]
RANDOM = [(0.0021, 400, 0.62, 0.58), (0.0033, 640, 0.69, 0.64), (0.0045, 880, 0.73, 0.68)]


def _record(journal: Path, mode: str, figures: list[tuple[float, int, float, float]]) -> None:
    with Journal(journal) as j:
        for k, (spend, rows, agreement, accuracy) in enumerate(figures, 1):
            lines = list(range(k * 100, k * 100 + 10))
            journal_rounds.record_selection(
                j, k, "random" if k == 1 else mode, None, lines, [None] * len(lines)
            )
            journal_rounds.set_state(
                j,
                k,
                "done",
                {
                    "round": k,
                    "spend_usd": str(spend),
                    "sent": 10 * k,
                    "train_rows": rows,
                    "agreement": agreement,
                    "accuracy": accuracy,
                },
            )


def test_rounds_section_tabulates_each_round_and_charts_both_selections(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path)
    _record(cfg.journal_path, "uncertainty", UNCERTAIN)
    _record(cfg.runs_dir / "tickets-random" / "journal.sqlite", "random", RANDOM)
    html_path, md_path = write_report(cfg, tmp_path / "r.html", tmp_path / "r.md")
    html = html_path.read_text()
    section = html[html.index('<section id="rounds">') :]
    assert section.count("<tr>") == 1 + len(UNCERTAIN)
    assert "81.0%" in section and "$0.0046" in section and "880" in section
    chart = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"[^>]*data-chart="rounds"', section)
    assert chart is not None
    svg = base64.b64decode(chart.group(1)).decode()
    assert "tickets (uncertainty)" in svg and "tickets-random (random)" in svg
    markdown = md_path.read_text()
    assert (
        "## Rounds" in markdown
        and "| 3 | uncertainty | 30 | $0.0046 | 880 | 81.0% | 75.0% |" in markdown
    )


def test_a_run_without_rounds_has_no_rounds_section(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path)
    (html_path,) = write_report(cfg, tmp_path / "r.html")
    assert 'id="rounds"' not in html_path.read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("width", [1400, 420])
def test_rounds_section_in_a_headless_browser(tmp_path: Path, width: int) -> None:
    cfg = evalkit.make_run(tmp_path)
    _record(cfg.journal_path, "uncertainty", UNCERTAIN)
    _record(cfg.runs_dir / "tickets-random" / "journal.sqlite", "random", RANDOM)
    (html_path,) = write_report(cfg, tmp_path / "r.html")
    browser = DevTools(tmp_path / "chromium-profile")
    try:
        _, page = _open(browser, html_path, width)
        problems = _problems(browser.events)
    finally:
        browser.close()
    assert "rounds" in page["sections"]
    rounds_images = [i for i in page["images"] if i["chart"] == "rounds"]
    assert len(rounds_images) == 1 and rounds_images[0]["ok"]
    # the page fits the screen: only a table may scroll sideways, inside its own box
    assert page["scroll_width"] <= page["client_width"], (page["scroll_width"], page["wide"])
    assert page["wide"] == []
    assert problems == []
