"""What the token-level loss needs from the run (free-text templates): each train row's
teacher targets per answer token, carried as columns, and how many of them reached training.

Per row, from its `logprobs` (the teacher's tokens and their top-K) and its answer (the last
message), `finetune.answer_targets` gives the student's token ids of the answer alone and a
target (or none) per token. They travel with the row as columns:

    tt_answer   the student's token ids of the answer, tokenised alone
    tt_at       the answer tokens (indices into tt_answer) that have a target
    tt_ids      per such token: the student token ids of its buckets
    tt_probs    per such token: the teacher's probability of each bucket
    tt_tail     per such token: the mass its top-K leaves uncovered

In the tokenised conversation the chat template can tokenise the answer differently (a merge
across the turn's opening); `answer_start` places the targets only where the answer's tokens
are exactly `tt_answer`, else the row trains on cross-entropy alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from synth.student_config import StudentConfig

ANSWER, AT, IDS, PROBS, TAIL = "tt_answer", "tt_at", "tt_ids", "tt_probs", "tt_tail"
COLUMNS = (ANSWER, AT, IDS, PROBS, TAIL)


def row_columns(tokenizer: Any, split: Any) -> dict[str, list[Any]]:
    """The five columns for every row of `split` (empty lists where it has no `logprobs`)."""
    from finetune.answer_targets import answer_targets, first_token_of

    first = first_token_of(tokenizer)
    out: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for messages, raw in zip(split["messages"], split["logprobs"], strict=True):
        teacher = json.loads(raw) if raw else None
        ids, targets = (
            ([], [])
            if not teacher
            else answer_targets(tokenizer, str(messages[-1]["content"]), teacher, first)
        )
        at = [k for k, t in enumerate(targets) if t is not None]
        out[ANSWER].append(ids)
        out[AT].append(at)
        out[IDS].append([list(targets[k].probs) for k in at])  # type: ignore[union-attr]
        out[PROBS].append([list(targets[k].probs.values()) for k in at])  # type: ignore[union-attr]
        out[TAIL].append([targets[k].tail for k in at])  # type: ignore[union-attr]
    return out


def answer_start(labels: Sequence[int], answer: Sequence[int]) -> int | None:
    """Where `answer` starts in a tokenised row: the last run of trained positions (labels not
    -100: the last assistant turn), if it begins with exactly the answer's tokens; else None."""
    if not answer:
        return None
    end = max((i for i, t in enumerate(labels) if t != -100), default=-1)
    if end < 0:
        return None
    start = end
    while start > 0 and labels[start - 1] != -100:
        start -= 1
    n = len(answer)
    return start if list(labels[start : start + n]) == list(answer) else None


@dataclass
class Coverage:
    """How many train answer tokens carried a soft target, measured on the tokenised rows."""

    rows: int = 0
    answer_tokens: int = 0
    aligned_tokens: int = 0
    rows_without_logprobs: int = 0  # no teacher top-K at all
    rows_unspelled: int = 0  # the teacher's tokens do not spell the answer (e.g. canonical JSON)
    rows_unaligned_in_context: int = 0  # the chat template tokenises the answer differently

    @property
    def fraction(self) -> float:
        return self.aligned_tokens / self.answer_tokens if self.answer_tokens else 0.0

    @property
    def rows_without_targets(self) -> int:
        return self.rows_without_logprobs + self.rows_unspelled + self.rows_unaligned_in_context


def coverage(tokenised: Any) -> Coverage:
    """`Coverage` of a split as the trainer tokenised it (its `labels` and the tt columns)."""
    c = Coverage()
    for labels, answer, at in zip(
        tokenised["labels"], tokenised[ANSWER], tokenised[AT], strict=True
    ):
        c.rows += 1
        c.answer_tokens += len(answer)
        if not answer:
            c.rows_without_logprobs += 1
        elif not at:
            c.rows_unspelled += 1
        elif answer_start(labels, answer) is None:
            c.rows_unaligned_in_context += 1
        else:
            c.aligned_tokens += len(at)
    return c


@dataclass
class TokenTargets:
    """`student.distill: soft | mix` on a template without labels."""

    alpha: float  # the weight of the KL term: 1 for soft, distill.alpha for mix
    splits: Any  # datasets.DatasetDict, the built dataset
    tokenizer: Any
    train: Coverage = field(default_factory=Coverage)  # set once the trainer has tokenised

    def attach(self, conversations: Any, split: str) -> Any:
        """`conversations` of `split` with the per-token targets as columns."""
        from datasets import List, Value

        types = {ANSWER: "int64", AT: "int64", IDS: "int64", PROBS: "float32", TAIL: "float32"}
        for name, values in row_columns(self.tokenizer, self.splits[split]).items():
            inner = Value(types[name])
            feature = List(List(inner)) if name in (IDS, PROBS) else List(inner)
            conversations = conversations.add_column(name, values, feature=feature)
        return conversations

    def measure(self, tokenised_train: Any) -> None:
        self.train = coverage(tokenised_train)

    def describe(self, s: StudentConfig) -> dict[str, Any]:
        c = self.train
        return {
            "loss": s.distill.loss,
            "alpha": self.alpha,
            "temperature": s.distill.temperature,
            "targets": "tokens",
            "answer_tokens": c.answer_tokens,
            "aligned_tokens": c.aligned_tokens,
            "aligned_fraction": round(c.fraction, 4),
            "rows_without_targets": c.rows_without_targets,
            "rows_without_logprobs": c.rows_without_logprobs,
            "rows_unspelled": c.rows_unspelled,
            "rows_unaligned_in_context": c.rows_unaligned_in_context,
        }
