"""The teacher's distribution over a template's labels, read from its answer's top-K log-probs.

An API teacher's tokens come from its own tokenizer, so labels are matched by text: each
top-K entry of the first answer token is compared with the labels (case and leading space
normalised). An entry that begins exactly one label gives that label its probability; one
that begins several ("order" for order_change and order_status) is resolved by the following
tokens, which the response gives for the path the teacher took: the entry that is the chosen
token passes its mass on to the next position's top-K, conditionally. Mass on no label
(a "Category" lead-in, another word, what the top-K does not cover) and mass that cannot be
resolved (an alternative the teacher did not follow) is dropped and the rest renormalised;
when what is left is below `min_mass`, the row keeps its hard label only (None).

    >>> top = [{"token": "bill", "logprob": log(0.6), "top": {"bill": log(0.6), " Refund": log(0.3)}},
    ...        {"token": "ing", "logprob": 0.0, "top": {"ing": 0.0}}]
    >>> label_distribution(top, ["billing", "refund"])
    {'billing': 0.666..., 'refund': 0.333...}

Entries are the journal's form of an answer token: {"token", "logprob", "top": {token: lp}}.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

DEFAULT_MIN_MASS = 0.5
# a label followed by this much is still that label: "billing." or "billing\n"
_TRAILER = re.compile(r"[^\w]*")


def label_distribution(
    tokens: Sequence[dict[str, Any]] | None,
    labels: Sequence[str],
    *,
    min_mass: float = DEFAULT_MIN_MASS,
) -> dict[str, float] | None:
    """{label: probability} over every label (summing to 1), or None to keep the hard label."""
    if not tokens or not labels:
        return None
    keys = {_norm(label, first=True): label for label in labels}
    mass = dict.fromkeys(labels, 0.0)
    _walk(tokens, 0, "", list(keys), 1.0, keys, mass)
    total = sum(mass.values())
    if total < min_mass or total <= 0:
        return None
    return {label: p / total for label, p in mass.items()}


def _walk(
    tokens: Sequence[dict[str, Any]],
    pos: int,
    done: str,
    candidates: list[str],
    weight: float,
    keys: dict[str, str],
    mass: dict[str, float],
) -> None:
    """Give `weight` (the probability of the text `done` so far) to the labels it leads to."""
    if pos == len(tokens):  # the answer ended here: a label if `done` is one
        ended = [c for c in candidates if _is(c, done)]
        if ended:
            mass[keys[ended[0]]] += weight
        return
    chosen = tokens[pos].get("token")
    top = tokens[pos].get("top") or {chosen: tokens[pos].get("logprob", 0.0)}
    for token, logprob in top.items():
        p = weight * math.exp(logprob)
        text = done + _norm(token, first=not done)
        ended = [c for c in candidates if _is(c, text)]
        going = [c for c in candidates if c.startswith(text) and c != text]
        if ended and not going:
            mass[keys[ended[0]]] += p
        elif len(going) == 1 and not ended:
            mass[keys[going[0]]] += p  # the only label this can begin
        elif (ended or going) and token == chosen:
            _walk(tokens, pos + 1, text, ended + going, p, keys, mass)
        # else: no label, or an alternative path the response does not follow: dropped


def _is(label: str, text: str) -> bool:
    """`text` is `label`, perhaps followed by punctuation or whitespace."""
    return text.startswith(label) and _TRAILER.fullmatch(text[len(label) :]) is not None


def _norm(token: str, *, first: bool) -> str:
    token = token.lower()
    return token.lstrip() if first else token
