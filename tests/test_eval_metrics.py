"""Eval metrics on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from evals.tasks import Example, task_for
from evals.tasks.classification import (
    INVALID,
    Classification,
    confusion,
    macro_f1,
    normalize_label,
    per_class,
)
from evals.tasks.freetext import AGREE_CHRF, FreeText
from evals.tasks.structured import Structured
from synth.answers import read_json

LABELS = ["billing", "shipping", "refund_request"]


def _run(task, rows):
    examples = [Example(key=str(i), input={"i": i}, **row) for i, row in enumerate(rows)]
    scores = [task.score(ex) for ex in examples]
    return scores, task.summarize(examples, scores)


def test_task_for_picks_the_template_kind() -> None:
    assert task_for(labels=LABELS).kind == "classification"
    assert task_for(json_schema={"type": "object"}).kind == "structured"
    assert task_for().kind == "text"


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("billing", "billing"),
        ("  Billing.\n", "billing"),
        ("Category: **Shipping**", "shipping"),
        ("refund request", "refund_request"),
        ("Refund-Request", "refund_request"),
        ("'billing'", "billing"),
        ("billing or shipping", None),
        ("I think it is about billing", None),
        ("", None),
    ],
)
def test_student_answers_are_read_as_the_build_reads_the_teacher(
    answer: str, label: str | None
) -> None:
    assert normalize_label(answer, LABELS) == label


def test_macro_f1_known_value() -> None:
    # a: P 1, R 1/2, F1 2/3 · b: P 2/3, R 1, F1 4/5 · c: P 1, R 1/2, F1 2/3 → (2/3 + 4/5 + 2/3) / 3
    ref = ["a", "a", "b", "b", "c", "c"]
    pred = ["a", "b", "b", "b", "c", None]
    assert macro_f1(ref, pred) == pytest.approx(32 / 45)
    assert macro_f1(ref, ref) == 1.0
    assert macro_f1([], []) is None
    # a predicted label absent from the reference counts (F1 0), as in scikit-learn
    assert macro_f1(["a", "a"], ["a", "z"]) == pytest.approx((2 / 3 + 0) / 2)


def _prf(p: float | None, r: float | None, f1: float | None, support: int) -> dict[str, object]:
    approx = [None if v is None else pytest.approx(v) for v in (p, r, f1)]
    return {"precision": approx[0], "recall": approx[1], "f1": approx[2], "support": support}


def test_per_class_precision_recall_f1_known_values() -> None:
    # the same lists as the macro-F1 case above, worked out label by label
    ref = ["a", "a", "b", "b", "c", "c"]
    pred = ["a", "b", "b", "b", "c", None]
    out = per_class(ref, pred, ["c", "a", "b", "d"])
    assert list(out) == ["c", "a", "b", "d"]  # the given order; d appears nowhere
    assert out["a"] == _prf(1.0, 1 / 2, 2 / 3, 2)  # TP 1, FP 0, FN 1
    assert out["b"] == _prf(2 / 3, 1.0, 4 / 5, 2)  # TP 2, FP 1, FN 0
    assert out["c"] == _prf(1.0, 1 / 2, 2 / 3, 2)  # the invalid answer is c's miss
    assert out["d"] == _prf(None, None, None, 0)
    # a label only predicted: precision 0, recall undefined, F1 0; one never predicted: the
    # other way round
    out = per_class(["a", "a", "y"], ["a", "z", "a"])
    assert list(out) == ["a", "y", "z"]
    assert out["a"] == _prf(1 / 2, 1 / 2, 1 / 2, 2)
    assert out["y"] == _prf(None, 0.0, 0.0, 1)
    assert out["z"] == _prf(0.0, None, 0.0, 0)


def test_confusion_matrix_rows_reference_columns_student() -> None:
    c = confusion(["a", "a", "b"], ["a", None, "a"], ["a", "b"])
    assert c == {
        "rows": ["a", "b"],
        "columns": ["a", "b", INVALID],
        "matrix": [[1, 0, 1], [1, 0, 0]],
    }


def test_classification_metrics_and_gap_on_gold() -> None:
    rows = [
        # teacher, student, gold
        dict(teacher="billing", student="billing", gold="billing"),
        dict(teacher="billing", student="Category: Billing", gold="billing"),
        dict(teacher="shipping", student="shipping", gold="shipping"),
        dict(teacher="shipping", student="billing", gold="shipping"),
        dict(teacher="refund_request", student="no idea", gold="refund_request"),
        dict(
            teacher="billing", student="shipping", gold="shipping"
        ),  # teacher wrong, student right
    ]
    scores, out = _run(Classification(LABELS), rows)
    m = out["metrics"]
    assert [s.agree for s in scores] == [True, True, True, False, False, False]
    assert m["agreement"] == pytest.approx(3 / 6)
    assert m["student_invalid"] == 1 and m["teacher_invalid"] == 0
    assert m["confusion_vs_teacher"]["matrix"] == [
        # billing, shipping, refund_request, invalid  (rows: teacher)
        [2, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 1],
    ]
    assert m["per_label"]["billing"] == {"teacher": 3, "student": 3, "gold": 2}
    assert m["per_label"][INVALID] == {"teacher": 0, "student": 1, "gold": 0}
    pc = m["per_class"]
    assert pc["student_vs_teacher"] == {
        "billing": _prf(2 / 3, 2 / 3, 2 / 3, 3),  # TP 2, FP 1 (row 4), FN 1 (row 6)
        "shipping": _prf(1 / 2, 1 / 2, 1 / 2, 2),
        "refund_request": _prf(None, 0.0, 0.0, 1),  # never said by the student
    }
    assert pc["student_vs_gold"] == {
        "billing": _prf(2 / 3, 1.0, 4 / 5, 2),
        "shipping": _prf(1.0, 2 / 3, 4 / 5, 3),
        "refund_request": _prf(None, 0.0, 0.0, 1),
    }
    assert pc["teacher_vs_gold"] == {
        "billing": _prf(2 / 3, 1.0, 4 / 5, 2),
        "shipping": _prf(1.0, 2 / 3, 4 / 5, 3),
        "refund_request": _prf(1.0, 1.0, 1.0, 1),
    }
    g = m["gold"]
    assert g["items"] == 6
    assert g["student_accuracy"] == pytest.approx(4 / 6)
    assert g["teacher_accuracy"] == pytest.approx(5 / 6)
    assert out["gap"] == {
        "basis": "gold",
        "metric": "accuracy",
        "student": g["student_accuracy"],
        "teacher": g["teacher_accuracy"],
        "fraction": pytest.approx(4 / 5),
    }


def test_classification_gap_without_gold_is_the_agreement() -> None:
    rows = [dict(teacher="billing", student="billing"), dict(teacher="shipping", student="billing")]
    _, out = _run(Classification(LABELS), rows)
    assert out["metrics"]["gold"] is None
    assert list(out["metrics"]["per_class"]) == ["student_vs_teacher"]
    assert out["gap"]["basis"] == "teacher" and out["gap"]["fraction"] == pytest.approx(0.5)


def test_the_builds_label_column_wins_over_rereading_the_teacher() -> None:
    rows = [dict(teacher="Billing, I'd say", student="billing", teacher_parsed="billing")]
    scores, out = _run(Classification(LABELS), rows)
    assert scores[0].agree and out["metrics"]["teacher_invalid"] == 0


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "year": {"type": "integer"},
        "city": {"type": "string"},
    },
    "required": ["name", "year"],
    "additionalProperties": False,
}


def test_read_json_forgives_a_code_fence_only() -> None:
    assert read_json('```json\n{"a": 1}\n```') == ({"a": 1}, None)
    assert read_json(' {"a": 1} ') == ({"a": 1}, None)
    obj, err = read_json('Sure! {"a": 1}')
    assert obj is None and err.startswith("not JSON")


def test_structured_validity_and_field_match() -> None:
    teacher = '{"name": "Ada", "year": 1843, "city": "London"}'
    rows = [
        dict(
            teacher=teacher, student='{"name": "Ada", "year": 1843, "city": "London"}'
        ),  # 3/3, exact
        dict(
            teacher=teacher, student='```json\n{"name": "Ada", "year": 1842, "city": "London"}\n```'
        ),  # 2/3
        dict(teacher=teacher, student='{"name": "Ada", "year": "1843"}'),  # invalid (type), 1/3
        dict(teacher=teacher, student="Ada, 1843"),  # not JSON, 0/3
    ]
    scores, out = _run(Structured(SCHEMA), rows)
    m = out["metrics"]
    assert [s.agree for s in scores] == [True, False, False, False]
    assert [s.detail["student_valid"] for s in scores] == [True, True, False, False]
    assert scores[2].detail["student_problem"].startswith("schema: year:")
    assert m["json_valid"] == pytest.approx(2 / 4)
    assert m["json_parsed"] == pytest.approx(3 / 4)
    assert m["teacher_json_valid"] == 1.0
    assert m["exact_match_vs_teacher"] == pytest.approx(1 / 4)
    assert m["field_match_vs_teacher"] == pytest.approx((3 + 2 + 1 + 0) / 12)
    assert m["per_field_vs_teacher"] == {"name": 0.75, "year": 0.25, "city": 0.5}
    assert out["gap"]["basis"] == "teacher" and out["gap"]["fraction"] == pytest.approx(0.5)


def test_structured_against_gold_objects() -> None:
    gold = {"name": "Ada", "year": 1843}
    rows = [
        dict(
            teacher='{"name": "Ada", "year": 1843}',
            student='{"name": "Ada", "year": 1843}',
            gold=gold,
        ),
        dict(
            teacher='{"name": "Ada", "year": 1843}',
            student='{"name": "Bob", "year": 1843}',
            gold=gold,
        ),
        # gold may come as a JSON string; the build's canonical `parsed` column is used for the teacher
        dict(
            teacher="junk",
            teacher_parsed='{"name": "Ada", "year": 1800}',
            student='{"name": "Ada", "year": 1843}',
            gold='{"name": "Ada", "year": 1843}',
        ),
    ]
    _, out = _run(Structured(SCHEMA), rows)
    g = out["metrics"]["gold"]
    assert g["student_field_match"] == pytest.approx(5 / 6)
    assert g["teacher_field_match"] == pytest.approx(5 / 6)
    assert g["student_exact_match"] == pytest.approx(2 / 3)
    assert out["gap"]["basis"] == "gold" and out["gap"]["fraction"] == pytest.approx(1.0)


def test_free_text_scores() -> None:
    same = "The meeting is now on Wednesday at 10."
    rows = [
        dict(teacher=same, student="The  meeting is now on Wednesday at 10. "),  # same up to spaces
        dict(teacher=same, student="Meeting moved to Wednesday at 10."),
        dict(teacher=same, student="Bananas."),
    ]
    scores, out = _run(FreeText(), rows)
    first, second, third = (s.detail["vs_teacher"] for s in scores)
    assert first["exact"] == 1.0 and first["rouge_l"] == pytest.approx(1.0)
    assert second["exact"] == 0.0 and AGREE_CHRF <= second["chrf"] < 100
    # ROUGE-L: LCS "meeting wednesday at 10" = 4 of 8 (teacher) and 6 (student) tokens
    assert second["rouge_l"] == pytest.approx(2 * (4 / 8) * (4 / 6) / (4 / 8 + 4 / 6))
    assert third["chrf"] < AGREE_CHRF and third["rouge_l"] == 0.0
    assert [s.agree for s in scores] == [True, True, False]
    m = out["metrics"]
    assert m["exact_match_vs_teacher"] == pytest.approx(1 / 3)
    assert m["rouge_l_vs_teacher"] == pytest.approx((1 + second["rouge_l"] + 0) / 3)
    assert 0 < m["chrf_vs_teacher"] < 100
    assert out["gap"]["fraction"] == pytest.approx(m["mean_chrf_vs_teacher"] / 100)


def test_free_text_identical_is_perfect_and_gold_sets_the_gap() -> None:
    rows = [
        dict(
            teacher="Paris is the capital.",
            student="Paris is the capital.",
            gold="Paris is the capital.",
        )
    ]
    _, out = _run(FreeText(), rows)
    assert out["metrics"]["chrf_vs_teacher"] == pytest.approx(100.0)
    assert out["gap"] == {
        "basis": "gold",
        "metric": "chrF",
        "student": pytest.approx(100.0),
        "teacher": pytest.approx(100.0),
        "fraction": pytest.approx(1.0),
    }
