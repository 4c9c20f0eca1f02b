"""Classification: the template names its labels; the answer is one of them.

A sample item (labels: billing, shipping, refund):

    input:    {"text": "I was charged twice this month", "gold": "billing"}
    teacher:  "billing"
    student:  "Category: Billing."      -> normalised to "billing": agrees

Metrics: agreement with the teacher, macro-F1 and a confusion matrix against the teacher,
per-label counts, per-label precision / recall / F1 (student vs teacher; with gold, student
and teacher vs gold too), and, where the inputs carry a gold label, the accuracy and macro-F1 of both
student and teacher against it. The distillation gap is student accuracy / teacher accuracy
on gold where there is gold, else the agreement.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from evals.tasks.base import Example, Score, Task, distillation_gap, mean
from synth.answers import LabelMatcher, read_label

INVALID = "(invalid)"


def normalize_label(text: str | None, labels: list[str]) -> str | None:
    """The label an answer names, or None: the build's own reader (synth.answers), so that the
    student is read exactly as the teacher was when the dataset was built. Forgiving about
    case, separators, punctuation, markdown and a "Category: x" lead-in; an answer that is a
    sentence mentioning a label is not that label."""
    return read_label(text, labels)


def per_class(
    reference: list[str], predicted: list[str | None], labels: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1 and support of each label, `reference` taken as the truth.

    Rows: `labels` in their order, then any other label seen in either list. An invalid
    prediction (None) is a miss of its reference label and a false alarm of none. Precision is
    None for a label never predicted, recall None for one never in the reference; F1 is
    2·TP / (2·TP + FP + FN), so a label missed every time scores 0 and one absent from both
    lists is None. As scikit-learn's `precision_recall_fscore_support`, except that it says
    "undefined" (None) where scikit-learn writes 0 with a warning.
    """
    seen = set(reference) | {p for p in predicted if p is not None}
    order = list(labels or []) + sorted(seen - set(labels or []))
    out: dict[str, dict[str, Any]] = {}
    for label in order:
        tp = sum(1 for r, p in zip(reference, predicted, strict=True) if r == label and p == label)
        fp = sum(1 for r, p in zip(reference, predicted, strict=True) if r != label and p == label)
        fn = sum(1 for r, p in zip(reference, predicted, strict=True) if r == label and p != label)
        out[label] = {
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "support": tp + fn,
        }
    return out


def macro_f1(reference: list[str], predicted: list[str | None]) -> float | None:
    """Unweighted mean of per-label F1 over the labels seen in either list (as scikit-learn
    does); an invalid prediction is simply wrong."""
    if not reference:
        return None
    f1s = [c["f1"] for c in per_class(reference, predicted).values() if c["f1"] is not None]
    return sum(f1s) / len(f1s)


def confusion(
    reference: list[str], predicted: list[str | None], labels: list[str]
) -> dict[str, Any]:
    """Rows: the reference label; columns: the student's label, then invalid answers."""
    rows = list(labels) + sorted(set(reference) - set(labels))
    cols = list(labels) + [INVALID]
    index_r = {label: i for i, label in enumerate(rows)}
    index_c = {label: i for i, label in enumerate(cols)}
    matrix = [[0] * len(cols) for _ in rows]
    for r, p in zip(reference, predicted, strict=True):
        matrix[index_r[r]][index_c.get(p if p is not None else INVALID, index_c[INVALID])] += 1
    return {"rows": rows, "columns": cols, "matrix": matrix}


def accuracy(reference: list[str], predicted: list[str | None]) -> float | None:
    return mean([1.0 if r == p else 0.0 for r, p in zip(reference, predicted, strict=True)])


class Classification(Task):
    kind = "classification"

    def __init__(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self.matcher = LabelMatcher(self.labels)

    def _label(self, text: str | None) -> str | None:
        return self.matcher.match(text)

    def _teacher_label(self, ex: Example) -> str | None:
        if isinstance(ex.teacher_parsed, str) and ex.teacher_parsed in self.labels:
            return ex.teacher_parsed
        return self._label(ex.teacher)

    def _gold_label(self, ex: Example) -> str | None:
        if ex.gold is None or ex.gold == "":
            return None
        return self._label(str(ex.gold)) or str(ex.gold).strip()

    def score(self, ex: Example) -> Score:
        student = self._label(ex.student)
        teacher = self._teacher_label(ex)
        gold = self._gold_label(ex)
        detail: dict[str, Any] = {"student_label": student, "teacher_label": teacher}
        if gold is not None:
            detail["gold_label"] = gold
        return Score(agree=student is not None and student == teacher, detail=detail)

    def summarize(self, examples: list[Example], scores: list[Score]) -> dict[str, Any]:
        students = [s.detail["student_label"] for s in scores]
        teachers = [s.detail["teacher_label"] for s in scores]
        # agreement is measured where the teacher gave a usable label
        pairs = [(t, s) for t, s in zip(teachers, students, strict=True) if t is not None]
        t_ref = [t for t, _ in pairs]
        s_vs_t = [s for _, s in pairs]
        agreement = accuracy(t_ref, s_vs_t)

        per_label: dict[str, dict[str, int]] = {}
        counts = {
            "teacher": Counter(t for t in teachers if t is not None),
            "student": Counter(s if s is not None else INVALID for s in students),
        }
        golds = [s.detail.get("gold_label") for s in scores]
        if any(g is not None for g in golds):
            counts["gold"] = Counter(g for g in golds if g is not None)
        for label in self.labels + [INVALID]:
            row = {who: c.get(label, 0) for who, c in counts.items()}
            if label != INVALID or any(row.values()):
                per_label[label] = row

        metrics: dict[str, Any] = {
            "items": len(scores),
            "agreement": agreement,
            "macro_f1_vs_teacher": macro_f1(t_ref, s_vs_t),
            "student_invalid": sum(1 for s in students if s is None),
            "teacher_invalid": sum(1 for t in teachers if t is None),
            "confusion_vs_teacher": confusion(t_ref, s_vs_t, self.labels),
            "per_label": per_label,
            # precision / recall / F1 per label: the first name is the one judged, the second
            # the reference it is judged against
            "per_class": {"student_vs_teacher": per_class(t_ref, s_vs_t, self.labels)},
            "gold": None,
        }
        summary = {
            "agreement with teacher": agreement,
            "macro-F1 vs teacher": metrics["macro_f1_vs_teacher"],
            "student answers not a label": metrics["student_invalid"],
        }

        gold_rows = [
            (g, s, t) for g, s, t in zip(golds, students, teachers, strict=True) if g is not None
        ]
        if gold_rows:
            g_ref = [g for g, _, _ in gold_rows]
            s_pred = [s for _, s, _ in gold_rows]
            t_pred = [t for _, _, t in gold_rows]
            metrics["gold"] = {
                "items": len(gold_rows),
                "student_accuracy": accuracy(g_ref, s_pred),
                "teacher_accuracy": accuracy(g_ref, t_pred),
                "student_macro_f1": macro_f1(g_ref, s_pred),
                "teacher_macro_f1": macro_f1(g_ref, t_pred),
                "confusion": confusion(g_ref, s_pred, self.labels),
            }
            metrics["per_class"]["student_vs_gold"] = per_class(g_ref, s_pred, self.labels)
            metrics["per_class"]["teacher_vs_gold"] = per_class(g_ref, t_pred, self.labels)
            summary["student accuracy vs gold"] = metrics["gold"]["student_accuracy"]
            summary["teacher accuracy vs gold"] = metrics["gold"]["teacher_accuracy"]
            summary["student macro-F1 vs gold"] = metrics["gold"]["student_macro_f1"]
            gap = distillation_gap(
                metrics["gold"]["student_accuracy"],
                metrics["gold"]["teacher_accuracy"],
                "gold",
                "accuracy",
            )
        else:
            gap = distillation_gap(
                agreement, 1.0 if agreement is not None else None, "teacher", "agreement"
            )
        metrics["summary"] = summary
        return {"metrics": metrics, "gap": gap}
