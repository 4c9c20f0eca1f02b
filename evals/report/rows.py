"""The report's tables as (label, value) rows, shared by the HTML and Markdown pages."""

from __future__ import annotations

import json
from typing import Any

from evals import markdown as md


def harvest_rows(h: dict[str, Any]) -> list[tuple[str, str]]:
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
    rows += savings_rows(h)
    if h.get("budget_usd") is not None:
        rows.append(("budget", md.usd(h["budget_usd"], 2)))
    return rows


def savings_rows(h: dict[str, Any]) -> list[tuple[str, str]]:
    """What the batch API and the prompt cache saved, against the same answers bought online
    with no cache (the journal's batch and cache records, synth.harvest.cost_report)."""
    batch, caching = h.get("batch_saved_usd") or 0.0, h.get("caching_saved_usd") or 0.0
    rows = []
    if h.get("cached_input_tokens"):
        rows.append(("input tokens read from the cache", md.fmt(h["cached_input_tokens"])))
    if h.get("cache_write_tokens"):
        rows.append(("input tokens written to the cache", md.fmt(h["cache_write_tokens"])))
    if (h.get("cost_by_mode") or {}).get("batch_usd"):
        rows.append(("cost of the batch answers", md.usd(h["cost_by_mode"]["batch_usd"])))
    if batch or caching:
        rows += [
            ("batch saved", md.usd(batch)),
            ("caching saved", md.usd(caching)),
            ("online, uncached, it would have cost", md.usd(h.get("online_uncached_usd"))),
        ]
    if h.get("open_batches_usd"):
        rows.append(("open batches (worst case, not yet settled)", md.usd(h["open_batches_usd"])))
    return rows


def savings_text(h: dict[str, Any] | None) -> str | None:
    """One sentence for the page's top: "batch saved $X, caching saved $Y, of $Z"."""
    if not h or not (h.get("batch_saved_usd") or h.get("caching_saved_usd")):
        return None
    return (
        f"Batch saved {md.usd(h.get('batch_saved_usd') or 0.0)} and caching saved "
        f"{md.usd(h.get('caching_saved_usd') or 0.0)}: the answers cost {md.usd(h['cost_usd'])} "
        f"instead of {md.usd(h.get('online_uncached_usd'))} online and uncached."
    )


def funnel_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
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


def training_rows(t: dict[str, Any]) -> list[tuple[str, str]]:
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


def speed_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    p, s = m["performance"], m["student"]
    where = s.get("base_url") or s.get("path") or "–"
    return [
        ("student", f"{s.get('kind', '–')}: {where}"),
        ("hardware", str(s.get("hardware", "–"))),
        ("wait p50", f"{md.fmt(p['latency_p50_s'])} s ({p.get('latency_is', '')})"),
        ("wait p95", f"{md.fmt(p['latency_p95_s'])} s"),
        ("items / s", md.fmt(p["items_per_s"], 2)),
        ("generated tokens / s", md.fmt(p["tokens_per_s"], 1)),
    ]


LATENCY_HEADER = ["", "items", "p50", "p90", "p99", "max"]


def latency_rows(teacher: dict[str, Any] | None, m: dict[str, Any] | None) -> list[tuple[str, ...]]:
    """Per-item latency percentiles: the teacher's (journal) and the student's (eval); the
    last field says what the times measure."""
    out = []
    student = (m or {}).get("performance", {}).get("item_latency")
    for who, d in (("teacher", teacher), ("student", student)):
        if d:
            out.append(
                (
                    who,
                    md.fmt(d["items"]),
                    *(f"{_secs(d[k])}" for k in ("p50_s", "p90_s", "p99_s", "max_s")),
                    d["measures"],
                )
            )
    return out


def _secs(v: float | None) -> str:
    """A time in the unit that reads: 850 ms, 1.24 s."""
    if v is None:
        return "–"
    return f"{v * 1000:,.3g} ms" if v < 1 else f"{v:,.3g} s"


PER_CLASS_TITLES = {
    "student_vs_teacher": "student vs teacher",
    "student_vs_gold": "student vs gold",
    "teacher_vs_gold": "teacher vs gold",
}


def per_class_tables(m: dict[str, Any] | None) -> list[tuple[str, list[tuple[str, ...]]]]:
    """(title, rows of label / precision / recall / F1 / support), one table per comparison."""
    pc = ((m or {}).get("metrics") or {}).get("per_class") or {}
    out: list[tuple[str, list[tuple[str, ...]]]] = []
    for name, title in PER_CLASS_TITLES.items():
        if pc.get(name):
            out.append(
                (
                    title,
                    [
                        (
                            str(label),
                            md.fmt(c["precision"]),
                            md.fmt(c["recall"]),
                            md.fmt(c["f1"]),
                            md.fmt(c["support"]),
                        )
                        for label, c in pc[name].items()
                    ],
                )
            )
    return out


def clip(text: str, most: int) -> tuple[str, bool]:
    """(the text cut to `most` characters at a word where one is near, was it cut)."""
    if len(text) <= most:
        return text, False
    cut = text[:most]
    space = cut.rfind(" ")
    return (cut[:space] if space > most * 0.7 else cut) + " …", True


def input_text(record: Any, gold_field: str | None) -> str:
    """An input record as a person reads it: its one field's value, else `field: value` lines
    (the gold answer left out: it has its own column)."""
    if not isinstance(record, dict):
        return str(record)
    fields = {k: v for k, v in record.items() if k != gold_field}
    texts = {k: v for k, v in fields.items() if isinstance(v, str)}
    if len(texts) == 1 and all(k in texts or isinstance(v, int) for k, v in fields.items()):
        return next(iter(texts.values()))  # {"id": 3, "text": ...}: the text is the input
    return "\n".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in fields.items()
    )


def example_rows(
    preds: dict[str, Any] | None, gold_field: str | None, most: int = 240
) -> list[dict[str, Any]]:
    """The disagreement examples, each column as {"text": clipped, "full": the whole text when
    clipped, else None}; escaping is the page's (HTML autoescape, Markdown's `cell`)."""
    rows = []
    for ex in (preds or {}).get("examples", []):
        student = ex["student"] if ex.get("error") is None else f"(request failed: {ex['error']})"
        cells: dict[str, Any] = {"key": ex.get("key")}
        for name, text in (
            ("input", input_text(ex.get("input"), gold_field)),
            ("teacher", str(ex.get("teacher") or "")),
            ("student", str(student or "")),
            ("gold", "" if ex.get("gold") is None else str(ex["gold"])),
        ):
            short, cut = clip(text, most)
            cells[name] = {"text": short, "full": text if cut else None}
        rows.append(cells)
    return rows


def cost_rows(c: dict[str, Any]) -> list[tuple[str, str]]:
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


def teacher_hourly(c: dict[str, Any] | None) -> str | None:
    if not c or c["teacher"]["pricing"] != "per_hour":
        return None
    return f"Teacher {md.teacher_pricing_text(c['teacher'])}."


def tiles(d: dict[str, Any]) -> list[tuple[str, str]]:
    tiles = []
    if d["harvest"]:
        h = d["harvest"]
        tiles.append(("teacher answers", md.fmt(h["succeeded"])))
        tiles.append(("harvest cost", md.usd(h["cost_usd"])))
        saved = (h.get("batch_saved_usd") or 0.0) + (h.get("caching_saved_usd") or 0.0)
        if saved:
            tiles.append(("saved by batch and caching", md.usd(saved)))
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
