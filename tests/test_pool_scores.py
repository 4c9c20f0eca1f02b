"""The student's certainty on pool items (finetune.pool_scores), on a real tiny model."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from finetune.pool_scores import certainty  # noqa: E402
from finetune.tiny import build_tiny_student  # noqa: E402

TEXTS = ["I was charged twice", "my parcel never came", "please refund me", "reset my password"]
LABELS = ["billing", "shipping", "refund", "account"]


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    path = build_tiny_student(
        tmp_path_factory.mktemp("tiny"),
        TEXTS * 20 + LABELS * 20,
        vocab_size=300,
        hidden_size=32,
        layers=1,
        heads=2,
        seed=0,
    )
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def convs(texts: list[str]) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": t}] for t in texts]


def test_label_margins_match_the_label_probabilities_and_do_not_depend_on_batching(
    student: tuple[object, object],
) -> None:
    model, tok = student
    batched = certainty(model, tok, convs(TEXTS), labels=LABELS, batch_size=4)
    single = [certainty(model, tok, convs([t]), labels=LABELS, batch_size=1)[0] for t in TEXTS]
    assert batched == pytest.approx(single, abs=1e-5)
    assert all(0 <= m <= 1 for m in batched)
    # a model made sure of one label: its margins grow
    with torch.no_grad():
        head = model.get_output_embeddings().weight  # type: ignore[attr-defined]
        first = tok("billing", add_special_tokens=False)["input_ids"][0]  # type: ignore[operator]
        head[first] += 50 * head[first].sign()
    sure = certainty(model, tok, convs(TEXTS), labels=LABELS, batch_size=4)
    assert sum(sure) > sum(batched)


def test_greedy_answer_log_probability_is_a_mean_of_log_probabilities(
    student: tuple[object, object],
) -> None:
    model, tok = student
    scores = certainty(model, tok, convs(TEXTS), labels=None, max_new_tokens=6, batch_size=4)
    single = [
        certainty(model, tok, convs([t]), labels=None, max_new_tokens=6, batch_size=1)[0]
        for t in TEXTS
    ]
    assert len(scores) == 4 and all(s <= 0 for s in scores)
    assert scores == pytest.approx(single, abs=1e-4)
