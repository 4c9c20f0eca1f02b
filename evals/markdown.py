"""The eval and cost figures as Markdown: `<run>/eval/metrics.md` and `distill report --md`."""

from __future__ import annotations

from typing import Any


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def num(v: Any) -> str:
    """A measurement, to four significant digits: 2,600 tokens/s, 20 s, 0.4132 loss."""
    if isinstance(v, float):
        return f"{v:,.4g}"
    return fmt(v)


def usd(v: float | None, digits: int = 4) -> str:
    return "–" if v is None else f"${v:,.{digits}f}"


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += [
        "| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows
    ]
    return "\n".join(out)


def gap_sentence(gap: dict[str, Any]) -> str:
    if gap.get("fraction") is None:
        return "Distillation gap: not measurable on this data."
    if gap["basis"] == "gold":
        return (
            f"The student reaches **{pct(gap['fraction'])}** of the teacher's {gap['metric']} on gold "
            f"({fmt(gap['student'])} vs {fmt(gap['teacher'])})."
        )
    return f"The student reaches **{pct(gap['fraction'])}** of the teacher ({gap['metric']} against the teacher's answers)."


def confusion_table(conf: dict[str, Any]) -> str:
    header = ["reference \\ student", *conf["columns"]]
    return table(header, [[r, *row] for r, row in zip(conf["rows"], conf["matrix"], strict=True)])


def eval_section(
    m: dict[str, Any], level: int = 2, teacher_latency: dict[str, Any] | None = None
) -> str:
    """The eval as Markdown; `teacher_latency` (evals.latency.distribution of the journal's
    answers) adds the teacher's row to the per-item latency table."""
    h = "#" * level
    perf = m.get("performance") or {}
    student = m.get("student") or {}
    parts = [
        f"{h} Student vs teacher ({m['task']}, {m['split']} split, {m['items']:,} items)",
        "",
        gap_sentence(m["gap"]),
        "",
        table(["metric", "value"], [[k, v] for k, v in m["metrics"]["summary"].items()]),
        "",
    ]
    conf = m["metrics"].get("confusion_vs_teacher")
    if conf and any(any(r) for r in conf["matrix"]):
        parts += [
            f"{h}# Confusion matrix (rows: the teacher's label)",
            "",
            confusion_table(conf),
            "",
        ]
    gold = m["metrics"].get("gold") or {}
    if gold.get("confusion"):
        parts += [f"{h}# Confusion matrix against gold", "", confusion_table(gold["confusion"]), ""]
    per_label = m["metrics"].get("per_label")
    if per_label:
        who = list(next(iter(per_label.values())).keys())
        parts += [
            f"{h}# Per-label counts",
            "",
            table(["label", *who], [[k, *v.values()] for k, v in per_label.items()]),
            "",
        ]
    for title, rows in per_class_tables(m):
        parts += [
            f"{h}# Precision, recall and F1 per label: {title}",
            "",
            table(["label", "precision", "recall", "F1", "support"], [list(r) for r in rows]),
            "",
        ]
    where = student.get("base_url") or student.get("path") or "–"
    parts += [
        f"{h}# Speed on this hardware",
        "",
        table(
            ["", ""],
            [
                ["student", f"{student.get('kind', '–')}: {where}"],
                ["hardware", str(student.get("hardware", "–"))],
                [
                    "wait p50",
                    f"{fmt(perf.get('latency_p50_s'))} s ({perf.get('latency_is', '–')})",
                ],
                ["wait p95", f"{fmt(perf.get('latency_p95_s'))} s"],
                ["items / s", fmt(perf.get("items_per_s"), 2)],
                ["generated tokens / s", fmt(perf.get("tokens_per_s"), 1)],
                [
                    "batch size" if student.get("kind") != "endpoint" else "concurrency",
                    fmt(student.get("batch_size", student.get("concurrency"))),
                ],
            ],
        ),
        "",
        *latency_section(teacher_latency, m, h),
        f"Items where the student disagrees with the teacher: **{m['failures']:,}** "
        f"(`{m.get('files', {}).get('failures', 'eval/failures.jsonl')}`, in the inputs format: "
        "`distill harvest CONFIG --inputs` that file to harvest them again).",
        "",
    ]
    return "\n".join(parts)


def per_class_tables(m: dict[str, Any]) -> list[tuple[str, list[tuple[str, ...]]]]:
    from evals.report.rows import per_class_tables as tables

    return tables(m)


def latency_section(teacher: dict[str, Any] | None, m: dict[str, Any] | None, h: str) -> list[str]:
    """The per-item latency percentiles, each row followed by what its times measure."""
    from evals.report.rows import LATENCY_HEADER, latency_rows

    rows = latency_rows(teacher, m)
    if not rows:
        return []
    return [
        f"{h}# Latency per item",
        "",
        table(LATENCY_HEADER, [list(r[:6]) for r in rows]),
        "",
        *(f"- {r[0]}: {r[6]}" for r in rows),
        "",
    ]


def cell(text: str) -> str:
    """Text that is safe in a Markdown table cell: one line, pipes escaped, and no markup
    (a `<` opens no HTML tag)."""
    one_line = " ".join(str(text).split())
    return one_line.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def payback_text(months: float | None) -> str:
    if months is None:
        return "never"
    days = months * 30.44
    if days >= 30.44:
        return f"{months:,.1f} months"
    if days >= 1:
        return f"{days:,.1f} days"
    hours = days * 24
    return f"{hours:,.1f} hours" if hours >= 1 else "under an hour"


def teacher_pricing_text(t: dict[str, Any]) -> str:
    """How the teacher's cost was counted, in words (a self-hosted teacher is priced per hour)."""
    if t["pricing"] == "free":
        return "unpriced (teacher.price.free): the harvest cost nothing"
    if t["pricing"] == "per_hour":
        text = (
            f"self-hosted, priced per hour: {usd(t['usd_per_hour'], 2)}/h × "
            f"{t['harvest_wall_s'] / 3600:,.3f} h of harvest wall time = {usd(t['hourly_usd'])}"
        )
        if t.get("token_usd"):
            text += f", plus {usd(t['token_usd'])} per token"
        return text
    return "per token: the journal's actual costs"


def break_even_text(c: dict[str, Any]) -> str:
    if c["break_even_requests"] is not None:
        return f"{c['break_even_requests']:,} requests"
    if c["teacher"]["per_1k_usd"] is not None and c["student"]["per_1k_usd"] is not None:
        return "never (the student is not cheaper per request)"
    return "–"


def cost_section(c: dict[str, Any], level: int = 2) -> str:
    h = "#" * level
    t, s, o = c["teacher"], c["student"], c["one_off"]
    rows = [
        ["teacher pricing", teacher_pricing_text(t)],
        ["teacher per 1K requests", usd(t["per_1k_usd"])],
        [
            "student per 1K requests",
            usd(s["per_1k_usd"])
            + (
                f" ({usd(s['usd_per_hour'], 2)}/h at {s['items_per_s']:,.2f} items/s)"
                if s["per_1k_usd"] is not None
                else ""
            ),
        ],
        ["harvest (one-off)", usd(o["harvest_usd"])],
        [
            "training (one-off)",
            usd(o["training_usd"])
            + (f" ({o['training_wall_s']:,.0f} s)" if o["training_wall_s"] is not None else ""),
        ],
        ["distilling in all (one-off)", usd(o["total_usd"])],
        ["break-even volume", break_even_text(c)],
    ]
    m = c.get("monthly")
    if m:
        rows += [
            [f"teacher at {m['requests']:,} requests/month", usd(m["teacher_usd"], 2)],
            [f"student at {m['requests']:,} requests/month", usd(m["student_usd"], 2)],
            ["monthly saving", usd(m["saving_usd"], 2)],
            ["pays back in", payback_text(m["payback_months"])],
        ]
    parts = [f"{h} Cost: teacher vs student", "", table(["", ""], rows), ""]
    parts += [f"- {n}" for n in c.get("notes", [])]
    return "\n".join(parts) + "\n"
