"""Teacher vs student: what each answer costs, what distilling cost, and when it pays off.

    teacher $/request   = harvest cost / answers received         (the journal's actual average;
                          a self-hosted teacher priced per_hour costs the harvest's wall hours
                          × price, which the journal bills per run)
    student $/request   = eval.student_cost_per_hour / (3600 × items/s measured by distill eval)
    one-off             = harvest cost + training wall hours × eval.training_cost_per_hour
    break-even volume   = one-off / (teacher $/request − student $/request)
                          (None when the student is not cheaper: distilling never pays back)
    monthly saving      = eval.monthly_requests × (teacher − student) $/request

The arithmetic is pure functions on Decimal; `cost_inputs(cfg)` gathers the figures from the
run folder (journal, training summary, eval metrics) and `compare` puts them together.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from synth.money import usd_float

if TYPE_CHECKING:
    from synth.config import RunConfig

HOUR = Decimal(3600)


def _d(x: float | int | Decimal) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def per_request(total_usd: Decimal, requests: int) -> Decimal | None:
    return total_usd / requests if requests > 0 else None


def per_1k(per_request_usd: Decimal | None) -> Decimal | None:
    return None if per_request_usd is None else per_request_usd * 1000


def hourly_cost(wall_s: float, usd_per_hour: Decimal) -> Decimal:
    """What `wall_s` seconds of hardware rented at `usd_per_hour` cost."""
    return _d(wall_s) * usd_per_hour / HOUR


def student_cost_per_request(
    items_per_s: float | None, usd_per_hour: Decimal | None
) -> Decimal | None:
    """Hardware price spread over the answers it gives at the measured throughput."""
    if items_per_s is None or items_per_s <= 0 or usd_per_hour is None:
        return None
    return usd_per_hour / (_d(items_per_s) * HOUR)


def break_even_requests(
    one_off_usd: Decimal, teacher_usd: Decimal, student_usd: Decimal
) -> int | None:
    """Requests after which the one-off cost of distilling is paid back; None if never."""
    saving = teacher_usd - student_usd
    if saving <= 0:
        return None
    return math.ceil(one_off_usd / saving)


def monthly_saving(monthly_requests: int, teacher_usd: Decimal, student_usd: Decimal) -> Decimal:
    """Negative when the student costs more per request than the teacher."""
    return monthly_requests * (teacher_usd - student_usd)


def payback_months(one_off_usd: Decimal, saving_per_month: Decimal) -> Decimal | None:
    return one_off_usd / saving_per_month if saving_per_month > 0 else None


@dataclass
class CostInputs:
    harvest_usd: Decimal  # what the teacher cost: per-token charges + GPU hours
    succeeded: int  # answers the teacher gave
    teacher_pricing: str = "per_token"  # per_token | per_hour | free
    token_usd: Decimal | None = None  # the per-token part of harvest_usd
    hourly_usd: Decimal = Decimal(0)  # the per-hour part: harvest wall hours × price
    harvest_wall_s: float = 0.0
    teacher_usd_per_hour: Decimal | None = None
    student_items_per_s: float | None = None
    student_usd_per_hour: Decimal | None = None
    training_wall_s: float | None = None
    training_usd_per_hour: Decimal | None = None
    monthly_requests: int | None = None
    notes: list[str] = field(default_factory=list)


def money(d: Decimal | None) -> float | None:
    return None if d is None else usd_float(d)


def compare(ci: CostInputs) -> dict[str, Any]:
    """Every figure of the comparison, JSON-ready (floats in USD), with notes on what is missing."""
    notes = list(ci.notes)
    teacher = per_request(ci.harvest_usd, ci.succeeded)
    student = student_cost_per_request(ci.student_items_per_s, ci.student_usd_per_hour)
    if ci.student_items_per_s is None:
        notes.append("no student throughput yet: run distill eval")
    elif ci.student_usd_per_hour is None:
        notes.append(
            "the student is not priced: set eval.student_cost_per_hour (USD per hour of its hardware)"
        )

    training_usd: Decimal | None = None
    if ci.training_wall_s is not None and ci.training_usd_per_hour is not None:
        training_usd = hourly_cost(ci.training_wall_s, ci.training_usd_per_hour)
    elif ci.training_wall_s is None:
        notes.append("no training summary yet: the one-off cost counts the harvest only")
    else:
        notes.append(
            "training is not priced: set eval.training_cost_per_hour (or eval.student_cost_per_hour)"
        )
    one_off = ci.harvest_usd + (training_usd or Decimal(0))

    break_even = None
    if teacher is not None and student is not None:
        break_even = break_even_requests(one_off, teacher, student)
        if break_even is None:
            notes.append(
                "the student costs as much as the teacher per request or more: distilling does not pay back"
            )
    if ci.teacher_pricing == "free":
        notes.append("the teacher is unpriced (teacher.price.free): there is no saving to measure")

    monthly: dict[str, Any] | None = None
    if ci.monthly_requests is not None and teacher is not None and student is not None:
        saving = monthly_saving(ci.monthly_requests, teacher, student)
        months = payback_months(one_off, saving)
        monthly = {
            "requests": ci.monthly_requests,
            "teacher_usd": money(teacher * ci.monthly_requests),
            "student_usd": money(student * ci.monthly_requests),
            "saving_usd": money(saving),
            "payback_months": None if months is None else round(float(months), 6),
        }
    elif ci.monthly_requests is None and teacher is not None and student is not None:
        notes.append("set eval.monthly_requests to see the monthly saving")

    return {
        "teacher": {
            "pricing": ci.teacher_pricing,
            "harvest_usd": money(ci.harvest_usd),
            "token_usd": money(
                ci.harvest_usd - ci.hourly_usd if ci.token_usd is None else ci.token_usd
            ),
            "hourly_usd": money(ci.hourly_usd),
            "succeeded": ci.succeeded,
            "harvest_wall_s": round(ci.harvest_wall_s, 3),
            "usd_per_hour": money(ci.teacher_usd_per_hour),
            "per_request_usd": money(teacher),
            "per_1k_usd": money(per_1k(teacher)),
        },
        "student": {
            "items_per_s": ci.student_items_per_s,
            "usd_per_hour": money(ci.student_usd_per_hour),
            "per_request_usd": money(student),
            "per_1k_usd": money(per_1k(student)),
        },
        "one_off": {
            "harvest_usd": money(ci.harvest_usd),
            "training_wall_s": ci.training_wall_s,
            "training_usd_per_hour": money(ci.training_usd_per_hour),
            "training_usd": money(training_usd),
            "total_usd": money(one_off),
        },
        "break_even_requests": break_even,
        "monthly": monthly,
        "notes": notes,
    }


def cost_inputs(cfg: RunConfig, eval_metrics: dict[str, Any] | None = None) -> CostInputs | None:
    """The figures of `cfg`'s run folder; None when there is no harvest yet."""
    from synth.errors import StageError
    from synth.harvest.cost_report import cost_report
    from synth.journal.store import Journal

    try:
        report = cost_report(cfg)
    except StageError:
        return None
    with Journal(cfg.journal_path, readonly=True) as j:
        totals = j.totals()
    # the journal bills a teacher priced per hour by the harvest's wall time (runs.per_hour_usd)
    total = totals["cost_usd"]
    hourly = totals.get("hourly_cost_usd", Decimal(0))
    price = cfg.teacher.price
    pricing = "per_token"
    if price is not None and price.free:
        pricing = "free"
    elif hourly > 0 or (price is not None and price.per_hour is not None):
        pricing = "per_hour"
    ci = CostInputs(
        harvest_usd=total,
        succeeded=report["succeeded"],
        teacher_pricing=pricing,
        token_usd=totals.get("token_cost_usd", total - hourly),
        hourly_usd=hourly,
        harvest_wall_s=float(report["harvest_wall_s"] or 0.0),
        teacher_usd_per_hour=price.per_hour if price is not None else None,
        monthly_requests=cfg.eval.monthly_requests,
    )

    if eval_metrics is None:
        path = cfg.paths.metrics
        if path.exists():
            eval_metrics = json.loads(path.read_text(encoding="utf-8"))
    if eval_metrics is not None:
        ci.student_items_per_s = (eval_metrics.get("performance") or {}).get("items_per_s")
    ci.student_usd_per_hour = cfg.eval.student_cost_per_hour

    summary = cfg.paths.training_summary
    if summary.exists():
        s = json.loads(summary.read_text(encoding="utf-8"))
        wall = s.get("wall_time_s") or s.get("train_runtime_s")
        ci.training_wall_s = float(wall) if wall is not None else None
    ci.training_usd_per_hour = (
        cfg.eval.training_cost_per_hour
        if cfg.eval.training_cost_per_hour is not None
        else cfg.eval.student_cost_per_hour
    )
    return ci


def cost_comparison(
    cfg: RunConfig, eval_metrics: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    ci = cost_inputs(cfg, eval_metrics)
    return None if ci is None else compare(ci)
