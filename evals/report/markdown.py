"""The report as Markdown (`distill report --md`), for a pull request or a wiki page."""

from __future__ import annotations

from typing import Any

from evals import markdown as md
from evals.report import rows
from evals.report_rounds import rounds_markdown


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
