"""Teacher vs student cost and the break-even volume, on figures worked out by hand."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import evalkit
import pytest

from evals.cost import (
    CostInputs,
    break_even_requests,
    compare,
    cost_comparison,
    hourly_cost,
    monthly_saving,
    payback_months,
    per_1k,
    per_request,
    student_cost_per_request,
)

D = Decimal


def test_unit_costs() -> None:
    # $12.50 for 10,000 answers: $0.00125 each, $1.25 per 1K
    assert per_request(D("12.50"), 10_000) == D("0.00125")
    assert per_1k(per_request(D("12.50"), 10_000)) == D("1.25")
    assert per_request(D("1"), 0) is None
    # $0.90/h at 5 items/s = 18,000 items/h: $0.00005 each
    assert student_cost_per_request(5.0, D("0.90")) == D("0.00005")
    assert student_cost_per_request(None, D("0.90")) is None
    assert student_cost_per_request(5.0, None) is None
    assert student_cost_per_request(0.0, D("0.90")) is None
    # half an hour at $2/h
    assert hourly_cost(1800, D("2")) == D("1")


def test_break_even_and_monthly_saving() -> None:
    one_off = D("12.50") + D("1")  # harvest + training
    teacher, student = D("0.00125"), D("0.00005")
    # 13.5 / 0.0012 = 11,250 requests exactly
    assert break_even_requests(one_off, teacher, student) == 11_250
    # a fraction of a request rounds up: the saving has to cover the whole one-off cost
    assert break_even_requests(D("1"), D("0.3"), D("0")) == 4
    assert break_even_requests(D("0"), teacher, student) == 0
    # not cheaper: never
    assert break_even_requests(one_off, student, teacher) is None
    assert break_even_requests(one_off, teacher, teacher) is None
    saving = monthly_saving(1_000_000, teacher, student)
    assert saving == D("1200")
    assert payback_months(one_off, saving) == D("0.01125")
    assert monthly_saving(1000, student, teacher) == D("-1.2")
    assert payback_months(one_off, D("-1.2")) is None


def test_compare_puts_it_together() -> None:
    c = compare(
        CostInputs(
            harvest_usd=D("12.50"),
            succeeded=10_000,
            student_items_per_s=5.0,
            student_usd_per_hour=D("0.90"),
            training_wall_s=1800,
            training_usd_per_hour=D("2"),
            monthly_requests=1_000_000,
        )
    )
    assert c["teacher"]["per_1k_usd"] == 1.25
    assert c["student"]["per_1k_usd"] == 0.05
    assert c["one_off"] == {
        "harvest_usd": 12.5,
        "training_wall_s": 1800,
        "training_usd_per_hour": 2.0,
        "training_usd": 1.0,
        "total_usd": 13.5,
    }
    assert c["break_even_requests"] == 11_250
    assert c["monthly"] == {
        "requests": 1_000_000,
        "teacher_usd": 1250.0,
        "student_usd": 50.0,
        "saving_usd": 1200.0,
        "payback_months": 0.01125,
    }
    assert c["notes"] == []
    json.dumps(c)  # JSON-ready


def test_compare_says_what_is_missing() -> None:
    c = compare(CostInputs(harvest_usd=D("3"), succeeded=100))
    assert c["student"]["per_1k_usd"] is None and c["break_even_requests"] is None
    assert c["monthly"] is None and c["one_off"]["total_usd"] == 3.0
    assert any("run distill eval" in n for n in c["notes"])
    assert any("training summary" in n for n in c["notes"])

    c = compare(
        CostInputs(harvest_usd=D("3"), succeeded=100, student_items_per_s=2.0, training_wall_s=60)
    )
    assert any("eval.student_cost_per_hour" in n for n in c["notes"])
    assert any("eval.training_cost_per_hour" in n for n in c["notes"])

    # a student dearer than the teacher never pays back
    c = compare(
        CostInputs(
            harvest_usd=D("0.1"),
            succeeded=1000,
            student_items_per_s=0.01,
            student_usd_per_hour=D("36"),
            monthly_requests=1000,
        )
    )
    assert c["break_even_requests"] is None and c["monthly"]["payback_months"] is None
    assert c["monthly"]["saving_usd"] < 0
    assert any("does not pay back" in n for n in c["notes"])


def _write_eval_and_training(cfg, items_per_s: float, wall_s: float) -> None:
    (cfg.run_dir / "eval").mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "eval" / "metrics.json").write_text(
        json.dumps({"performance": {"items_per_s": items_per_s}})
    )
    (cfg.run_dir / "student").mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "student" / "training_summary.json").write_text(
        json.dumps({"wall_time_s": wall_s})
    )


def test_figures_come_from_the_run_folder(tmp_path: Path) -> None:
    cfg = evalkit.make_run(
        tmp_path,
        dataset=False,
        funnel=False,
        eval_cfg={
            "student_cost_per_hour": 0.9,
            "training_cost_per_hour": 3.6,
            "monthly_requests": 2_000_000,
        },
    )
    assert cost_comparison(cfg) is not None
    _write_eval_and_training(cfg, items_per_s=5.0, wall_s=600)
    c = cost_comparison(cfg)
    # the journal: 59 answers at $0.000125 each (one item failed, costing nothing)
    assert c["teacher"]["succeeded"] == 59 and c["teacher"]["per_request_usd"] == 0.000125
    assert c["student"]["per_request_usd"] == 0.00005
    # one-off: 59 × 0.000125 + 600 s at $3.6/h = 0.007375 + 0.6
    assert c["one_off"]["total_usd"] == 0.607375
    # 0.607375 / (0.000125 - 0.00005) = 8098.33 → 8099
    assert c["break_even_requests"] == 8099
    assert c["monthly"]["saving_usd"] == 150.0


def test_training_defaults_to_the_student_hardware_price(tmp_path: Path) -> None:
    cfg = evalkit.make_run(
        tmp_path, dataset=False, funnel=False, eval_cfg={"student_cost_per_hour": 1.8}
    )
    _write_eval_and_training(cfg, items_per_s=1.0, wall_s=3600)
    c = cost_comparison(cfg)
    assert c["one_off"]["training_usd"] == 1.8


def test_self_hosted_teacher_priced_per_hour(tmp_path: Path) -> None:
    """teacher.price.per_hour: the journal bills the harvest's wall time at the price."""
    cfg = evalkit.make_run(
        tmp_path,
        dataset=False,
        funnel=False,
        price={"per_hour": 4.0},
        eval_cfg={"student_cost_per_hour": 1.0},
    )
    with sqlite3.connect(cfg.journal_path) as db:  # one harvest run of exactly 45 minutes
        db.execute("UPDATE runs SET ended_at = started_at + 2700")
    _write_eval_and_training(cfg, items_per_s=2.0, wall_s=0)
    c = cost_comparison(cfg)
    t = c["teacher"]
    assert t["pricing"] == "per_hour" and t["usd_per_hour"] == 4.0
    assert t["harvest_wall_s"] == 2700
    assert t["hourly_usd"] == 3.0 and t["token_usd"] == 0.0  # 0.75 h × $4
    assert t["harvest_usd"] == 3.0
    assert t["per_request_usd"] == pytest.approx(3.0 / 59, abs=1e-9)
    # $1/h at 2 items/s
    assert c["student"]["per_request_usd"] == pytest.approx(1 / 7200, abs=1e-9)


def test_unpriced_teacher_has_nothing_to_save(tmp_path: Path) -> None:
    cfg = evalkit.make_run(
        tmp_path,
        dataset=False,
        funnel=False,
        price={"free": True},
        eval_cfg={"student_cost_per_hour": 1.0},
    )
    _write_eval_and_training(cfg, items_per_s=2.0, wall_s=10)
    c = cost_comparison(cfg)
    assert c["teacher"]["pricing"] == "free" and c["teacher"]["per_1k_usd"] == 0.0
    assert c["break_even_requests"] is None
    assert any("unpriced" in n for n in c["notes"])


def test_no_harvest_no_comparison(tmp_path: Path) -> None:
    cfg = evalkit.make_run(tmp_path, journal=False, dataset=False, funnel=False)
    assert cost_comparison(cfg) is None
