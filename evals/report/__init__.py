"""`distill report CONFIG --html FILE --md FILE`: the whole run on one page.

One self-contained HTML file: inline CSS, no script, charts as SVG data URIs (see plots.py),
nothing fetched from anywhere, so it can be mailed or attached to a ticket. Sections follow
the pipeline, and each says what to run when its stage has no output yet:

    harvest   what the teacher cost: totals, cost over time and per model, tokens, retries/429s
    build     the filter funnel: what each filter removed and the dollars spent on it
    training  steps, throughput, losses, hardware
    eval      the distillation gap, task metrics, confusion matrix, latency and throughput
    cost      teacher vs student per 1K requests, the one-off cost, break-even, monthly saving
    rounds    active distillation round by round (evals/report_rounds.py), when the run has rounds

    collect.py      the figures, read from the run folder (and report_json_extras for --json)
    rows.py         the tables, shared by both pages
    plots.py        the charts (matplotlib to SVG data URIs)
    html.py         the HTML page: report.html.j2 + report.css, shipped with the package
    markdown.py     the Markdown page
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evals.report.collect import collect, report_json_extras

if TYPE_CHECKING:
    from synth.config import RunConfig

__all__ = ["collect", "report_json_extras", "write_report"]


def write_report(
    cfg: RunConfig, html_path: Path | None = None, md_path: Path | None = None
) -> list[Path]:
    """Write the HTML and/or Markdown report; with neither path given, both go to
    `<run>/report.html` and `<run>/report.md`. Returns the paths written."""
    if html_path is None and md_path is None:
        html_path, md_path = cfg.paths.report_html, cfg.paths.report_md
    from evals.report.html import render_html
    from evals.report.markdown import render_markdown

    data = collect(cfg)
    written = []
    for path, render in ((html_path, render_html), (md_path, render_markdown)):
        if path is None:
            continue
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(data), encoding="utf-8")
        written.append(path)
    return written
