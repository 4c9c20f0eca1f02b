"""The build reads a teacher's answer and the eval reads a student's the same way
(synth.answers): on a table of tricky answers, what the build's filter keeps is exactly what
the eval scores as valid, with the same value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_filters import item

from evals.tasks.base import Example
from evals.tasks.classification import Classification
from evals.tasks.structured import Structured
from synth.answers import read_json, read_label
from synth.dataset.config import JsonSchemaFilter, LabelsFilter
from synth.dataset.filters.base import Candidate
from synth.dataset.filters.json_schema import JsonSchema
from synth.dataset.filters.labels import Labels

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
}
LABELS = ["billing", "shipping", "refund_request"]

JSON_ANSWERS = [
    # (answer, the value read, or None when it is not JSON)
    ('{"a": 1}', {"a": 1}),
    ('  {"a": 1}\n', {"a": 1}),
    ('```json\n{"a": 1}\n```', {"a": 1}),
    ('```JSON\n{"a": 1}\n```', {"a": 1}),
    ('```jsonc\n{"a": 1}\n```', {"a": 1}),
    ('```\n{"a": 1}\n```', {"a": 1}),
    ('```json {"a": 1} ```', {"a": 1}),
    ('Here you go:\n```json\n{"a": 1}\n```', {"a": 1}),
    ('Here you go:\n```json\n{"a": 1}\n```\nAnything else?', {"a": 1}),
    ('Sure! {"a": 1}', None),
    ('{"a": 1', None),
    ('```json\n{"a": 1}', None),  # an unclosed fence: cut off by max_tokens
    ("", None),
    ("[1, 2]", [1, 2]),  # JSON, but not the object the schema asks for
    ('{"a": "one"}', {"a": "one"}),  # JSON, but against the schema
]


def build_reads(answer: str) -> tuple[Any, str | None]:
    """(the value the build keeps, or None; the reject reason)."""
    f = JsonSchema(JsonSchemaFilter(), SCHEMA)
    c = Candidate(item(answer))
    reject = f.check(c)
    return (None, reject.reason) if reject else (json.loads(c.parsed_json or "null"), None)


@pytest.mark.parametrize("answer, value", JSON_ANSWERS)
def test_build_and_eval_read_a_json_answer_alike(answer: str, value: Any) -> None:
    assert read_json(answer)[0] == value
    kept, reason = build_reads(answer)
    score = Structured(SCHEMA).score(Example(key="k", input={}, teacher='{"a": 1}', student=answer))
    # the student's answer is valid in eval exactly when the teacher's would be kept in build
    assert score.detail["student_valid"] == (kept is not None), (reason, score.detail)
    if kept is not None:
        assert score.detail["student_parsed"] == kept == value
    else:
        assert reason == ("invalid_json" if value is None else "schema")


LABEL_ANSWERS = [
    ("billing", "billing"),
    ("Billing.", "billing"),
    ("BILLING", "billing"),
    ("Category: **Shipping**", "shipping"),
    ("refund request", "refund_request"),
    ("refund-request", "refund_request"),
    ("```\nbilling\n```", "billing"),
    ("`shipping`", "shipping"),
    ("billing or shipping", None),
    ("The category is billing.", None),  # a sentence is a label only with lenient: true
    ("", None),
    ("returns", None),
]


@pytest.mark.parametrize("answer, label", LABEL_ANSWERS)
def test_build_and_eval_read_a_label_alike(answer: str, label: str | None) -> None:
    assert read_label(answer, LABELS) == label
    c = Candidate(item(answer))
    reject = Labels(LabelsFilter(), LABELS).check(c)
    assert (c.label if reject is None else None) == label
    score = Classification(LABELS).score(
        Example(key="k", input={}, teacher="billing", student=answer)
    )
    assert score.detail["student_label"] == label
