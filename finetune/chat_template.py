"""The student's chat template, and how the loss is kept to the assistant's tokens.

TRL computes the loss on the assistant's tokens only (`assistant_only_loss=True`) when the chat
template wraps each assistant turn in `{% generation %}...{% endgeneration %}`. What we do, by
the base tokenizer's template:

    has generation markers            → used as is
    a template TRL can patch          → TRL swaps in its training twin (Qwen, Llama 3, Gemma, Phi, ...)
    another template, without markers → the rows become prompt/completion pairs and TRL's
                                        `completion_only_loss` masks the prompt: same effect,
                                        any template
    no template at all (base models)  → DEFAULT_CHAT_TEMPLATE below (ChatML with markers); its
                                        <|im_start|>/<|im_end|> are added as special tokens
                                        when the vocabulary lacks them

The template is saved with the student's tokenizer, so the student is prompted at inference
(vLLM, `transformers serve`, the eval stage) exactly as it was trained.
"""

from __future__ import annotations

from typing import Any, Literal

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

# ChatML. The assistant's end-of-turn token is inside the generation block, so the student learns
# to stop; the newline after it is not (it is never generated: generation stops at <|im_end|>).
DEFAULT_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

LossMode = Literal["assistant_only", "completion_only"]


def choose_loss_mode(tokenizer: Any) -> tuple[LossMode, list[str]]:
    """Install the default template where there is none; say how the prompt is masked.

    Returns the mode and the special tokens that had to be added to the vocabulary (the caller
    resizes the model's embeddings and makes those rows trainable).
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not template:
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
        vocab = tokenizer.get_vocab()
        added = [t for t in (IM_START, IM_END) if t not in vocab]
        if added:
            tokenizer.add_special_tokens({"additional_special_tokens": added})
        # generation must stop at the end of the assistant's turn
        tokenizer.eos_token = IM_END
        return "assistant_only", added
    if has_generation_markers(template):
        return "assistant_only", []
    try:
        get_training_chat_template(tokenizer)  # TRL patches the template itself at training time
    except ValueError:
        return "completion_only", []
    return "assistant_only", []


def to_prompt_completion(row: dict[str, Any]) -> dict[str, Any]:
    """Split a conversation before its last assistant turn (for `completion_only` loss)."""
    messages = row["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return {"prompt": messages[:last], "completion": messages[last : last + 1]}
