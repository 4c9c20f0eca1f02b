"""The report's new figures on hand-made inputs whose answers are worked out by hand: the loss
curve read from a trainer's log history, each item's share of its batch's time, and latency
percentiles."""

from __future__ import annotations

import math

import pytest

from evals.generate import share_batch_time
from evals.latency import distribution
from finetune.history import loss_curve


def test_loss_curve_keeps_train_and_validation_losses_by_step() -> None:
    history = [
        {"loss": 2.5, "learning_rate": 1e-3, "epoch": 0.1, "step": 1},
        {"loss": 2.0, "epoch": 0.5, "step": 5},
        {"eval_loss": 1.9, "eval_runtime": 0.1, "epoch": 0.5, "step": 5},
        {"loss": math.nan, "step": 8},  # a diverged step is not drawn
        {"loss": 1.5, "step": 10},
        {"eval_loss": 1.7, "step": 10},
        {"train_runtime": 3.0, "train_loss": 2.0, "step": 10},  # the end of training
        {"loss": 9.0},  # no step: nowhere to draw it
    ]
    assert loss_curve(history) == {
        "train": [[1, 2.5], [5, 2.0], [10, 1.5]],
        "validation": [[5, 1.9], [10, 1.7]],
    }
    assert loss_curve([]) == {"train": [], "validation": []}


def test_a_long_curve_is_thinned_evenly_keeping_both_ends() -> None:
    history = [{"loss": 1.0 / s, "step": s} for s in range(1, 102)]  # 101 points
    train = loss_curve(history, most=11)["train"]
    assert [step for step, _ in train] == list(range(1, 102, 10))
    assert train[-1] == [101, pytest.approx(1 / 101)]


def test_batch_time_is_shared_by_the_items_still_generating() -> None:
    # 6 s over 3 steps = 2 s a step; step 1 is shared by 3 items, step 2 by 2, step 3 by 1:
    # 1 token: 2/3 · 2 tokens: 2/3 + 1 = 5/3 · 3 tokens: 2/3 + 1 + 2 = 11/3 (6 s in all)
    assert share_batch_time(6.0, [1, 2, 3]) == pytest.approx([2 / 3, 5 / 3, 11 / 3])
    assert sum(share_batch_time(6.0, [3, 1, 2])) == pytest.approx(6.0)
    assert share_batch_time(2.0, [4, 4]) == pytest.approx([1.0, 1.0])  # equal answers, halves
    assert share_batch_time(1.0, [0, 2]) == pytest.approx([0.25, 0.75])  # 0 tokens: one step
    assert share_batch_time(1.0, []) == []


def test_latency_distribution_percentiles_and_label() -> None:
    d = distribution([0.4, 0.1, 0.3, 0.2, 1.0], "per request")
    assert d is not None
    # sorted 0.1 0.2 0.3 0.4 1.0: p50 at rank 2 = 0.3; p90 at 3.6 = 0.4 + 0.6·0.6 = 0.76;
    # p95 at 3.8 = 0.4 + 0.8·0.6 = 0.88; p99 at 3.96 = 0.4 + 0.96·0.6 = 0.976
    assert d == {
        "measures": "per request",
        "items": 5,
        "p50_s": pytest.approx(0.3),
        "p90_s": pytest.approx(0.76),
        "p95_s": pytest.approx(0.88),
        "p99_s": pytest.approx(0.976),
        "mean_s": pytest.approx(0.4),
        "max_s": 1.0,
    }
    assert distribution([], "per request") is None


# -- the charts, read back from their SVG (text stays text: svg.fonttype none) ---------------


def _texts(uri: str | None) -> list[str]:
    import base64
    import re

    assert uri is not None
    svg = base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def _attempts(n: int) -> list[dict[str, object]]:
    """n answered attempts 10 s apart, one input and one output token each but the last."""
    return [
        {
            "started_at": 0.0,
            "ended_at": 10.0 * i,
            "input_tokens": 1,
            "output_tokens": 1 if i < n else 0,
            "cost_usd": "0.001",
            "outcome": "retry" if i == 1 else "ok",
        }
        for i in range(1, n + 1)
    ]


def _ticks_between(texts: list[str], after: str | None, before: str) -> list[str]:
    """The tick labels drawn between two of a chart's texts (an axis's ticks come just before
    its label)."""
    lo = texts.index(after) + 1 if after is not None else 0
    ticks = texts[lo : texts.index(before)]
    assert ticks and all(t.replace(".", "", 1).isdigit() for t in ticks), texts
    return ticks


def test_cost_chart_draws_the_budget_line() -> None:
    from evals.report.plots import cost_over_time

    assert "budget $5.00" in _texts(cost_over_time(_attempts(4), budget=5.0))
    assert not any(t.startswith("budget") for t in _texts(cost_over_time(_attempts(4))))


def test_count_axes_have_whole_ticks_and_output_tokens_their_own_axis() -> None:
    from evals.report.plots import (
        latency_histogram,
        loss_curve,
        retries_over_time,
        tokens_over_time,
    )

    whole = str.isdigit
    texts = _texts(tokens_over_time(_attempts(4)))  # 4 input, 3 output tokens: 0.5 ticks without
    assert all(
        map(
            whole,
            _ticks_between(texts, "seconds since the harvest started", "cumulative input tokens"),
        )
    )
    assert all(map(whole, _ticks_between(texts, "output tokens", "cumulative output tokens")))
    retries = _texts(retries_over_time(_attempts(4)))
    assert all(map(whole, _ticks_between(retries, "seconds since the harvest started", "attempts")))
    calm = [{**a, "outcome": "ok"} for a in _attempts(4)]  # nothing to count: 0 and 1, not ±0.045
    none = _texts(retries_over_time(calm))
    assert _ticks_between(none, "seconds since the harvest started", "attempts") == ["0", "1"]
    steps = _texts(loss_curve({"train": [[1, 2.0], [2, 1.5], [3, 1.2]], "validation": []}))
    assert _ticks_between(steps, None, "step") == ["1", "2", "3"]
    hist = _texts(latency_histogram({"teacher": [0.5, 0.6], "student": [0.01]}))
    assert all(map(whole, _ticks_between(hist, "seconds per item (log scale)", "items")))
