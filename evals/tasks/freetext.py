"""Free text: no labels, no schema; the answer is prose compared with the teacher's.

A sample item:

    input:    {"text": "The meeting moved from Monday to Wednesday at 10."}
    teacher:  "The meeting is now on Wednesday at 10."
    student:  "Meeting moved to Wednesday at 10."    -> chrF 55.4, ROUGE-L 0.57: agrees

Metrics: chrF (sacrebleu, corpus-level and mean per item), ROUGE-L F1 (rouge-score) and the
exact-match rate against the teacher, and against gold where the inputs carry a reference
text. An item counts as a disagreement (for failure mining) when its chrF against the
teacher is below AGREE_CHRF. The distillation gap is chrF on gold of the student over the
teacher's where there is gold, else chrF against the teacher / 100.
"""

from __future__ import annotations

from typing import Any

from evals.tasks.base import Example, Score, Task, distillation_gap, mean

AGREE_CHRF = 50.0  # below this the student's answer is mined as a failure


def _norm(text: str) -> str:
    return " ".join(text.split())


class FreeText(Task):
    kind = "text"

    def __init__(self) -> None:
        from rouge_score import rouge_scorer
        from sacrebleu.metrics import CHRF

        self.chrf = CHRF()
        self.rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

    def _pair(self, hyp: str, ref: str) -> dict[str, float]:
        return {
            "chrf": self.chrf.sentence_score(hyp, [ref]).score,
            "rouge_l": self.rouge.score(ref, hyp)["rougeL"].fmeasure,
            "exact": float(_norm(hyp) == _norm(ref)),
        }

    def score(self, ex: Example) -> Score:
        vs_teacher = self._pair(ex.student, ex.teacher)
        detail: dict[str, Any] = {"vs_teacher": vs_teacher}
        if isinstance(ex.gold, str) and ex.gold.strip():
            detail["vs_gold"] = self._pair(ex.student, ex.gold)
            detail["teacher_vs_gold"] = self._pair(ex.teacher, ex.gold)
        agree = vs_teacher["exact"] == 1.0 or vs_teacher["chrf"] >= AGREE_CHRF
        return Score(agree=agree, detail=detail)

    def summarize(self, examples: list[Example], scores: list[Score]) -> dict[str, Any]:
        def avg(key: str, metric: str) -> float | None:
            return mean([s.detail[key][metric] for s in scores if key in s.detail])

        corpus = (
            self.chrf.corpus_score(
                [e.student for e in examples], [[e.teacher for e in examples]]
            ).score
            if examples
            else None
        )
        metrics: dict[str, Any] = {
            "items": len(scores),
            "chrf_vs_teacher": corpus,
            "mean_chrf_vs_teacher": avg("vs_teacher", "chrf"),
            "rouge_l_vs_teacher": avg("vs_teacher", "rouge_l"),
            "exact_match_vs_teacher": avg("vs_teacher", "exact"),
            "agree_chrf_threshold": AGREE_CHRF,
            "gold": None,
        }
        summary = {
            "chrF vs teacher": corpus,
            "ROUGE-L F1 vs teacher": metrics["rouge_l_vs_teacher"],
            "exact match vs teacher": metrics["exact_match_vs_teacher"],
        }
        if any("vs_gold" in s.detail for s in scores):
            metrics["gold"] = {
                "items": sum(1 for s in scores if "vs_gold" in s.detail),
                "student_chrf": avg("vs_gold", "chrf"),
                "teacher_chrf": avg("teacher_vs_gold", "chrf"),
                "student_rouge_l": avg("vs_gold", "rouge_l"),
                "teacher_rouge_l": avg("teacher_vs_gold", "rouge_l"),
            }
            summary["student chrF vs gold"] = metrics["gold"]["student_chrf"]
            summary["teacher chrF vs gold"] = metrics["gold"]["teacher_chrf"]
            gap = distillation_gap(
                metrics["gold"]["student_chrf"], metrics["gold"]["teacher_chrf"], "gold", "chrF"
            )
        else:
            c = metrics["mean_chrf_vs_teacher"]
            gap = distillation_gap(
                None if c is None else c / 100.0,
                1.0 if c is not None else None,
                "teacher",
                "chrF / 100",
            )
        metrics["summary"] = summary
        return {"metrics": metrics, "gap": gap}
