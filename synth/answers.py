"""How an answer is read: the one reader that the build's filters use on the teacher's answers
and the eval's tasks use on the student's, so that the student is scored exactly as strictly
as the teacher was filtered.

JSON (a template with `output.json_schema`):

    read_json('{"a": 1}')                              → ({"a": 1}, None)
    read_json('```json\\n{"a": 1}\\n```')                → ({"a": 1}, None)   a fence is tolerated,
    read_json('```jsonc\\n{"a": 1}\\n```')               → ({"a": 1}, None)   whatever its info string,
    read_json('Here you go:\\n```json\\n{"a": 1}\\n```')  → ({"a": 1}, None)   and with prose around it
    read_json('Sure! {"a": 1}')                        → (None, "not JSON: Expecting value (char 0)")
    read_json(None)                                    → (None, "no answer")

Labels (a template with `output.labels`, here [billing, shipping, refund_request]):

    read_label("Billing.", labels)                     → "billing"
    read_label("Category: **Shipping**", labels)       → "shipping"
    read_label("refund request", labels)               → "refund_request"  (spaces, '-', '_' alike)
    read_label("billing or shipping", labels)          → None
    read_label("The category is billing.", labels)     → "billing" only with lenient=True
"""

from __future__ import annotations

import json
import re
from typing import Any

# the first fenced block: ```json, ```jsonc, ``` ... (the info string is not checked)
_JSON_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.DOTALL)
# a label answer that is one fenced block
_LABEL_FENCE = re.compile(r"^```[\w-]*\s*(.*?)\s*```$", re.DOTALL)
# "Category: x", "Label - x", "Answer = x": a short lead-in before the label
_WRAPPER = re.compile(r"^[^\W\d][\w ]{0,30}?\s*[:=\-]\s*(.+)$", re.DOTALL)
_EDGES = " \t\r\n.,;:!?\"'`*_()[]{}<>"


def parse_json(text: str) -> Any:
    """The JSON value in an answer, fenced or not; raises json.JSONDecodeError (a ValueError)."""
    text = text.strip()
    if text.startswith("```") or not text.startswith(("{", "[")):
        m = _JSON_FENCE.search(text)
        if m:
            text = m.group(1).strip()
    return json.loads(text)


def read_json(text: str | None) -> tuple[Any, str | None]:
    """(value, None), or (None, why it is not JSON)."""
    if text is None:
        return None, "no answer"
    try:
        return parse_json(text), None
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg} (char {e.pos})"


def _key(text: str) -> str:
    return " ".join(re.split(r"[\s_\-]+", text.casefold())).strip()


class LabelMatcher:
    """Answer → label, or None. Built once per label set (it compiles a pattern)."""

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

    def match(self, answer: str | None) -> str | None:
        if answer is None:
            return None
        text = answer.strip()
        fenced = _LABEL_FENCE.match(text)
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


def read_label(text: str | None, labels: list[str], lenient: bool = False) -> str | None:
    """The one label an answer names, or None (see LabelMatcher to read many answers)."""
    return LabelMatcher(labels, lenient).match(text)
