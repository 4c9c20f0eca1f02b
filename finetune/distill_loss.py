"""Soft labels for classification: the student learns the teacher's distribution over the labels.

    loss = alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(hard answer tokens)

p is the teacher's distribution over the template's labels (the dataset's `teacher_dist`, read
from its top-K log-probabilities; a one-hot on the row's label where it has none), q the
student's: the softmax over labels of each label's sequence log-probability after the prompt
(`finetune.label_probs`); both are softened by the temperature T, and T^2 keeps the gradient's
scale as T changes (Hinton et al., 2015). `hard` is alpha = 0 (plain SFT), `soft` alpha = 1.

The loss lives in a `trl.SFTTrainer` subclass, so LoRA, full fine-tuning, checkpoints, resume
and multi-process training are TRL's own. Each row's prompt is the part of its tokens before
the answer (where the labels stop being -100): no second tokenisation of the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from trl import SFTTrainer

from finetune.label_probs import label_logprobs_from_ids

PROBS, MASK = "teacher_probs", "teacher_mask"  # the columns the trainer adds to each row


def soft_label_loss(
    student_logp: Any, teacher_probs: Any, temperature: float = 1.0, mask: Any = None
) -> Any:
    """T^2 * KL(p_T || q_T), averaged over the rows where `mask` is true.

    `student_logp` are unnormalised per-label log-probabilities [n, L] (sequence log-probs),
    `teacher_probs` a distribution per row [n, L]; zero-probability labels add nothing.
    """
    import torch

    t = float(temperature)
    q = (student_logp.float() / t).log_softmax(-1)
    p = teacher_probs.float().clamp_min(0)
    if t != 1.0:
        p = p.pow(1.0 / t)
    p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
    terms = torch.where(p > 0, p * (p.clamp_min(1e-30).log() - q), torch.zeros_like(p))
    kl = terms.sum(-1)
    if mask is not None:
        kl = kl[mask.bool()]
    if kl.numel() == 0:
        return student_logp.sum() * 0.0  # keeps the graph: every rank runs the same backward
    return t * t * kl.mean()


def teacher_targets(rows: Any, labels: Sequence[str]) -> tuple[list[list[float]], list[int]]:
    """Per row: the teacher's distribution over `labels` (in that order) and whether it has a
    target at all: its `teacher_dist`, else a one-hot on its hard label, else none (0)."""
    index = {label: i for i, label in enumerate(labels)}
    dists = rows["teacher_dist"] if "teacher_dist" in rows.column_names else [None] * len(rows)
    probs, mask = [], []
    for dist, label in zip(dists, rows["label"], strict=True):
        vec = [0.0] * len(labels)
        if dist:
            for name, p in json.loads(dist).items():
                if name in index:
                    vec[index[name]] = float(p)
        elif label in index:
            vec[index[label]] = 1.0
        probs.append(vec)
        mask.append(1 if sum(vec) > 0 else 0)
    return probs, mask


def prompts_of(input_ids: Any, labels: Any) -> list[list[int]]:
    """Each row's tokens before its answer (the first position whose label is not -100)."""
    out = []
    for ids, lab in zip(input_ids.tolist(), labels.tolist(), strict=True):
        start = next((i for i, t in enumerate(lab) if t != -100), len(lab))
        out.append(ids[:start])
    return out


class _WithTeacher:
    """TRL's collator, plus the teacher's probabilities as tensors."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        probs = torch.tensor([e.pop(PROBS) for e in examples], dtype=torch.float32)
        mask = torch.tensor([e.pop(MASK) for e in examples], dtype=torch.bool)
        batch = self.inner(examples)
        batch[PROBS], batch[MASK] = probs, mask
        return batch


class DistillTrainer(SFTTrainer):
    """`SFTTrainer` whose loss mixes the teacher's label distribution into the hard labels."""

    def __init__(
        self,
        *args: Any,
        label_ids: list[list[int]],
        alpha: float,
        temperature: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.label_ids = label_ids
        self.alpha = alpha
        self.temperature = temperature
        self.data_collator = _WithTeacher(self.data_collator)
        tok: Any = kwargs.get("processing_class")
        self.pad_id: int = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if self._signature_columns is not None:  # keep the teacher's columns past the collator
            self._signature_columns = [*self._signature_columns, PROBS, MASK]

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        probs, mask = inputs.pop(PROBS), inputs.pop(MASK)
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        ce, outputs = result if return_outputs else (result, None)
        prompts = prompts_of(inputs["input_ids"], inputs["labels"])
        student = label_logprobs_from_ids(model, prompts, self.label_ids, pad_token_id=self.pad_id)
        kl = soft_label_loss(student, probs.to(student.device), self.temperature, mask)
        mode = "train" if model.training else "eval"
        self._metrics[mode]["soft_loss"].append(float(kl.detach()))
        agree = (student.argmax(-1) == probs.to(student.device).argmax(-1))[mask.to(student.device)]
        if agree.numel():
            self._metrics[mode]["label_agreement"].append(float(agree.float().mean()))
        if model.training and loss_is_scaled(self, num_items_in_batch):
            # the CE term was divided by the tokens of all accumulated micro-batches; the KL is a
            # per-micro-batch mean, so it takes its share of the accumulation the same way
            kl = kl / getattr(self, "current_gradient_accumulation_steps", 1)
        loss = self.alpha * kl + (1.0 - self.alpha) * ce
        return (loss, outputs) if return_outputs else loss


def loss_is_scaled(trainer: Any, num_items_in_batch: Any) -> bool:
    """Whether `Trainer.training_step` leaves the accumulation scaling to the loss."""
    fixed = getattr(trainer, "loss_is_scaled_for_ga", None)
    if fixed is not None:
        return bool(fixed)
    return bool(
        (trainer.model_accepts_loss_kwargs and num_items_in_batch is not None)
        or trainer.compute_loss_func is not None
    )
