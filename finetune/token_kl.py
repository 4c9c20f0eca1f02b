"""Token-level sparse KL for free-text answers: the student against the teacher's aligned top-K.

At each answer position that `finetune.token_align.align` gave a target, the teacher's
distribution is over a few buckets: the student token ids its top-K strings begin with, and
one tail bucket for the mass the top-K does not cover. The student's distribution is read
over the same buckets (its softmax at those ids, and everything else as the tail), and

    loss = T^2 * mean over aligned positions of KL(p_T || q_T)

where both sides are softened by the temperature T (the teacher's buckets as p^(1/T),
renormalised, as in `finetune.distill_loss`). Positions without a target add nothing here;
the trainer's cross-entropy covers every position.

For a teacher with the student's own tokenizer that returns ids (vLLM's
`return_tokens_as_token_ids`: top-K entries read `token_id:123`), `first_token_or_id` takes
the id as it is instead of re-tokenising the string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from finetune.token_align import Target

TOKEN_ID_PREFIX = "token_id:"


def first_token_or_id(first_token: Callable[[str], int | None]) -> Callable[[str], int | None]:
    """`first_token`, except that a `token_id:N` string is the student's token N itself."""

    def lookup(text: str) -> int | None:
        if text.startswith(TOKEN_ID_PREFIX):
            rest = text[len(TOKEN_ID_PREFIX) :]
            return int(rest) if rest.isdigit() else None
        return first_token(text)

    return lookup


def sparse_kl(logits: Any, targets: Sequence[Target | None], temperature: float = 1.0) -> Any:
    """T^2 * KL over the buckets, averaged over the positions with a target.

    `logits`: the student's [n, V] logits at the n answer positions (the logit that predicts
    each answer token); `targets`: one per position, None where there is no alignment.
    """

    rows = [i for i, target in enumerate(targets) if target is not None]
    if not rows:
        return logits.sum() * 0.0  # keeps the graph: every rank runs the same backward
    ids, probs, tail = pack([t for t in targets if t is not None])
    return bucket_kl(logits[rows], ids.to(logits.device), probs, tail, temperature)


def pack(targets: Sequence[Target]) -> tuple[Any, Any, Any]:
    """Targets as tensors: bucket ids [n, K] (-1 pads), their probabilities [n, K], tails [n]."""
    import torch

    width = max((len(t.probs) for t in targets), default=0)
    ids = torch.full((len(targets), width), -1, dtype=torch.long)
    probs = torch.zeros((len(targets), width), dtype=torch.float32)
    for r, t in enumerate(targets):
        if t.probs:
            ids[r, : len(t.probs)] = torch.tensor(list(t.probs))
            probs[r, : len(t.probs)] = torch.tensor(list(t.probs.values()))
    tail = torch.tensor([t.tail for t in targets], dtype=torch.float32)
    return ids, probs, tail


def bucket_kl(logits: Any, ids: Any, probs: Any, tail: Any, temperature: float = 1.0) -> Any:
    """`sparse_kl` on packed targets (`pack`), every position at once.

    `logits` [n, V] are the student's at the n aligned positions; `ids` [n, K] the bucket
    token ids (-1 where a row has fewer than K), `probs` [n, K] the teacher's mass on them and
    `tail` [n] the rest.
    """
    import torch

    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    t = float(temperature)
    logq = (logits.float() / t).log_softmax(-1)
    valid = ids >= 0
    q_ids = logq.gather(1, ids.clamp_min(0)).masked_fill(~valid, 0.0)
    # the student's tail: everything but the bucket ids, log(1 - sum q_ids), kept stable
    covered = (q_ids.exp() * valid).sum(-1)
    q_tail = torch.log1p(-covered.clamp(max=1 - 1e-6))
    q = torch.cat([q_ids, q_tail[:, None]], -1)
    p = torch.cat([probs.masked_fill(~valid, 0.0), tail[:, None]], -1).float().clamp_min(0)
    p = p.to(logq.device)
    if t != 1.0:
        p = p.pow(1.0 / t)
    p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
    terms = torch.where(p > 0, p * (p.clamp_min(1e-30).log() - q), torch.zeros_like(p))
    return t * t * terms.sum(-1).mean()
