"""The report's rounds section: active distillation, round by round (synth.cli.rounds).

Per round: cumulative teacher spend, pool items sent, training rows, agreement and accuracy
on the test split that round 1 fixed; and a chart of agreement against cumulative teacher
dollars. Other rounds runs in the same `runs_dir` (say the same pool with `select: random`)
are drawn beside this one, so that uncertainty and random can be compared on one chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from evals import markdown as md
from evals.report.plots import ACCENT, MUTED, STUDENT, TEACHER, _figure, to_data_uri
from synth.journal import rounds as journal_rounds
from synth.journal.store import Journal

if TYPE_CHECKING:
    from synth.config import RunConfig

COLUMNS = [
    "round",
    "selected by",
    "sent",
    "teacher spend",
    "training rows",
    "agreement",
    "accuracy",
]


def _series(journal: Path) -> dict[str, Any] | None:
    """One run's rounds from its journal, or None when it has none."""
    try:
        with Journal(journal, readonly=True) as j:
            done = [r for r in journal_rounds.rounds(j) if r.state == "done" and r.metrics]
    except FileNotFoundError:
        return None
    if not done:
        return None
    later = {r.select_mode for r in done if r.round > 1}
    return {
        "select": later.pop() if len(later) == 1 else "random",
        "rounds": [{**(r.metrics or {}), "select_mode": r.select_mode} for r in done],
    }


def collect_rounds(cfg: RunConfig) -> dict[str, Any] | None:
    """This run's rounds and those of its sibling runs; None when this run has none."""
    own = _series(cfg.journal_path)
    if own is None:
        return None
    others = []
    for journal in sorted(cfg.runs_dir.glob(f"*/{cfg.journal_path.name}")):
        if journal.parent.name != cfg.name and (s := _series(journal)):
            others.append({"run": journal.parent.name, **s})
    return {"run": cfg.name, **own, "others": others}


def rows(data: dict[str, Any]) -> list[list[str]]:
    return [
        [
            str(r["round"]),
            r["select_mode"],
            md.num(r.get("sent")),
            md.usd(float(r["spend_usd"])),
            md.num(r.get("train_rows")),
            md.pct(r.get("agreement")),
            md.pct(r.get("accuracy")),
        ]
        for r in data["rounds"]
    ]


def agreement_chart(data: dict[str, Any]) -> str | None:
    """Agreement on the fixed test split against cumulative teacher dollars, one line a run."""
    runs = [{"run": data["run"], **data}, *data["others"]]
    runs = [r for r in runs if any(x.get("agreement") is not None for x in r["rounds"])]
    if not runs:
        return None
    fig, ax = _figure(6.4, 3.2)
    colours = {"uncertainty": STUDENT, "random": TEACHER}
    for i, r in enumerate(runs):
        points = [(float(x["spend_usd"]), x["agreement"]) for x in r["rounds"]]
        points = [(s, a) for s, a in points if a is not None]
        colour = colours.get(r["select"], MUTED) if i else colours.get(r["select"], ACCENT)
        ax.plot(
            [s for s, _ in points],
            [a for _, a in points],
            marker="o",
            color=colour,
            linewidth=2.2 if i == 0 else 1.2,
            alpha=1.0 if i == 0 else 0.7,
            label=f"{r['run']} ({r['select']})",
        )
    ax.set_xlabel("cumulative teacher spend (USD)")
    ax.set_ylabel("agreement with teacher")
    ax.set_title("Agreement on the fixed test split, per round")
    ax.legend(loc="lower right", fontsize=8)
    return to_data_uri(fig)


_HTML = """<section id="rounds">
<h2>Rounds: where the teacher was spent</h2>
<p class="meta">Round 1: a random sample of the pool; later rounds: {{ d.select }}. Agreement
and accuracy on the test split fixed by round 1 (no later pick is tested on).</p>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for v in r %}<td class="n">{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% if chart %}<figure><img src="{{ chart }}" alt="Agreement against teacher spend, per round" data-chart="rounds"></figure>{% endif %}
</section>
"""


def rounds_html(data: dict[str, Any] | None) -> str:
    if data is None:
        return ""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_HTML).render(
        d=data, columns=COLUMNS, rows=rows(data), chart=agreement_chart(data)
    )


def rounds_markdown(data: dict[str, Any] | None) -> str:
    if data is None:
        return ""
    return "\n".join(
        [
            "## Rounds: where the teacher was spent",
            "",
            f"Round 1: a random sample of the pool; later rounds: {data['select']}. "
            "Agreement and accuracy on the test split fixed by round 1.",
            "",
            md.table(COLUMNS, rows(data)),
        ]
    )
