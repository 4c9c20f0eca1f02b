"""Structured output: the template gives a JSON Schema; the answer is one JSON object.

A sample item (schema: {"type": "object", "properties": {"name": {...}, "year": {...}},
"required": ["name", "year"]}):

    input:    {"text": "Ada Lovelace wrote the first program in 1843."}
    teacher:  {"name": "Ada Lovelace", "year": 1843}
    student:  ```json {"name": "Ada Lovelace", "year": 1842} ```
              -> valid JSON, valid against the schema, 1 of 2 fields match: disagrees

The student's answer is read as the build read the teacher's (synth.answers): a fence with
any info string, and prose around it, are forgiven alike.

Metrics: how often the student's answer is JSON valid against the schema, whole-object and
field-level exact match against the teacher (per field too), and against gold where the
inputs carry a reference object. The distillation gap is the field match on gold of the
student over the teacher's where there is gold, else the field match against the teacher.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from evals.tasks.base import Example, Score, Task, distillation_gap, mean
from synth.answers import read_json

_MISSING = object()


def _as_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        obj, _ = read_json(value)
        return obj if isinstance(obj, dict) else None
    return None


def field_matches(reference: dict[str, Any], predicted: dict[str, Any] | None) -> dict[str, bool]:
    """For each field of the reference object: does the prediction hold the same value?"""
    return {
        k: predicted is not None and predicted.get(k, _MISSING) == v for k, v in reference.items()
    }


class Structured(Task):
    kind = "structured"

    def __init__(self, json_schema: dict[str, Any]) -> None:
        self.schema = json_schema
        self.validator = jsonschema.validators.validator_for(json_schema)(json_schema)

    def _check(self, text: str | None) -> tuple[dict[str, Any] | None, bool, str | None]:
        """(object or None, valid against the schema, first problem)."""
        obj, err = read_json(text)
        if err is not None:
            return None, False, err
        if not isinstance(obj, dict):
            return None, False, f"not a JSON object but {type(obj).__name__}"
        problem = next(iter(self.validator.iter_errors(obj)), None)
        if problem is not None:
            where = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
            return obj, False, f"schema: {where}: {problem.message}"
        return obj, True, None

    def score(self, ex: Example) -> Score:
        student, valid, problem = self._check(ex.student)
        teacher = _as_object(ex.teacher_parsed) if ex.teacher_parsed is not None else None
        if teacher is None:
            teacher, _, _ = self._check(ex.teacher)
        detail: dict[str, Any] = {
            "student_parsed": student,
            "student_valid": valid,
            "student_problem": problem,
            "teacher_parsed": teacher,
            "fields_vs_teacher": field_matches(teacher, student) if teacher is not None else None,
        }
        gold = _as_object(ex.gold)
        if gold is not None:
            detail["gold"] = gold
            detail["fields_vs_gold"] = field_matches(gold, student)
            detail["teacher_fields_vs_gold"] = field_matches(gold, teacher)
        return Score(agree=teacher is not None and student == teacher, detail=detail)

    def summarize(self, examples: list[Example], scores: list[Score]) -> dict[str, Any]:
        def micro(key: str) -> float | None:
            return mean(
                [float(v) for s in scores if s.detail.get(key) for v in s.detail[key].values()]
            )

        def per_field(key: str) -> dict[str, float]:
            hits: dict[str, list[float]] = {}
            for s in scores:
                for name, ok in (s.detail.get(key) or {}).items():
                    hits.setdefault(name, []).append(float(ok))
            return {name: sum(v) / len(v) for name, v in hits.items()}

        with_teacher = [s for s in scores if s.detail["teacher_parsed"] is not None]
        metrics: dict[str, Any] = {
            "items": len(scores),
            "json_valid": mean([float(s.detail["student_valid"]) for s in scores]),
            "json_parsed": mean([float(s.detail["student_parsed"] is not None) for s in scores]),
            "teacher_json_valid": mean([float(self._check(e.teacher)[1]) for e in examples]),
            "exact_match_vs_teacher": mean([float(s.agree) for s in with_teacher]),
            "field_match_vs_teacher": micro("fields_vs_teacher"),
            "per_field_vs_teacher": per_field("fields_vs_teacher"),
            "gold": None,
        }
        summary = {
            "JSON valid against the schema": metrics["json_valid"],
            "exact match vs teacher": metrics["exact_match_vs_teacher"],
            "field match vs teacher": metrics["field_match_vs_teacher"],
        }
        gold_scores = [s for s in scores if "gold" in s.detail]
        if gold_scores:
            metrics["gold"] = {
                "items": len(gold_scores),
                "student_field_match": micro("fields_vs_gold"),
                "teacher_field_match": micro("teacher_fields_vs_gold"),
                "student_exact_match": mean(
                    [float(s.detail["student_parsed"] == s.detail["gold"]) for s in gold_scores]
                ),
                "teacher_exact_match": mean(
                    [float(s.detail["teacher_parsed"] == s.detail["gold"]) for s in gold_scores]
                ),
                "per_field": per_field("fields_vs_gold"),
            }
            summary["student field match vs gold"] = metrics["gold"]["student_field_match"]
            summary["teacher field match vs gold"] = metrics["gold"]["teacher_field_match"]
            gap = distillation_gap(
                metrics["gold"]["student_field_match"],
                metrics["gold"]["teacher_field_match"],
                "gold",
                "field match",
            )
        else:
            fm = metrics["field_match_vs_teacher"]
            gap = distillation_gap(fm, 1.0 if fm is not None else None, "teacher", "field match")
        metrics["summary"] = summary
        return {"metrics": metrics, "gap": gap}
