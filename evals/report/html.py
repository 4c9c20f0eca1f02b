"""The report as one self-contained HTML page.

Inline CSS, no script, charts as SVG data URIs (see plots.py), nothing fetched from anywhere,
so it can be mailed or attached to a ticket. The page is `report.html.j2` with `report.css`,
both shipped with the package.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from evals import markdown as md
from evals.report import rows
from evals.report.plots import charts
from evals.report_rounds import rounds_html

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("evals.report", "."),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _run_relative(data: dict[str, Any], m: dict[str, Any] | None, name: str = "failures") -> str:
    """An eval file as the user types it next to the config: `runs/NAME/eval/...`."""
    if not m:
        return ""
    path = (m.get("files") or {}).get(name)
    if path is None:
        return f"{data['run_dir']}/eval/{name}.jsonl"
    p = Path(path)
    if p.is_absolute() and data.get("run_dir_abs"):
        try:
            return str(Path(data["run_dir"]) / p.relative_to(data["run_dir_abs"]))
        except ValueError:
            return path
    return path


def _resource(name: str) -> str:
    return files("evals.report").joinpath(name).read_text(encoding="utf-8")


def render_html(data: dict[str, Any]) -> str:
    m = data["eval"]
    per_label = list((m["metrics"].get("per_label") or {}).items()) if m else []
    context = {
        "d": data,
        "css": _resource("report.css"),
        "charts": charts(data),
        "tiles": rows.tiles(data),
        "harvest_rows": rows.harvest_rows(data["harvest"]) if data["harvest"] else [],
        "teacher_hourly": rows.teacher_hourly(data["cost"]),
        "funnel_rows": rows.funnel_rows(data["funnel"]) if data["funnel"] else [],
        "training_rows": rows.training_rows(data["training"]) if data["training"] else [],
        "gap_text": md.gap_sentence(m["gap"]).replace("**", "") if m else "",
        "eval_rows": [(k, md.fmt(v)) for k, v in m["metrics"]["summary"].items()] if m else [],
        "per_label": per_label,
        "per_label_who": list(per_label[0][1].keys()) if per_label else [],
        "per_class": rows.per_class_tables(m),
        "speed_rows": rows.speed_rows(m) if m else [],
        "latency_header": rows.LATENCY_HEADER,
        "latency_rows": rows.latency_rows(data.get("teacher_latency"), m),
        "examples": rows.example_rows(data.get("predictions"), m.get("gold_field") if m else None),
        "examples_total": (data.get("predictions") or {}).get("disagreements", 0),
        "predictions_file": _run_relative(data, m, "predictions"),
        "savings": rows.savings_text(data["harvest"]),
        "failures_file": _run_relative(data, m, "failures"),
        "cost_rows": rows.cost_rows(data["cost"]) if data["cost"] else [],
        "rounds_html": markupsafe.Markup(rounds_html(data.get("rounds"))),
    }
    return _ENV.get_template("report.html.j2").render(**context)
