"""How sure the student is of each pool input: the score active distillation selects by.

Higher is surer. For a classification template, the margin between the student's two most
likely labels (probabilities over the label set, from `finetune.label_probs`); otherwise the
mean token log-probability of its greedy answer. Batched, on whatever device the model is on.

    scores = certainty(model, tokenizer, conversations, labels=["billing", "refund"])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from finetune.label_probs import label_logprobs

Message = dict[str, str]


def certainty(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    *,
    labels: Sequence[str] | None,
    max_new_tokens: int = 32,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """One score per conversation (its prompt turns)."""
    import torch

    model.eval()
    scores: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(conversations), batch_size):
            chunk = conversations[start : start + batch_size]
            if labels:
                probs = label_logprobs(
                    model, tokenizer, chunk, list(labels), batch_size=len(chunk)
                ).softmax(-1)
                if probs.shape[1] == 1:
                    scores.extend([1.0] * len(chunk))
                else:
                    top2 = probs.topk(2, dim=-1).values
                    scores.extend((top2[:, 0] - top2[:, 1]).tolist())
            else:
                scores.extend(_greedy_mean_logprob(model, tokenizer, chunk, max_new_tokens))
            if progress:
                progress(len(chunk))
    return scores


def _greedy_mean_logprob(
    model: Any, tokenizer: Any, chunk: Sequence[Sequence[Message]], max_new_tokens: int
) -> list[float]:
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        enc = tokenizer.apply_chat_template(
            [list(c) for c in chunk],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            padding=True,
        ).to(model.device)
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
    finally:
        tokenizer.padding_side = side
    token_lp = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    new = out.sequences[:, enc["input_ids"].shape[1] :]
    # tokens through the first end-of-turn count; what generate pads after it does not
    ended = (new == tokenizer.eos_token_id).long().cumsum(-1)
    keep = (ended == 0) | ((ended == 1) & (new == tokenizer.eos_token_id))
    keep = keep.float()
    total = (token_lp.float() * keep).sum(-1)
    return (total / keep.sum(-1).clamp(min=1)).tolist()
