"""The teacher's label distribution from its answer's top-K log-probabilities, as tables."""

from __future__ import annotations

import math
from typing import Any

import pytest

from synth.dataset.teacher_dist import label_distribution

LABELS = ["billing", "refund", "order_change", "order_status", "account"]


def tok(token: str, **top: float) -> dict[str, Any]:
    """One answer token: the chosen `token`, and its top-K as probabilities."""
    alts = {k.replace("_SP_", " "): math.log(p) for k, p in top.items()} or {token: 0.0}
    return {"token": token, "logprob": alts.get(token, 0.0), "top": alts}


CASES = [
    # (what it shows, tokens, expected distribution or None)
    (
        "labels that are whole tokens",
        [tok("billing", billing=0.7, refund=0.2, account=0.1)],
        {"billing": 0.7, "refund": 0.2, "account": 0.1},
    ),
    (
        "case and leading space normalised",
        [tok("Billing", Billing=0.6, _SP_refund=0.3, ACCOUNT=0.1)],
        {"billing": 0.6, "refund": 0.3, "account": 0.1},
    ),
    (
        "mass on no label is dropped and the rest renormalised",
        [tok("billing", billing=0.6, Category=0.2, refund=0.2)],
        {"billing": 0.75, "refund": 0.25},
    ),
    (
        "a token that begins one label only gives it that label",
        [tok("bill", bill=0.8, ref=0.2), tok("ing", ing=1.0)],
        {"billing": 0.8, "refund": 0.2},
    ),
    (
        "a shared first token is resolved by the following tokens",
        [tok("order", order=0.9, refund=0.1), tok("_change", _change=0.6, _status=0.4)],
        {"order_change": 0.54, "order_status": 0.36, "refund": 0.1},
    ),
    (
        "a shared first token the teacher did not follow is dropped",
        [tok("billing", billing=0.7, order=0.3)],
        {"billing": 1.0},
    ),
    (
        "punctuation after a label is still that label",
        [tok("refund", refund=0.5, account=0.5), tok(".", **{".": 1.0})],
        {"refund": 0.5, "account": 0.5},
    ),
    (
        "a label is read where it ends; what the answer says after it does not change it",
        [tok("billing", billing=0.6, refund=0.4), tok(" issue", _SP_issue=1.0)],
        {"billing": 0.6, "refund": 0.4},
    ),
    (
        "too little mass on labels falls back to the hard label",
        [tok("Category", Category=0.8, billing=0.2)],
        None,
    ),
    ("no log-probabilities: hard label", [], None),
]


@pytest.mark.parametrize(("name", "tokens", "want"), CASES, ids=[c[0] for c in CASES])
def test_label_distribution(name: str, tokens: list[dict[str, Any]], want: Any) -> None:
    got = label_distribution(tokens, LABELS)
    if want is None:
        assert got is None
        return
    assert got is not None
    assert sum(got.values()) == pytest.approx(1.0)
    assert {k: v for k, v in got.items() if v > 0} == pytest.approx(want)


def test_min_mass_is_configurable() -> None:
    tokens = [tok("billing", billing=0.3, Category=0.7)]
    assert label_distribution(tokens, LABELS) is None
    assert label_distribution(tokens, LABELS, min_mass=0.2) == pytest.approx(
        {"billing": 1.0, "refund": 0.0, "order_change": 0.0, "order_status": 0.0, "account": 0.0}
    )
