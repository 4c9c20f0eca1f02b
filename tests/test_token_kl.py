"""The token-level sparse KL against hand-computed values, and the vLLM token-id lookup."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from finetune.token_align import Target, align  # noqa: E402
from finetune.token_kl import first_token_or_id, sparse_kl  # noqa: E402


def test_kl_over_buckets_matches_a_hand_computation() -> None:
    # student softmax over 4 tokens: exp(0), exp(ln 2), exp(0), exp(0) -> .2 .4 .2 .2
    logits = torch.tensor([[0.0, math.log(2.0), 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]])
    targets = [Target({1: 0.6, 2: 0.2}, tail=0.2), None]  # the 2nd position has no alignment
    # buckets: token 1 (q .4), token 2 (q .2), tail (q = 1 - .6 = .4)
    expected = 0.6 * math.log(0.6 / 0.4) + 0.2 * math.log(0.2 / 0.2) + 0.2 * math.log(0.2 / 0.4)
    assert float(sparse_kl(logits, targets)) == pytest.approx(expected, abs=1e-6)


def test_temperature_softens_both_sides_and_scales_by_t_squared() -> None:
    logits = torch.tensor([[0.0, math.log(2.0), 0.0, 0.0]])
    target = Target({1: 0.6, 2: 0.2}, tail=0.2)
    z = 1 + math.sqrt(2) + 1 + 1  # softmax of logits / 2
    q = [math.sqrt(2) / z, 1 / z, 1 - (math.sqrt(2) + 1) / z]
    raw = [math.sqrt(0.6), math.sqrt(0.2), math.sqrt(0.2)]
    p = [x / sum(raw) for x in raw]
    expected = 4 * sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert float(sparse_kl(logits, [target], temperature=2.0)) == pytest.approx(expected, abs=1e-6)


def test_no_aligned_position_is_a_zero_that_keeps_the_graph() -> None:
    logits = torch.zeros(3, 5, requires_grad=True)
    loss = sparse_kl(logits, [None, None, None])
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_descending_the_kl_reaches_the_teacher_through_an_alignment() -> None:
    # teacher "bill" "ing"; a student that splits "bill" into "bi" "ll"
    teacher = [
        {
            "token": "bill",
            "logprob": math.log(0.7),
            "top": {"bill": math.log(0.7), "re": math.log(0.2)},
        },
        {"token": "ing", "logprob": math.log(0.9), "top": {"ing": math.log(0.9)}},
    ]
    vocab = ["bi", "ll", "ing", "re", "x"]
    first = {"bill": 0, "re": 3, "ing": 2}
    targets = align(teacher, [(0, 2), (2, 4), (4, 7)], [0, 1, 2], first.get)
    assert targets[1] is None  # "ll" starts inside the teacher's "bill": CE alone
    logits = torch.zeros(3, len(vocab), requires_grad=True)
    opt = torch.optim.SGD([logits], lr=2.0)
    start = sparse_kl(logits, targets).item()
    for _ in range(300):
        opt.zero_grad()
        loss = sparse_kl(logits, targets)
        loss.backward()
        opt.step()
    assert loss.item() < 0.01 * start
    q = logits.detach().softmax(-1)
    assert float(q[0, 0]) == pytest.approx(0.7, abs=0.02)  # the teacher's "bill" onto "bi"
    assert float(q[0, 3]) == pytest.approx(0.2, abs=0.02)
    assert float(q[2, 2]) == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("token_id:7", 7), ("token_id:0", 0), ("token_id:x", None), ("bill", 42), ("zz", None)],
)
def test_token_ids_from_a_same_tokenizer_teacher_are_used_as_they_are(
    text: str, expected: int | None
) -> None:
    lookup = first_token_or_id({"bill": 42}.get)
    assert lookup(text) == expected
