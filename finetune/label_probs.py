"""The student's log-probability of each label after a prompt, every label in one batched pass.

For a classification task the student's belief over the label set is the probability of each
label's whole answer (its tokens and the template's end-of-turn token) after the prompt; no
generation, no shared tokenizer with the teacher. Used with gradients by the soft-label loss
(`finetune.distill_loss`) and under `torch.no_grad()` to read the student's uncertainty, e.g.
the margin between its two most likely labels:

    lp = label_logprobs(model, tokenizer, conversations, ["billing", "refund", "account"])
    probs = lp.softmax(-1)                      # [n_prompts, n_labels], over the label set
    top2 = probs.topk(2, dim=-1).values
    margin = top2[:, 0] - top2[:, 1]

`label_logprobs` renders prompts and answers through the tokenizer's chat template;
`label_logprobs_from_ids` is the same on token ids (the trainer has them already).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Message = dict[str, str]


def answer_ids(
    tokenizer: Any, prompt: Sequence[Message], answer: str
) -> tuple[list[int], list[int]]:
    """(prompt ids up to the assistant's turn, the answer's ids through its end-of-turn token).

    Tokenised the way training sees it: the whole conversation rendered by the chat template,
    split where the generation prompt ends.
    """
    head = _ids(tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True))
    full = _ids(
        tokenizer.apply_chat_template(
            [*prompt, {"role": "assistant", "content": answer}], add_generation_prompt=False
        )
    )
    if full[: len(head)] != head:
        raise ValueError("the chat template renders the prompt differently with an answer after it")
    tail = full[len(head) :]
    eos = tokenizer.eos_token_id
    if eos in tail:  # what follows the end of turn (a newline) is never generated
        tail = tail[: tail.index(eos) + 1]
    return head, tail


def label_logprobs(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    labels: Sequence[str],
    *,
    batch_size: int = 16,
) -> Any:
    """log p(label | prompt) for every conversation (its prompt turns) and label: [n, L] tensor.

    Gradients flow when called with them enabled; wrap in `torch.no_grad()` for inference.
    Not normalised over the labels: `.softmax(-1)` gives the distribution over the label set.
    """
    import torch

    if not labels:
        raise ValueError("no labels to score")
    label_ids = [
        answer_ids(tokenizer, [{"role": "user", "content": "x"}], lab)[1] for lab in labels
    ]
    prompts = [answer_ids(tokenizer, c, labels[0])[0] for c in conversations]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = [
        label_logprobs_from_ids(model, prompts[i : i + batch_size], label_ids, pad_token_id=pad)
        for i in range(0, len(prompts), batch_size)
    ]
    return torch.cat(out) if out else torch.zeros(0, len(labels))


def label_logprobs_from_ids(
    model: Any,
    prompts: Sequence[Sequence[int]],
    label_ids: Sequence[Sequence[int]],
    *,
    pad_token_id: int,
) -> Any:
    """log p(label_j | prompt_i) summed over each label's tokens: a [len(prompts), len(labels)]
    tensor, every (prompt, label) pair in one batched pass.

    Prompts are left-padded to one length and run once; their key/value cache is repeated for
    every label and the labels' tokens (right-padded) run on top of it, so a prompt costs one
    forward whatever the number of labels. Under gradient checkpointing (which turns the cache
    off) every (prompt, label) pair runs whole instead; the result is the same.
    """
    import torch

    device = next(model.parameters()).device
    n, k = len(prompts), len(label_ids)
    p_len = max(len(p) for p in prompts)
    m = max(len(lab) for lab in label_ids)
    ids = torch.full((n, p_len), pad_token_id, dtype=torch.long)
    mask = torch.zeros((n, p_len), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, p_len - len(p) :] = torch.tensor(list(p))
        mask[i, p_len - len(p) :] = 1
    targets = torch.full((k, m), pad_token_id, dtype=torch.long)
    target_mask = torch.zeros((k, m), dtype=torch.long)
    for j, lab in enumerate(label_ids):
        targets[j, : len(lab)] = torch.tensor(list(lab))
        target_mask[j, : len(lab)] = 1
    ids, mask = ids.to(device), mask.to(device)
    targets, target_mask = targets.repeat(n, 1).to(device), target_mask.repeat(n, 1).to(device)
    # row i * k + j is prompt i with label j
    checkpointing = getattr(model, "is_activation_checkpointing", None)
    if checkpointing is None:
        checkpointing = getattr(model, "is_gradient_checkpointing", False)
    if checkpointing and model.training:
        logp = _whole(model, ids, mask, targets, target_mask, k)
    else:
        logp = _cached(model, ids, mask, targets, target_mask, k)
    token_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * target_mask
    return token_lp.sum(-1).view(n, k)


def _positions(mask: Any) -> Any:
    # left padding: positions count real tokens only, as if each row started at 0
    return (mask.cumsum(-1) - 1).clamp(min=0)


def _cached(model: Any, ids: Any, mask: Any, targets: Any, target_mask: Any, k: int) -> Any:
    """[n*k, m, V] log-probs of each label position: the prompts once, then the labels."""
    import torch

    head = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=_positions(mask),
        use_cache=True,
        logits_to_keep=1,
    )
    first = head.logits[:, -1:, :].repeat_interleave(k, dim=0)  # predicts each label's 1st token
    cache = head.cache
    cache.batch_repeat_interleave(k)
    full_mask = torch.cat([mask.repeat_interleave(k, dim=0), target_mask], dim=-1)
    start = mask.sum(-1, keepdim=True).repeat_interleave(k, dim=0)
    positions = start + torch.arange(targets.shape[1], device=ids.device)
    tail = model(
        input_ids=targets,
        attention_mask=full_mask,
        position_ids=positions,
        cache=cache,
        use_cache=True,
    )
    logits = torch.cat([first, tail.logits[:, :-1, :]], dim=1)
    return logits.float().log_softmax(-1)


def _whole(model: Any, ids: Any, mask: Any, targets: Any, target_mask: Any, k: int) -> Any:
    """The same as `_cached`, each (prompt, label) pair run as one sequence."""
    import torch

    m = targets.shape[1]
    seq = torch.cat([ids.repeat_interleave(k, dim=0), targets], dim=-1)
    seq_mask = torch.cat([mask.repeat_interleave(k, dim=0), target_mask], dim=-1)
    out = model(
        input_ids=seq,
        attention_mask=seq_mask,
        position_ids=_positions(seq_mask),
        logits_to_keep=m + 1,  # the logit before each label token (the last one predicts nothing)
        use_cache=False,
    )
    return out.logits[:, :-1, :].float().log_softmax(-1)


def _ids(rendered: Any) -> list[int]:
    # transformers 5 returns a BatchEncoding-like dict from apply_chat_template(tokenize=True)
    if isinstance(rendered, dict) or hasattr(rendered, "keys"):
        rendered = rendered["input_ids"]
    return [int(x) for x in rendered]
