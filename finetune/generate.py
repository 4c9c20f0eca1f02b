"""Greedy, batched answers from a student: what the eval stage and the demo measure."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

Message = dict[str, str]


def generate(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 32,
) -> list[str]:
    """The assistant's reply to each conversation (its prompt turns: system, user, ...).

    Greedy decoding, left-padded batches, stopping at the template's end-of-turn token.
    """
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    replies: list[str] = []
    model.eval()
    try:
        for start in range(0, len(conversations), batch_size):
            chunk = [list(c) for c in conversations[start : start + batch_size]]
            enc = tokenizer.apply_chat_template(
                chunk,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                padding=True,
            ).to(model.device)
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            new = out[:, enc["input_ids"].shape[1] :]
            replies.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
    return replies


def load_student(model_dir: str, *, device: str | None = None) -> tuple[Any, Any]:
    """The model and tokenizer in `model_dir` (a merged model, a full one, or a LoRA adapter)."""
    from pathlib import Path

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if (Path(model_dir) / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", FutureWarning
            )  # peft reads a deprecated transformers flag
            model = AutoPeftModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    return model.to(device), AutoTokenizer.from_pretrained(model_dir)
