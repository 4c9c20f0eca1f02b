"""One free-text answer's token-level soft targets: the dataset's `logprobs` column (the
teacher's tokens and their top-K) onto the student's tokens of the same answer.

The student's tokens and their character offsets come from its fast tokenizer; a teacher
alternative's student token is the first token the student's tokenizer gives that string
(`finetune.token_align`). A teacher that shares the student's tokenizer and returns ids (vLLM's
`return_tokens_as_token_ids`: `token_id:123`) is taken as it is: position by position, its ids
are the student's. Where the teacher's tokens do not spell the answer (a filter rewrote it, or
the teacher's text was trimmed), no position gets a target: cross-entropy alone, never a target
on the wrong token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from finetune.token_align import Target, align
from finetune.token_kl import TOKEN_ID_PREFIX, first_token_or_id


def answer_targets(
    tokenizer: Any,
    answer: str,
    teacher: Sequence[dict[str, Any]],
    first_token: Callable[[str], int | None] | None = None,
) -> tuple[list[int], list[Target | None]]:
    """The student's token ids of `answer`, and one target (or None) per token.

    `first_token` (from `first_token_of(tokenizer)`, made once for many answers) caches the
    teacher alternatives' first student tokens: the same few strings come back at every step."""
    if teacher and all(str(t["token"]).startswith(TOKEN_ID_PREFIX) for t in teacher):
        same = _same_tokenizer(teacher)
        if same is not None:
            return same
    enc = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    ids = [int(i) for i in enc["input_ids"]]
    if "".join(str(t["token"]) for t in teacher) != answer:
        return ids, [None] * len(ids)
    spans = [(int(s), int(e)) for s, e in enc["offset_mapping"]]
    first = first_token or first_token_of(tokenizer)
    return ids, align(teacher, spans, ids, first_token_or_id(first))


def first_token_of(tokenizer: Any) -> Callable[[str], int | None]:
    """The student token id a string begins with (None for ''), cached."""

    @lru_cache(maxsize=65536)
    def first(text: str) -> int | None:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return int(ids[0]) if ids else None

    return first


def _same_tokenizer(
    teacher: Sequence[dict[str, Any]],
) -> tuple[list[int], list[Target | None]] | None:
    """The teacher's ids as the student's, or None if one is malformed (then the answer is
    tokenised as text and, its tokens not spelling it, gets no targets)."""
    import math

    lookup = first_token_or_id(lambda _text: None)
    ids: list[int] = []
    targets: list[Target | None] = []
    for t in teacher:
        chosen = lookup(str(t["token"]))
        if chosen is None:
            return None
        ids.append(chosen)
        target = Target()
        covered = 0.0
        for text, logprob in (t.get("top") or {t["token"]: t["logprob"]}).items():
            p = math.exp(float(logprob))
            covered += p
            target.add(lookup(str(text)), p)
        target.tail += max(0.0, 1.0 - covered)
        targets.append(target)
    return ids, targets
