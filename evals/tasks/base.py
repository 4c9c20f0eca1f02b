"""What every eval task implements, and how the right one is picked for a template.

A task compares one student answer with the teacher's (and with the gold reference when the
inputs carry one), then sums those comparisons into metrics. One file per task type:

    classification.py   template with output.labels       agreement, accuracy, macro-F1, confusion
    structured.py       template with output.json_schema  JSON validity, field-level exact match
    freetext.py         anything else                     chrF and ROUGE-L against the teacher

    task = task_for(labels=template.labels, json_schema=template.json_schema)  # registry.py
    scores = [task.score(ex) for ex in examples]
    summary = task.summarize(examples, scores)    # {"metrics": {...}, "gap": {...}}

`Score.agree` is what failure mining uses: the items where the student does not say what the
teacher said go to failures.jsonl, to be harvested again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Example:
    """One held-out item as the eval sees it."""

    key: str
    input: dict[str, Any]  # the original input record
    teacher: str  # the teacher's answer (the dataset's assistant message)
    student: str  # the student's answer
    gold: Any = None  # input[eval.gold_field], when the config names one
    teacher_parsed: Any = None  # what the build accepted: its `label` / `parsed` column


@dataclass
class Score:
    agree: bool  # does the student say what the teacher said?
    detail: dict[str, Any] = field(default_factory=dict)  # per-item fields for predictions.jsonl


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


def distillation_gap(
    student: float | None, teacher: float | None, basis: str, metric: str
) -> dict[str, Any]:
    """Student quality as a fraction of the teacher's. `basis` says what both were measured
    against: "gold" (both scored on the reference answers) or "teacher" (the teacher is the
    reference, so its own quality is 1 and the fraction is the student's agreement)."""
    return {
        "basis": basis,
        "metric": metric,
        "student": student,
        "teacher": teacher,
        "fraction": ratio(student, teacher),
    }


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class Task(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def score(self, ex: Example) -> Score:
        """Compare one student answer with the teacher's (and gold)."""

    @abstractmethod
    def summarize(self, examples: list[Example], scores: list[Score]) -> dict[str, Any]:
        """{"metrics": {... "summary": {name: value}}, "gap": distillation_gap(...)}."""
