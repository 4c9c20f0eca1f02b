"""Teacher tokens onto student tokens by character offsets, as tables: a student tokenizer
that splits the teacher's tokens, and one that merges them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from finetune.token_align import align, aligned_fraction


def tok(token: str, **top: float) -> dict[str, Any]:
    alts = {k.replace("_", " "): math.log(p) for k, p in top.items()}
    return {"token": token, "logprob": alts[token], "top": alts}


# the teacher wrote "billing is late" as "bill" "ing" " is" " late"
TEACHER = [
    tok("bill", bill=0.8, refund=0.1),  # 0.1 uncovered by the top-K
    tok("ing", ing=0.9, ed=0.1),
    tok(" is", _is=0.5, _was=0.5),
    tok(" late", _late=1.0),
]
VOCAB = ["bi", "ll", "ing", " is", " la", "te", "billing", " is late", "re", "ed", " was"]
ID = {t: i for i, t in enumerate(VOCAB)}


def first_token(text: str) -> int | None:
    """The student's first token of `text`: the longest vocabulary entry it begins with."""
    found = [t for t in VOCAB if text.startswith(t)]
    return ID[max(found, key=len)] if found else None


def spans(pieces: list[str]) -> list[tuple[int, int]]:
    out, at = [], 0
    for p in pieces:
        out.append((at, at + len(p)))
        at += len(p)
    return out


CASES = [
    # (what it shows, student pieces, expected per piece: None or ({token: p}, tail))
    (
        "a student that splits teacher tokens: only pieces that start a teacher token",
        ["bi", "ll", "ing", " is", " la", "te"],
        [
            ({"bi": 0.8, "re": 0.1}, 0.1),  # "bill" begins with "bi", "refund" with "re"
            None,  # starts inside "bill"
            ({"ing": 0.9, "ed": 0.1}, 0.0),
            ({" is": 0.5, " was": 0.5}, 0.0),
            ({" la": 1.0}, 0.0),  # " late" begins with " la"
            None,  # starts inside " late"
        ],
    ),
    (
        "a student that merges teacher tokens: the chosen path carries on, the rest is tail",
        ["billing", " is late"],
        [
            ({"billing": 0.8 * 0.9, "re": 0.1}, 0.8 * 0.1 + 0.1),
            ({" is late": 0.5 * 1.0, " was": 0.5}, 0.0),
        ],
    ),
]


@pytest.mark.parametrize(("name", "pieces", "want"), CASES, ids=[c[0] for c in CASES])
def test_align(name: str, pieces: list[str], want: list[Any]) -> None:
    targets = align(TEACHER, spans(pieces), [ID[p] for p in pieces], first_token)
    assert len(targets) == len(want)
    for got, expected in zip(targets, want, strict=True):
        if expected is None:
            assert got is None
            continue
        assert got is not None
        probs, tail = expected
        assert got.probs == pytest.approx({ID[k]: v for k, v in probs.items()})
        assert got.tail == pytest.approx(tail)
        assert sum(got.probs.values()) + got.tail == pytest.approx(1.0)


def test_aligned_fraction() -> None:
    split = ["bi", "ll", "ing", " is", " la", "te"]
    targets = align(TEACHER, spans(split), [ID[p] for p in split], first_token)
    assert aligned_fraction(targets) == pytest.approx(4 / 6)
    assert aligned_fraction([]) == 0.0
