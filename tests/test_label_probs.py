"""The student's label log-probabilities: the batched, padded pass equals scoring each
(prompt, label) pair alone, gradients flow, and the answer split matches the chat template."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from finetune.label_probs import answer_ids, label_logprobs  # noqa: E402
from finetune.tiny import build_tiny_student  # noqa: E402

LABELS = ["billing", "billing_dispute", "shipping", "account"]
TEXTS = [f"ticket about {w} please help {w}" for w in LABELS * 20]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    path = build_tiny_student(
        tmp_path_factory.mktemp("tiny"), TEXTS, vocab_size=400, hidden_size=64, layers=2, heads=4
    )
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _alone(model: object, tokenizer: object, conv: list[dict[str, str]], label: str) -> float:
    head, tail = answer_ids(tokenizer, conv, label)
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].float().log_softmax(-1)  # type: ignore[operator]
    return sum(float(logp[len(head) + i - 1, t]) for i, t in enumerate(tail))


def test_batched_pass_equals_each_pair_scored_alone(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    convs = [
        [{"role": "system", "content": "Classify."}, {"role": "user", "content": "my invoice"}],
        [{"role": "user", "content": "a much longer ticket about a package that never came"}],
    ]
    with torch.no_grad():
        got = label_logprobs(model, tokenizer, convs, LABELS)
    assert got.shape == (2, len(LABELS))
    for i, conv in enumerate(convs):
        for j, label in enumerate(LABELS):
            assert float(got[i, j]) == pytest.approx(
                _alone(model, tokenizer, conv, label), abs=1e-4
            )


def test_answer_tokens_end_with_the_end_of_turn_token(tiny: tuple[object, object]) -> None:
    _, tokenizer = tiny
    head, tail = answer_ids(tokenizer, [{"role": "user", "content": "hi"}], "billing")
    assert tail[-1] == tokenizer.eos_token_id  # type: ignore[attr-defined]
    assert tokenizer.decode(tail[:-1]) == "billing"  # type: ignore[attr-defined]
    # a label that extends another scores as a different answer, not as the same prefix
    _, longer = answer_ids(tokenizer, [{"role": "user", "content": "hi"}], "billing_dispute")
    assert longer[: len(tail) - 1] == tail[:-1] and longer != tail


def test_gradients_flow(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    lp = label_logprobs(model, tokenizer, [[{"role": "user", "content": "invoice"}]], LABELS)
    lp.log_softmax(-1)[0, 0].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]  # type: ignore[attr-defined]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def test_whole_pairs_under_gradient_checkpointing_give_the_same(
    tiny: tuple[object, object],
) -> None:
    model, tokenizer = tiny
    convs = [[{"role": "user", "content": "my invoice"}], [{"role": "user", "content": "a b c d"}]]
    with torch.no_grad():
        cached = label_logprobs(model, tokenizer, convs, LABELS)
    model.activation_checkpointing_enable()  # type: ignore[attr-defined]
    model.train()  # type: ignore[attr-defined]
    try:
        with torch.no_grad():
            whole = label_logprobs(model, tokenizer, convs, LABELS)
    finally:
        model.activation_checkpointing_disable()  # type: ignore[attr-defined]
        model.eval()  # type: ignore[attr-defined]
    assert torch.allclose(cached, whole, atol=1e-4)
