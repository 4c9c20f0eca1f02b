"""The tiny local student: a real Hugging Face model folder, built offline in a second."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from datasets import Dataset, DatasetDict  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from finetune.chat_template import DEFAULT_CHAT_TEMPLATE, choose_loss_mode  # noqa: E402
from finetune.tiny import build_tiny_student, build_tiny_student_from_dataset  # noqa: E402

TEXTS = [
    "My invoice shows a double charge, please refund it.",
    "Le colis n'est jamais arrivé, pouvez-vous vérifier ?",
    "pasword reset link dont work!!",
    "Die App stürzt beim Start ab.",
    "账户无法登录",
] * 20
CONVERSATION = [
    {"role": "system", "content": "Classify the ticket."},
    {"role": "user", "content": "The app crashes on start."},
    {"role": "assistant", "content": "technical"},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_student(
        tmp_path_factory.mktemp("tiny") / "student",
        TEXTS,
        vocab_size=400,
        hidden_size=64,
        layers=2,
        heads=4,
    )


def test_folder_is_a_normal_hf_model(tiny: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (tiny / name).exists(), name
    model = AutoModelForCausalLM.from_pretrained(tiny)
    tok = AutoTokenizer.from_pretrained(tiny)
    assert model.config.model_type == "llama"
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    assert model.get_input_embeddings().weight.shape[0] == len(tok) <= 400
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    assert model.generation_config.eos_token_id == tok.eos_token_id


def test_byte_level_tokenizer_round_trips_any_text(tiny: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny)
    for text in [
        "pasword reset link dont work!!",
        "Die App stürzt ab.",
        "账户无法登录",
        "emoji 🙂 & tabs\t!",
    ]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
        assert tok.unk_token_id is None or tok.unk_token_id not in ids
    # trained on the task's text: a frequent phrase is far shorter than its bytes
    assert (
        len(tok("please refund it", add_special_tokens=False)["input_ids"])
        < len("please refund it") / 2
    )


def test_chat_template_marks_the_assistant_turn(tiny: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny)
    assert tok.chat_template == DEFAULT_CHAT_TEMPLATE
    assert choose_loss_mode(tok) == ("assistant_only", [])
    out = tok.apply_chat_template(
        CONVERSATION, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    assistant = [i for i, m in zip(ids, mask, strict=True) if m]
    assert tok.decode(assistant) == "technical<|im_end|>"
    prompt = tok.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_random_init_model_generates(tiny: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny)
    tok = AutoTokenizer.from_pretrained(tiny)
    enc = tok.apply_chat_template(
        CONVERSATION[:2], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == enc["input_ids"].shape[1] + 4 or tok.eos_token_id in out[0].tolist()


def test_same_seed_same_weights(tmp_path: Path) -> None:
    a = build_tiny_student(
        tmp_path / "a", TEXTS, vocab_size=300, hidden_size=32, layers=1, heads=2, seed=3
    )
    b = build_tiny_student(
        tmp_path / "b", TEXTS, vocab_size=300, hidden_size=32, layers=1, heads=2, seed=3
    )
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_default_template_is_installed_where_a_tokenizer_has_none(tiny: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny)
    tok.chat_template = None
    mode, added = choose_loss_mode(tok)
    assert (
        mode == "assistant_only" and added == []
    )  # <|im_start|>/<|im_end|> already in its vocabulary
    assert tok.chat_template == DEFAULT_CHAT_TEMPLATE and tok.eos_token == "<|im_end|>"


def test_built_from_a_dataset(tmp_path: Path) -> None:
    rows = [
        {"messages": [*CONVERSATION[:1], {"role": "user", "content": t}, CONVERSATION[2]]}
        for t in TEXTS
    ]
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "dataset"))
    out = build_tiny_student_from_dataset(
        tmp_path / "student", tmp_path / "dataset", vocab_size=300, hidden_size=32
    )
    tok = AutoTokenizer.from_pretrained(out)
    # the system prompt, in every row, is learnt as a few tokens
    assert len(tok("Classify the ticket.", add_special_tokens=False)["input_ids"]) <= 5
    AutoModelForCausalLM.from_pretrained(out)


def test_cli_builds_from_a_configs_inputs_through_its_template(tmp_path: Path) -> None:
    import json

    from finetune.tiny import build_tiny_student_cli
    from synth.config import RunConfig

    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    cfg = RunConfig.model_validate(
        {
            "name": "t",
            "runs_dir": str(tmp_path / "runs"),
            "inputs": str(inputs),
            "template": "support-ticket",
            "teacher": {"provider": "openai", "model": "sim"},
            "student": {
                "base_model": "tiny",
                "tiny": {"vocab_size": 350, "hidden_size": 32, "heads": 2},
            },
        }
    )
    out = build_tiny_student_cli(tmp_path / "student", cfg)
    tok = AutoTokenizer.from_pretrained(out)
    assert AutoModelForCausalLM.from_pretrained(out).config.hidden_size == 32
    # the template's own words were in the tokenizer's corpus
    assert len(tok("<ticket>", add_special_tokens=False)["input_ids"]) <= 3


def test_cli_without_a_config_still_builds_a_model(tmp_path: Path) -> None:
    from finetune.tiny import build_tiny_student_cli

    out = build_tiny_student_cli(tmp_path / "student")
    AutoModelForCausalLM.from_pretrained(out)
    AutoTokenizer.from_pretrained(out)
