"""Teacher top-K log-probs onto a student with another tokenizer, by character offsets.

For free-text answers (no label set) the teacher's distribution is per token of its own
tokenizer. Both tokenizations cover the same answer text, so they meet where their tokens
start at the same character. At each student token that starts where a teacher token starts,
the teacher's top-K strings are mapped onto the student tokens they begin with (their first
student token); the mass the top-K does not cover goes to one tail bucket. Where the student
token is longer than the teacher's (it merges several), the chosen alternative carries on
along the teacher's path: its share is the product of the chosen tokens' probabilities up to
the student token's end, the rest goes to the tail. A student token that starts inside a
teacher token, or merges up to the middle of one, gets no soft target (cross-entropy alone).

    teacher "bill" "ing" " is"    student "bi" "ll" "ing" " is"   → targets at "bi" "ing" " is"
    teacher "bill" "ing" " is"    student "billing" " is"        → targets at both

`align` returns one target per student token, or None; `aligned_fraction` is the share with
one. (This is the building block of the token-level loss; the trainer does not use it yet.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Target:
    """A sparse teacher distribution over student token ids, plus the uncovered mass."""

    probs: dict[int, float] = field(default_factory=dict)
    tail: float = 0.0

    def add(self, token_id: int | None, p: float) -> None:
        """Mass `p` onto a student token, or onto the tail when it maps to none."""
        if token_id is None:
            self.tail += p
        else:
            self.probs[token_id] = self.probs.get(token_id, 0.0) + p


def align(
    teacher: Sequence[dict[str, Any]],
    student_spans: Sequence[tuple[int, int]],
    student_ids: Sequence[int],
    first_token: Callable[[str], int | None],
) -> list[Target | None]:
    """One target (or None) per student token.

    `teacher`: the journal's answer tokens ({"token", "logprob", "top": {str: logprob}}) whose
    strings join into the answer; `student_spans`: each student token's (start, end) character
    offsets in the same answer; `student_ids`: the student's tokens; `first_token(s)`: the
    student token id that the string `s` begins with (None if it has none).
    """
    starts: dict[int, int] = {}  # character → index of the teacher token starting there
    ends: list[int] = []
    at = 0
    for i, t in enumerate(teacher):
        starts[at] = i
        at += len(t["token"])
        ends.append(at)
    targets: list[Target | None] = []
    for (s, e), sid in zip(student_spans, student_ids, strict=True):
        found = starts.get(s)
        if found is None or (e > ends[found] and e not in ends[found:]):
            targets.append(None)  # starts inside a teacher token, or merges into the middle of one
            continue
        i = found
        last = i if e <= ends[i] else ends.index(e, i)
        # the teacher's probability of carrying on along its path to the student token's end
        onward = math.exp(sum(float(teacher[k]["logprob"]) for k in range(i + 1, last + 1)))
        target = Target()
        chosen = teacher[i]["token"]
        top = teacher[i].get("top") or {chosen: teacher[i]["logprob"]}
        covered = 0.0
        for text, logprob in top.items():
            p = math.exp(float(logprob))
            covered += p
            if text == chosen and last > i:
                target.add(sid, p * onward)
                target.add(None, p * (1.0 - onward))
                continue
            target.add(first_token(text), p)
        target.tail += max(0.0, 1.0 - covered)
        targets.append(target)
    return targets


def aligned_fraction(targets: Sequence[Target | None]) -> float:
    """The share of answer tokens that carry a soft target."""
    return sum(t is not None for t in targets) / len(targets) if targets else 0.0
