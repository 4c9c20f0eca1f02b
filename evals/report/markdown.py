"""The report as Markdown (`distill report --md`), for a pull request or a wiki page."""

from __future__ import annotations

from typing import Any

from evals import markdown as md
from evals.report import rows
from evals.report_rounds import rounds_markdown

EXAMPLES_IN_MARKDOWN = 10
CLIP_IN_MARKDOWN = 160


def _examples(data: dict[str, Any]) -> list[str]:
    """The first disagreement examples, clipped to a line each; predictions.jsonl has them all."""
    m, preds = data["eval"], data.get("predictions")
    gold_field = m.get("gold_field")
    examples = rows.example_rows(preds, gold_field, CLIP_IN_MARKDOWN)[:EXAMPLES_IN_MARKDOWN]
    if not examples:
        return []
    cols = ["input", "teacher", "student"] + (["gold"] if gold_field else [])
    total = preds["disagreements"] if preds else len(examples)
    return [
        "### Where the student and the teacher disagree",
        "",
        f"{len(examples)} of {total:,}; every item is in `{data['run_dir']}/eval/predictions.jsonl`.",
        "",
        md.table(cols, [[md.cell(e[c]["text"]) for c in cols] for e in examples]),
        "",
    ]


def render_markdown(data: dict[str, Any]) -> str:
    parts = [
        f"# distill report: {data['run']}",
        "",
        f"_teacher {data['teacher']} · {data['generated_at']}_",
        "",
    ]
    parts.append("## Harvest: what the teacher cost\n")
    if data["harvest"]:
        parts.append(md.table(["", ""], [list(r) for r in rows.harvest_rows(data["harvest"])]))
        hourly = rows.teacher_hourly(data["cost"])
        parts += ["", hourly] if hourly else []
    else:
        parts.append("No harvest yet: run `distill harvest CONFIG`.")
    parts.append("\n## Build: the filter funnel\n")
    if data["funnel"]:
        parts.append(
            md.table(
                ["stage", "removed", "spent on them", "left", "why"],
                [list(r) for r in rows.funnel_rows(data["funnel"])],
            )
        )
    else:
        parts.append("No dataset build yet: run `distill build CONFIG`.")
    parts.append("\n## Training: the student\n")
    if data["training"]:
        parts.append(md.table(["", ""], [list(r) for r in rows.training_rows(data["training"])]))
        validation = (data["training"].get("loss_curve") or {}).get("validation")
        if validation:  # the curve itself is the HTML page's chart
            points = " · ".join(f"step {s:,}: {v:.4g}" for s, v in validation[-12:])
            parts += ["", f"Validation loss by step: {points}"]
    else:
        parts.append("No student yet: run `distill train CONFIG`.")
    parts.append("")
    if data["eval"]:
        parts.append(md.eval_section(data["eval"], teacher_latency=data.get("teacher_latency")))
        parts += _examples(data)
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
