"""Token-level soft labels for free text: the student learns the teacher's top-K at each answer
token it can align, and cross-entropy on every answer token.

    loss = alpha * T^2 * sparse KL(teacher buckets || student) + (1 - alpha) * CE(answer tokens)

With `soft` (alpha = 1) the answer tokens without a target keep their cross-entropy (the KL to
a one-hot on the token), so a row the teacher's tokens do not reach still trains.

The targets per answer token come with each row (`finetune.token_targets`); the collator places
them on the positions of the tokenised conversation whose logits predict those tokens (the
logit at position j - 1 predicts token j), only where the conversation's answer tokens are the
answer's own. The KL is `finetune.token_kl.bucket_kl`.

TRL's own loss runs a fused LM head that never builds the logits, and the KL needs them with
their gradient; so this trainer runs one forward of its own that returns the logits (at the
positions some row trains on, where the model takes `logits_to_keep`) and computes both terms
from it: one forward per step, no second one. The cross-entropy is computed as TRL's is (the
sum over the answer tokens divided by the batch's token count; `mix` at alpha 0 gives hard's
loss), and so are its logged metrics (entropy, mean_token_accuracy, num_tokens). With
`use_liger_kernel` TRL keeps Liger's fused cross-entropy off (its own head replaces it), so this
forward still returns logits. It is an `SFTTrainer` subclass, so LoRA, full fine-tuning,
checkpoints, resume and multi-process training are TRL's own.
"""

from __future__ import annotations

import inspect
from typing import Any

from trl import SFTTrainer

from finetune.distill_loss import loss_is_scaled
from finetune.token_align import Target
from finetune.token_kl import bucket_kl, pack
from finetune.token_targets import ANSWER, AT, COLUMNS, IDS, PROBS, TAIL, answer_start

TARGETS = "token_targets"  # the batch key the collator adds


def place(labels: list[list[int]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch's targets as tensors: for each aligned answer token, its row, the position of
    the logit that predicts it, and its buckets (`token_kl.pack`)."""
    import torch

    at_row, at_pos, targets = [], [], []
    for b, (lab, row) in enumerate(zip(labels, rows, strict=True)):
        start = answer_start(lab, row[ANSWER]) if row[AT] else None
        if start is None:
            continue  # no targets, or the answer is tokenised differently in context: CE alone
        for k, ids, probs, tail in zip(row[AT], row[IDS], row[PROBS], row[TAIL], strict=True):
            at_row.append(b)
            at_pos.append(start + k - 1)
            targets.append(Target(dict(zip(ids, probs, strict=True)), tail))
    ids, probs, tail = pack(targets)
    return {
        "row": torch.tensor(at_row, dtype=torch.long),
        "pos": torch.tensor(at_pos, dtype=torch.long),
        "ids": ids,
        "probs": probs,
        "tail": tail,
    }


class _WithTokenTargets:
    """TRL's collator, plus each batch's placed token targets."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [{name: e.pop(name) for name in COLUMNS} for e in examples]
        batch = self.inner(examples)
        batch[TARGETS] = place(batch["labels"].tolist(), rows)
        return batch


class TokenDistillTrainer(SFTTrainer):
    """`SFTTrainer` whose loss mixes the teacher's per-token top-K into the hard labels."""

    def __init__(self, *args: Any, alpha: float, temperature: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.temperature = temperature
        self.data_collator = _WithTokenTargets(self.data_collator)
        model: Any = self.model
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        # computing the logits at the trained positions only, where the model allows it
        self.keeps_logits = "logits_to_keep" in inspect.signature(type(inner).forward).parameters

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if self._signature_columns is not None:  # keep the targets' columns past the collator
            self._signature_columns = [*self._signature_columns, *COLUMNS]

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        import torch

        targets = inputs.pop(TARGETS)
        labels = inputs["labels"]
        mode = "train" if model.training else "eval"
        next_tokens = labels[:, 1:]
        trained = next_tokens != -100  # [B, S-1]: the logit at p predicts token p + 1
        keep = trained.any(0).nonzero().flatten()  # the positions some row trains on
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        forward["use_cache"] = False
        if self.keeps_logits:
            outputs = model(**forward, logits_to_keep=keep)
            logits = outputs.logits  # [B, len(keep), V]
        else:
            outputs = model(**forward)
            logits = outputs.logits[:, keep]
        column = torch.full((labels.shape[1],), -1, dtype=torch.long, device=labels.device)
        column[keep] = torch.arange(keep.numel(), device=labels.device)

        b, p = trained.nonzero(as_tuple=True)
        logp = logits[b, column[p]].float().log_softmax(-1)  # [N, V] at the trained positions
        wanted = next_tokens[b, p]
        token_logp = logp.gather(1, wanted[:, None]).squeeze(1)
        self._log_tokens(mode, logp, wanted, inputs)

        rows, pos = targets["row"].to(logits.device), targets["pos"].to(logits.device)
        hard = torch.ones_like(token_logp)
        if self.alpha >= 1.0:
            # soft: the answer tokens without a target keep their cross-entropy (the KL to a
            # one-hot on the token), as the label path's rows without a distribution do
            aligned = torch.zeros_like(trained)
            aligned[rows, pos] = True
            hard = (~aligned[b, p]).float()
        count = num_items_in_batch if num_items_in_batch is not None else trained.sum()
        ce = -(token_logp * hard).sum() / torch.as_tensor(count).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            ce = ce * (self.accelerator.num_processes // self.get_tp_size())  # as TRL: DDP means

        at = column[pos]
        kl = bucket_kl(
            logits[rows, at],
            targets["ids"].to(logits.device),
            targets["probs"],
            targets["tail"],
            self.temperature,
        )
        self._metrics[mode]["soft_loss"].append(float(kl.detach()))
        n = torch.tensor(float(rows.numel()), device=logits.device)
        self._metrics[mode]["soft_tokens"].append(
            float(self.accelerator.gather_for_metrics(n).sum())
        )
        if model.training and loss_is_scaled(self, num_items_in_batch):
            # CE was divided by the tokens of all accumulated micro-batches; the KL is a
            # per-micro-batch mean, so it takes its share of the accumulation the same way
            kl = kl / getattr(self, "current_gradient_accumulation_steps", 1)
        weight = 1.0 if self.alpha >= 1.0 else 1.0 - self.alpha  # soft: CE off the targets only
        loss = self.alpha * kl + weight * ce
        return (loss, outputs) if return_outputs else loss

    def _log_tokens(self, mode: str, logp: Any, wanted: Any, inputs: dict[str, Any]) -> None:
        """TRL's metrics, from the logits at the trained positions."""
        import torch

        with torch.no_grad():
            gather = self.accelerator.gather_for_metrics
            n = gather(torch.tensor(float(wanted.numel()), device=logp.device)).sum()
            entropy = gather(-(logp.exp() * logp).sum(-1).sum()).sum()
            top1 = gather((logp.argmax(-1) == wanted).sum().float()).sum()
            self._metrics[mode]["entropy"].append(float(entropy / n) if n > 0 else 0.0)
            self._metrics[mode]["mean_token_accuracy"].append(float(top1 / n) if n > 0 else 0.0)
            if mode == "train":
                seen = gather(inputs["attention_mask"].sum()).sum().item()
                self._total_train_tokens += seen // self._tp_size
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
