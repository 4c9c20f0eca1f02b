"""What `student.distill: {loss: soft | mix}` needs from the run: for a template with labels,
the labels, each label's answer tokens in the student's tokenizer, and the teacher's
distribution per row; for free text, the teacher's per-token top-K (`finetune.token_targets`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finetune.token_targets import TokenTargets
from synth.errors import ConfigError
from synth.student_config import StudentConfig

if TYPE_CHECKING:
    from synth.config import RunConfig


@dataclass
class SoftTargets:
    labels: list[str]
    label_ids: list[list[int]]  # each label's answer tokens (with the end-of-turn token)
    alpha: float  # the weight of the KL term: 1 for soft, distill.alpha for mix
    splits: Any  # datasets.DatasetDict, the built dataset
    soft_rows: int  # train rows with a teacher distribution (the others use their hard label)

    def attach(self, conversations: Any, split: str) -> Any:
        """`conversations` of `split` with the teacher's probabilities and mask as columns."""
        from finetune.distill_loss import MASK, PROBS, teacher_targets

        probs, mask = teacher_targets(self.splits[split], self.labels)
        return conversations.add_column(PROBS, probs).add_column(MASK, mask)

    def describe(self, s: StudentConfig) -> dict[str, Any]:
        d = s.distill
        return {
            "loss": d.loss,
            "alpha": self.alpha,
            "temperature": d.temperature,
            "labels": len(self.labels),
            "soft_rows": self.soft_rows,
            "hard_rows": len(self.splits["train"]) - self.soft_rows,
        }


def soft_targets(
    cfg: RunConfig, s: StudentConfig, splits: Any, tokenizer: Any
) -> SoftTargets | TokenTargets | None:
    """None for hard labels; else the targets, or a ConfigError naming what is missing."""
    if s.distill.loss == "hard":
        return None
    from finetune.label_probs import answer_ids
    from synth.templates import load_template

    template = load_template(cfg.template, cfg.base_dir)
    train = splits["train"]
    alpha = 1.0 if s.distill.loss == "soft" else s.distill.alpha
    if not template.labels:  # free text (or JSON): the teacher's top-K per answer token
        if "logprobs" not in train.column_names:
            raise ConfigError(
                f"student.distill.loss: {s.distill.loss}: the dataset has no logprobs column "
                "(the teacher's per-token top-K): harvest with teacher.logprobs: 20 (an OpenAI "
                "or OpenAI-compatible teacher), then run distill build again"
            )
        return TokenTargets(alpha, splits, tokenizer)
    if "teacher_dist" not in train.column_names:
        raise ConfigError(
            f"student.distill.loss: {s.distill.loss}: the dataset has no teacher_dist column: "
            "harvest with teacher.logprobs: 20 (an OpenAI or OpenAI-compatible teacher), then "
            "run distill build again"
        )
    labels = list(template.labels)
    probe = [{"role": "user", "content": "x"}]
    label_ids = [answer_ids(tokenizer, probe, label)[1] for label in labels]
    soft_rows = sum(1 for d in train["teacher_dist"] if d)
    return SoftTargets(labels, label_ids, alpha, splits, soft_rows)
