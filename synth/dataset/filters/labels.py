"""`labels`: a classification answer must come down to exactly one of the template's labels.

labels: [billing, shipping, refund_request]
"Billing."                       → billing
"Category: **Shipping**"         → shipping
"refund request"                 → refund_request   (spaces, '-' and '_' are one separator)
"billing or shipping"            → Reject("not_a_label", ...)
"The category is billing."       → billing only with `lenient: true`
"""

from __future__ import annotations

import re

from synth.dataset.config import LabelsFilter
from synth.dataset.filters.base import Candidate, Filter, Reject

_FENCE = re.compile(r"^```[\w-]*\s*(.*?)\s*```$", re.DOTALL)
# "Category: x", "Label - x", "Answer = x": a short lead-in before the label
_WRAPPER = re.compile(r"^[^\W\d][\w ]{0,30}?\s*[:=\-]\s*(.+)$", re.DOTALL)
_EDGES = " \t\r\n.,;:!?\"'`*_()[]{}<>"


def _key(text: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", text.casefold())).strip()


class LabelMatcher:
    """Answer → label, or None. Built once per template."""

    def __init__(self, labels: list[str], lenient: bool = False) -> None:
        self.by_key: dict[str, str] = {}
        for label in labels:
            self.by_key.setdefault(_key(label), label)
        self.lenient = lenient
        self._mention = re.compile(
            r"(?<!\w)("
            + "|".join(re.escape(k) for k in sorted(self.by_key, key=len, reverse=True))
            + r")(?!\w)"
        )

    def match(self, answer: str) -> str | None:
        text = answer.strip()
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
        for candidate in (text, *self._unwrapped(text)):
            label = self.by_key.get(_key(candidate.strip(_EDGES)))
            if label is not None:
                return label
        if self.lenient:
            found = {m.group(1) for m in self._mention.finditer(_key(text))}
            if len(found) == 1:
                return self.by_key[found.pop()]
        return None

    @staticmethod
    def _unwrapped(text: str) -> list[str]:
        m = _WRAPPER.match(text.strip(_EDGES))
        return [m.group(1)] if m else []


class Labels(Filter):
    name = "labels"

    def __init__(self, spec: LabelsFilter, labels: list[str]) -> None:
        self.matcher = LabelMatcher(labels, lenient=spec.lenient)

    def check(self, c: Candidate) -> Reject | None:
        label = self.matcher.match(c.answer)
        if label is None:
            return Reject("not_a_label", c.answer[:200])
        c.label = label
        return None
