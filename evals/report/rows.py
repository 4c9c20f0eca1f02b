"""The report's tables as (label, value) rows, shared by the HTML and Markdown pages."""

from __future__ import annotations

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
    if h.get("budget_usd") is not None:
        rows.append(("budget", md.usd(h["budget_usd"], 2)))
    return rows


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
        ("latency p50", f"{md.fmt(p['latency_p50_s'])} s ({p.get('latency_is', '')})"),
        ("latency p95", f"{md.fmt(p['latency_p95_s'])} s"),
        ("items / s", md.fmt(p["items_per_s"], 2)),
        ("generated tokens / s", md.fmt(p["tokens_per_s"], 1)),
    ]


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
