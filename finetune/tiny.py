"""A tiny local student: random-init Llama-style weights and a byte-level BPE tokenizer.

For tests and the offline demo: nothing is downloaded. The tokenizer is trained with
`tokenizers` on the task's own text, so a few hundred merges cover it well and sequences stay
short; the folder it writes is a normal Hugging Face model folder (config.json,
model.safetensors, tokenizer.json, tokenizer_config.json with the chat template) that
`AutoModelForCausalLM` / `AutoTokenizer` load like any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune.chat_template import DEFAULT_CHAT_TEMPLATE, IM_END, IM_START

if TYPE_CHECKING:
    from synth.config import RunConfig

PAD, BOS = "<|pad|>", "<|endoftext|>"
SPECIAL_TOKENS = [PAD, BOS, IM_START, IM_END]


def build_tiny_student(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 1024,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 1024,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on `texts`, build a random-init Llama model, save both to `out_dir`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # Byte-level BPE: every string is encodable (no unknown token), typos and other scripts too.
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=IM_END,  # generation stops at the end of the assistant's turn
        pad_token=PAD,
        additional_special_tokens=[IM_START],
        model_max_length=max_position_embeddings,
    )
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_position_embeddings,
        # untied: LoRA's modules_to_save and the merge treat the head and the embeddings apart
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return out


def texts_of(rows: Iterable[dict[str, Any]]) -> Iterable[str]:
    """Every message of conversational rows (`messages`), for the tokenizer: the role names too,
    as often as the chat template writes them, so that they become single tokens."""
    for row in rows:
        for message in row["messages"]:
            yield message["role"]
            yield message["content"]


def build_tiny_student_from_dataset(
    out_dir: str | Path,
    dataset_dir: str | Path,
    *,
    max_texts: int = 5000,
    seed: int = 0,
    **shape: Any,
) -> Path:
    """`distill tiny-student PATH --from-dataset DIR`: the tokenizer learns the train split's text."""
    from finetune.data import load_splits

    train = load_splits(dataset_dir)["train"]
    rows = train.select(range(min(max_texts, len(train))))
    return build_tiny_student(out_dir, texts_of(rows), seed=seed, **shape)


# A few lines for a tokenizer when there is no task text at all (`distill tiny-student PATH`).
GENERIC_TEXT = [
    "You are a helpful assistant.",
    "Answer the question in one word.",
    "The quick brown fox jumps over the lazy dog.",
    "Please classify the following text, then answer with the label only.",
    '{"name": "value", "items": [1, 2, 3], "ok": true}',
]


def build_tiny_student_cli(path: str | Path, cfg: RunConfig | None = None) -> Path:
    """`distill tiny-student PATH [--config CONFIG]`: the tokenizer learns the run's text.

    The text is the run's built dataset (train split) when there is one, else its inputs rendered
    through its template (what the teacher is sent), else a few generic lines. The shape is the
    config's `student.tiny:` when it has one, else the defaults.
    """
    from synth.student_config import TinySpec

    spec = TinySpec()
    if cfg is not None and cfg.student is not None and cfg.student.is_tiny:
        spec = cfg.student.tiny_spec
    texts: Iterable[str] = GENERIC_TEXT * 20
    seed = cfg.student.seed if cfg is not None and cfg.student is not None else 0
    if cfg is not None:
        dataset = cfg.paths.dataset
        if (dataset / "dataset_dict.json").exists():
            return build_tiny_student_from_dataset(
                path, dataset, max_texts=spec.texts, seed=seed, **_shape(spec)
            )
        texts = list(_rendered_inputs(cfg, spec.texts))
    return build_tiny_student(path, texts, seed=seed, **_shape(spec))


def _shape(spec: Any) -> dict[str, Any]:
    return {
        "vocab_size": spec.vocab_size,
        "hidden_size": spec.hidden_size,
        "layers": spec.layers,
        "heads": spec.heads,
        "intermediate_size": spec.intermediate_size,
        "max_position_embeddings": spec.max_position_embeddings,
    }


def _rendered_inputs(cfg: RunConfig, limit: int) -> Iterable[str]:
    """The first `limit` inputs as the teacher sees them (roles and contents)."""
    import json

    from synth.errors import InputError
    from synth.templates import load_template

    template = load_template(cfg.template, cfg.base_dir)
    # a rounds config may have no inputs: the pool items sent so far are its inputs
    inputs = cfg.inputs or cfg.paths.rounds_inputs
    try:
        with open(inputs, encoding="utf-8") as f:
            for n, line in enumerate(f):
                if n >= limit:
                    break
                if line.strip():
                    yield from texts_of([{"messages": template.render(json.loads(line))}])
    except FileNotFoundError:
        raise InputError(f"{inputs}: inputs file not found") from None
