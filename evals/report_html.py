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

`report_json_extras(cfg)` gives the eval and cost-comparison figures that `distill report
--json` adds to the harvest's cost report.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import markupsafe

from evals import markdown as md
from evals.report_rounds import collect_rounds, rounds_html, rounds_markdown
from synth.errors import StageError

if TYPE_CHECKING:
    from synth.config import RunConfig


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def collect(cfg: RunConfig) -> dict[str, Any]:
    """Everything the report shows, read from the run folder; a missing stage is None."""
    from evals.cost import cost_comparison
    from synth.harvest.cost_report import cost_report
    from synth.journal.store import Journal

    data: dict[str, Any] = {
        "run": cfg.name,
        "run_dir": str(cfg.run_dir),
        "config": str(cfg.config_path) if cfg.config_path else None,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "teacher": f"{cfg.teacher.provider}/{cfg.teacher.model}",
        "harvest": None,
        "attempts": [],
        "funnel": _read_json(cfg.paths.funnel),
        "training": _read_json(cfg.paths.training_summary),
        "eval": _read_json(cfg.paths.metrics),
        "cost": None,
        "rounds": collect_rounds(cfg),
    }
    try:
        data["harvest"] = cost_report(cfg)
    except StageError:
        return data
    with Journal(cfg.journal_path, readonly=True) as j:
        data["attempts"] = list(j.iter_attempts())
    data["cost"] = cost_comparison(cfg, data["eval"])
    return data


def report_json_extras(cfg: RunConfig) -> dict[str, Any]:
    """What `distill report --json` adds to the cost report: eval and cost comparison figures
    (None where that stage has not run yet)."""
    from evals.cost import cost_comparison

    metrics = _read_json(cfg.paths.metrics)
    extras: dict[str, Any] = {"eval": None, "cost_comparison": None}
    if metrics is not None:
        extras["eval"] = {
            "task": metrics["task"],
            "split": metrics["split"],
            "items": metrics["items"],
            "summary": metrics["metrics"]["summary"],
            "gap": metrics["gap"],
            "performance": metrics["performance"],
            "disagreements": metrics.get("disagreements"),
            "failures": metrics["failures"],
            "failures_file": metrics.get("files", {}).get("failures"),
            "student": metrics["student"],
            "metrics": metrics["metrics"],
        }
    if cfg.journal_path.exists():
        extras["cost_comparison"] = cost_comparison(cfg, metrics)
    return extras


# -- charts ---------------------------------------------------------------------------------


def funnel_steps(funnel: dict[str, Any]) -> list[tuple[str, int]]:
    """(step, items left after it), from `<run>/build/funnel.json` (synth.dataset.funnel.Funnel)."""
    left = funnel["items_in"]
    steps = [("items in", left)]
    for stage in funnel["stages"]:
        left -= stage["removed"]
        steps.append((f"after {stage['name']}", left))
    steps.append(("kept", funnel["kept"]))
    return steps


def _quality_values(m: dict[str, Any]) -> dict[str, float]:
    """The 0..1 figures worth a bar: the summary's fractions and the gap."""
    out = {k: v for k, v in m["metrics"]["summary"].items() if isinstance(v, float) and 0 <= v <= 1}
    if m["task"] == "text":  # chrF is on 0..100
        out = {k: v for k, v in out.items() if "chrF" not in k}
        for k, v in m["metrics"]["summary"].items():
            if "chrF" in k and v is not None:
                out[f"{k} / 100"] = v / 100
    if m["gap"].get("fraction") is not None:
        out["student as a fraction of the teacher"] = min(m["gap"]["fraction"], 1.15)
    return out


def charts(data: dict[str, Any]) -> dict[str, str | None]:
    from evals import plots

    out: dict[str, str | None] = {}
    attempts = data["attempts"]
    h = data["harvest"]
    out["cost_over_time"] = plots.cost_over_time(attempts)
    out["cost_per_model"] = plots.cost_per_model(h["per_model"]) if h else None
    out["tokens_over_time"] = plots.tokens_over_time(attempts)
    out["retries_over_time"] = plots.retries_over_time(attempts)
    out["funnel"] = plots.funnel(funnel_steps(data["funnel"])) if data["funnel"] else None
    m = data["eval"]
    if m:
        out["quality"] = plots.quality_bars(_quality_values(m))
        conf = m["metrics"].get("confusion_vs_teacher")
        out["confusion"] = plots.confusion_matrix(conf, "Student vs teacher") if conf else None
        gold = (m["metrics"].get("gold") or {}).get("confusion")
        out["confusion_gold"] = plots.confusion_matrix(gold, "Student vs gold") if gold else None
    c = data["cost"]
    if c:
        t, s = c["teacher"], c["student"]
        out["cost_per_1k"] = plots.cost_per_1k(t["per_1k_usd"], s["per_1k_usd"])
        if t["per_request_usd"] is not None and s["per_request_usd"] is not None:
            horizon = None
            if c["break_even_requests"] is None and c.get("monthly"):
                horizon = c["monthly"]["requests"] or None
            out["break_even"] = plots.break_even(
                c["one_off"]["total_usd"],
                t["per_request_usd"],
                s["per_request_usd"],
                c["break_even_requests"],
                horizon,
            )
    return out


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --accent: #4c72b0; --bg: #ffffff; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; max-width: 1040px; padding: 24px; }
header { border-bottom: 2px solid var(--line); margin-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
.meta, .note, .empty { color: var(--muted); }
.empty { background: #f8f9fb; border: 1px dashed var(--line); padding: 12px 16px; border-radius: 6px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; margin: 16px 0; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.tile b { display: block; font-size: 22px; }
.tile span { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 12px 4px 0; text-align: left; vertical-align: top; }
td.n { text-align: right; }
figure { margin: 12px 0; }
figure img { max-width: 100%; height: auto; display: block; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 8px 24px; }
code { background: #f2f4f7; padding: 1px 4px; border-radius: 4px; }
"""

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>distill report: {{ d.run }}</title>
<style>{{ css }}</style>
</head>
<body>
<header>
  <h1>distill report: {{ d.run }}</h1>
  <p class="meta">teacher {{ d.teacher }} · run folder <code>{{ d.run_dir }}</code> · {{ d.generated_at }}</p>
  <nav><a href="#harvest">Harvest</a><a href="#build">Build</a><a href="#training">Training</a><a href="#eval">Eval</a><a href="#cost">Cost</a>{% if rounds_html %}<a href="#rounds">Rounds</a>{% endif %}</nav>
</header>

<section id="summary" class="tiles">
  {% for label, value in tiles %}<div class="tile"><b>{{ value }}</b><span>{{ label }}</span></div>{% endfor %}
</section>

{% macro fig(name, alt) %}{% if charts.get(name) %}<figure><img src="{{ charts[name] }}" alt="{{ alt }}" data-chart="{{ name }}"></figure>{% endif %}{% endmacro %}
{% macro rows(pairs) %}<table>{% for k, v in pairs %}<tr><th>{{ k }}</th><td class="n">{{ v }}</td></tr>{% endfor %}</table>{% endmacro %}

<section id="harvest">
<h2>Harvest: what the teacher cost</h2>
{% if d.harvest %}
  {{ rows(harvest_rows) }}
  {% if teacher_hourly %}<p class="note">{{ teacher_hourly }}</p>{% endif %}
  <div class="grid">{{ fig("cost_over_time", "Teacher cost over time") }}{{ fig("cost_per_model", "Teacher cost per model") }}
  {{ fig("tokens_over_time", "Tokens over time") }}{{ fig("retries_over_time", "Retries and 429s over time") }}</div>
{% else %}
  <p class="empty">No harvest yet: run <code>distill harvest CONFIG</code>.</p>
{% endif %}
</section>

<section id="build">
<h2>Build: the filter funnel</h2>
{% if d.funnel %}
  <table><tr><th>stage</th><th>removed</th><th>spent on them</th><th>left</th><th>why</th></tr>
  {% for r in funnel_rows %}<tr><td>{{ r[0] }}</td><td class="n">{{ r[1] }}</td><td class="n">{{ r[2] }}</td><td class="n">{{ r[3] }}</td><td class="note">{{ r[4] }}</td></tr>{% endfor %}
  </table>
  {{ fig("funnel", "Filter funnel") }}
{% else %}
  <p class="empty">No dataset build yet: run <code>distill build CONFIG</code>.</p>
{% endif %}
</section>

<section id="training">
<h2>Training: the student</h2>
{% if d.training %}
  {{ rows(training_rows) }}
{% else %}
  <p class="empty">No student yet: run <code>distill train CONFIG</code>.</p>
{% endif %}
</section>

<section id="eval">
<h2>Eval: student vs teacher</h2>
{% if d.eval %}
  <p>{{ gap_text }}</p>
  <p class="meta">{{ d.eval["task"] }} task · {{ d.eval["items"] }} items of the {{ d.eval["split"] }} split · teacher {{ d.eval["teacher_model"] }}</p>
  {{ rows(eval_rows) }}
  {{ fig("quality", "Student vs teacher") }}
  <div class="grid">{{ fig("confusion", "Confusion matrix: student vs teacher") }}{{ fig("confusion_gold", "Confusion matrix: student vs gold") }}</div>
  {% if per_label %}<h3>Per-label counts</h3>
  <table><tr><th>label</th>{% for w in per_label_who %}<th>{{ w }}</th>{% endfor %}</tr>
  {% for label, counts in per_label %}<tr><td>{{ label }}</td>{% for w in per_label_who %}<td class="n">{{ counts.get(w, 0) }}</td>{% endfor %}</tr>{% endfor %}
  </table>{% endif %}
  <h3>Speed on this hardware</h3>
  {{ rows(speed_rows) }}
  <p>Items where the student disagrees with the teacher: <b>{{ d.eval["failures"] }}</b>, in
  <code>{{ failures_file }}</code> (the inputs format: <code>distill harvest CONFIG --inputs {{ failures_file }}</code>
  harvests them again).</p>
  {% for n in d.eval.get("notes") or [] %}<p class="note">{{ n }}</p>{% endfor %}
{% else %}
  <p class="empty">No eval yet: run <code>distill eval CONFIG</code>.</p>
{% endif %}
</section>

<section id="cost">
<h2>Cost: teacher vs student</h2>
{% if d.cost %}
  {{ rows(cost_rows) }}
  <div class="grid">{{ fig("cost_per_1k", "Cost per 1K requests") }}{{ fig("break_even", "Break-even chart") }}</div>
  {% for n in d.cost["notes"] %}<p class="note">{{ n }}</p>{% endfor %}
{% else %}
  <p class="empty">No cost comparison yet: it needs a harvest (<code>distill harvest CONFIG</code>).</p>
{% endif %}
</section>

{{ rounds_html }}
<footer><p class="meta">Written by distill. Self-contained: nothing on this page is fetched from the network.</p></footer>
</body>
</html>
"""

_ENV = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


def _harvest_rows(h: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("items", md.fmt(h["items"])),
        ("answered", md.fmt(h["succeeded"])),
        ("failed", md.fmt(h["failed"])),
        ("not yet sent", md.fmt(h["pending"])),
        ("requests (attempts)", md.fmt(h["requests"])),
        ("retries", md.fmt(h["retries"])),
        ("rate limited (429)", md.fmt(h["rate_limited"])),
        ("input tokens", md.fmt(h["input_tokens"])),
        ("output tokens", md.fmt(h["output_tokens"])),
        ("cost", md.usd(h["cost_usd"])),
        ("cost per 1K answers", md.usd(h["cost_per_1k_usd"])),
        ("harvest wall time", f"{h['harvest_wall_s']:,.1f} s"),
    ]
    if h.get("possibly_billed_usd"):  # attempts of unknown outcome, at their worst case
        rows.insert(
            10,
            ("possibly billed (timed out/dropped, worst case)", md.usd(h["possibly_billed_usd"])),
        )
    for g in reversed(h.get("failures", [])[:10]):  # failed items grouped by reason
        rows.insert(3, (f"  failed: {g['reason'][:160]}", md.fmt(g["items"])))
    if h.get("older_plan_items"):  # answers build leaves out: paid for all the same
        rows.insert(1, ("  of an older plan (not built)", md.fmt(h["older_plan_items"])))
        rows.insert(-2, ("  of which an older plan", md.usd(h["older_plan_cost_usd"])))
    if h.get("budget_usd") is not None:
        rows.append(("budget", md.usd(h["budget_usd"], 2)))
    return rows


def _funnel_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    older = f.get("older_plan") or {}  # journal items outside the last harvest's plan
    rows = []
    if older.get("removed"):
        rows.append(
            (
                older["name"],
                md.fmt(older["removed"]),
                md.usd(older["cost_usd"]),
                "",
                "not in the last harvest's plan (an edited template, inputs, model or params): "
                f"not built; journal total {md.usd(f['cost_usd'])}",
            )
        )
    spent_in = f["cost_usd"] - (older.get("cost_usd") or 0)
    what = "the last harvest's plan" if older.get("removed") else "journal items"
    rows.append(("items in", "", md.usd(spent_in), md.fmt(f["items_in"]), what))
    left = f["items_in"]
    for s in f["stages"]:
        left -= s["removed"]
        why = ", ".join(f"{r} {n:,}" for r, n in list(s["reasons"].items())[:4])
        rows.append((s["name"], md.fmt(s["removed"]), md.usd(s["cost_usd"]), md.fmt(left), why))
    splits = " / ".join(f"{k} {v:,}" for k, v in f.get("splits", {}).items())
    rows.append(("kept", "", md.usd(f["kept_cost_usd"]), md.fmt(f["kept"]), splits))
    return rows


def _training_rows(t: dict[str, Any]) -> list[tuple[str, str]]:
    fields = [
        ("base model", "base_model"),
        ("method", "method"),
        ("hardware", "hardware"),
        ("precision", "precision"),
        ("training rows", "train_rows"),
        ("steps", "steps"),
        ("epochs", "epochs"),
        ("tokens seen", "tokens_seen"),
        ("tokens / s", "tokens_per_s"),
        ("wall time (s)", "wall_time_s"),
        ("first training loss", "first_train_loss"),
        ("final training loss", "final_train_loss"),
        ("final validation loss", "final_eval_loss"),
        ("trainable / total parameters", None),
    ]
    rows = []
    for label, key in fields:
        if key is None:
            if t.get("trainable_params") is not None:
                rows.append((label, f"{t['trainable_params']:,} / {t.get('total_params') or 0:,}"))
        elif t.get(key) is not None:
            rows.append((label, md.num(t[key])))
    return rows


def _speed_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    p, s = m["performance"], m["student"]
    where = s.get("base_url") or s.get("path") or "–"
    return [
        ("student", f"{s.get('kind', '–')}: {where}"),
        ("hardware", str(s.get("hardware", "–"))),
        ("latency p50", f"{md.fmt(p['latency_p50_s'])} s ({p.get('latency_is', '')})"),
        ("latency p95", f"{md.fmt(p['latency_p95_s'])} s"),
        ("items / s", md.fmt(p["items_per_s"], 2)),
        ("generated tokens / s", md.fmt(p["tokens_per_s"], 1)),
    ]


def _cost_rows(c: dict[str, Any]) -> list[tuple[str, str]]:
    t, s, o = c["teacher"], c["student"], c["one_off"]
    rows = [
        ("teacher pricing", md.teacher_pricing_text(t)),
        ("teacher per 1K requests", md.usd(t["per_1k_usd"])),
        ("student per 1K requests", md.usd(s["per_1k_usd"])),
        (
            "student hardware",
            "–" if s["usd_per_hour"] is None else f"{md.usd(s['usd_per_hour'], 2)}/h",
        ),
        ("harvest (one-off)", md.usd(o["harvest_usd"])),
        ("training (one-off)", md.usd(o["training_usd"])),
        ("distilling in all (one-off)", md.usd(o["total_usd"])),
        ("break-even volume", md.break_even_text(c)),
    ]
    m = c.get("monthly")
    if m:
        rows += [
            (f"teacher at {m['requests']:,} requests / month", md.usd(m["teacher_usd"], 2)),
            (f"student at {m['requests']:,} requests / month", md.usd(m["student_usd"], 2)),
            ("monthly saving", md.usd(m["saving_usd"], 2)),
            ("pays back in", md.payback_text(m["payback_months"])),
        ]
    return rows


def _teacher_hourly(c: dict[str, Any] | None) -> str | None:
    if not c or c["teacher"]["pricing"] != "per_hour":
        return None
    return f"Teacher {md.teacher_pricing_text(c['teacher'])}."


def _tiles(d: dict[str, Any]) -> list[tuple[str, str]]:
    tiles = []
    if d["harvest"]:
        tiles.append(("teacher answers", md.fmt(d["harvest"]["succeeded"])))
        tiles.append(("harvest cost", md.usd(d["harvest"]["cost_usd"])))
    if d["funnel"]:
        tiles.append(("kept for training", md.fmt(d["funnel"]["kept"])))
    m = d["eval"]
    if m and m["gap"].get("fraction") is not None:
        tiles.append(
            (f"of the teacher's quality ({m['gap']['metric']})", md.pct(m["gap"]["fraction"]))
        )
    c = d["cost"]
    if c and c["student"]["per_1k_usd"] is not None:
        tiles.append(("student per 1K requests", md.usd(c["student"]["per_1k_usd"])))
        tiles.append(("break-even", md.break_even_text(c)))
    return tiles


def render_html(data: dict[str, Any]) -> str:
    m = data["eval"]
    per_label = list((m["metrics"].get("per_label") or {}).items()) if m else []
    context = {
        "d": data,
        "css": _CSS,
        "charts": charts(data),
        "tiles": _tiles(data),
        "harvest_rows": _harvest_rows(data["harvest"]) if data["harvest"] else [],
        "teacher_hourly": _teacher_hourly(data["cost"]),
        "funnel_rows": _funnel_rows(data["funnel"]) if data["funnel"] else [],
        "training_rows": _training_rows(data["training"]) if data["training"] else [],
        "gap_text": md.gap_sentence(m["gap"]).replace("**", "") if m else "",
        "eval_rows": [(k, md.fmt(v)) for k, v in m["metrics"]["summary"].items()] if m else [],
        "per_label": per_label,
        "per_label_who": list(per_label[0][1].keys()) if per_label else [],
        "speed_rows": _speed_rows(m) if m else [],
        "failures_file": (m.get("files") or {}).get("failures", "eval/failures.jsonl") if m else "",
        "cost_rows": _cost_rows(data["cost"]) if data["cost"] else [],
        "rounds_html": markupsafe.Markup(rounds_html(data.get("rounds"))),
    }
    return _ENV.from_string(_TEMPLATE).render(**context)


def render_markdown(data: dict[str, Any]) -> str:
    parts = [
        f"# distill report: {data['run']}",
        "",
        f"_teacher {data['teacher']} · {data['generated_at']}_",
        "",
    ]
    parts.append("## Harvest: what the teacher cost\n")
    if data["harvest"]:
        parts.append(md.table(["", ""], [list(r) for r in _harvest_rows(data["harvest"])]))
        hourly = _teacher_hourly(data["cost"])
        parts += ["", hourly] if hourly else []
    else:
        parts.append("No harvest yet: run `distill harvest CONFIG`.")
    parts.append("\n## Build: the filter funnel\n")
    if data["funnel"]:
        parts.append(
            md.table(
                ["stage", "removed", "spent on them", "left", "why"],
                [list(r) for r in _funnel_rows(data["funnel"])],
            )
        )
    else:
        parts.append("No dataset build yet: run `distill build CONFIG`.")
    parts.append("\n## Training: the student\n")
    if data["training"]:
        parts.append(md.table(["", ""], [list(r) for r in _training_rows(data["training"])]))
    else:
        parts.append("No student yet: run `distill train CONFIG`.")
    parts.append("")
    if data["eval"]:
        parts.append(md.eval_section(data["eval"]))
    else:
        parts.append("## Student vs teacher\n\nNo eval yet: run `distill eval CONFIG`.")
    parts.append("")
    if data["cost"]:
        parts.append(md.cost_section(data["cost"]))
    else:
        parts.append("## Cost: teacher vs student\n\nNo cost comparison yet: it needs a harvest.")
    if data.get("rounds"):
        parts += ["", rounds_markdown(data["rounds"])]
    return "\n".join(parts).rstrip() + "\n"


def write_report(
    cfg: RunConfig, html_path: Path | None = None, md_path: Path | None = None
) -> list[Path]:
    """Write the HTML and/or Markdown report; with neither path given, both go to
    `<run>/report.html` and `<run>/report.md`. Returns the paths written."""
    if html_path is None and md_path is None:
        html_path, md_path = cfg.paths.report_html, cfg.paths.report_md
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
