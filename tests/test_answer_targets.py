"""A free-text answer's soft targets from the dataset's logprobs, with a real fast tokenizer."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from finetune.answer_targets import answer_targets  # noqa: E402
from finetune.token_align import aligned_fraction  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # a student that splits "billing" into "bill" "ing" and keeps " is" " late" " re" whole
    tokens = "bill ing Ġis Ġlate Ġre b i l n g s a t e r Ġ bi bil in Ġi Ġl Ġla Ġlat Ġr".split()
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = "b i,bi l,bil l,i n,in g,Ġ i,Ġi s,Ġ l,Ġl a,Ġla t,Ġlat e,Ġ r,Ġr e".split(",")
    merges = [(m.split()[0], m.split()[1]) for m in pairs]
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe)


def entry(token: str, p: float, top: dict[str, float]) -> dict[str, Any]:
    return {"token": token, "logprob": math.log(p), "top": {k: math.log(v) for k, v in top.items()}}


def test_a_teacher_token_the_student_splits(tokenizer) -> None:  # type: ignore[no-untyped-def]
    teacher = [entry("billing", 0.8, {"billing": 0.8, " re": 0.1}), entry(" is", 0.9, {" is": 0.9})]
    ids, targets = answer_targets(tokenizer, "billing is", teacher)
    assert tokenizer.convert_ids_to_tokens(ids) == ["bill", "ing", "Ġis"]
    assert targets[1] is None  # "ing" starts inside the teacher's "billing": CE alone
    bill, re_, is_ = (tokenizer.convert_tokens_to_ids(t) for t in ["bill", "Ġre", "Ġis"])
    assert targets[0] is not None and targets[0].probs == pytest.approx({bill: 0.8, re_: 0.1})
    assert targets[0].tail == pytest.approx(0.1)
    assert targets[2] is not None and targets[2].probs == pytest.approx({is_: 0.9})
    assert aligned_fraction(targets) == pytest.approx(2 / 3)


def test_teacher_tokens_that_do_not_spell_the_answer_give_no_target(tokenizer) -> None:  # type: ignore[no-untyped-def]
    teacher = [entry("billing", 0.8, {"billing": 0.8})]
    ids, targets = answer_targets(tokenizer, "billing is", teacher)
    assert len(ids) == 3 and targets == [None, None, None]


def test_a_same_tokenizer_teacher_gives_ids(tokenizer) -> None:  # type: ignore[no-untyped-def]
    teacher = [
        entry("token_id:0", 0.7, {"token_id:0": 0.7, "token_id:4": 0.2}),
        entry("token_id:1", 1.0, {"token_id:1": 1.0}),
    ]
    ids, targets = answer_targets(tokenizer, "billing", teacher)
    assert ids == [0, 1]
    assert targets[0] is not None and targets[0].probs == pytest.approx({0: 0.7, 4: 0.2})
    assert targets[0].tail == pytest.approx(0.1)
    assert targets[1] is not None and targets[1].tail == pytest.approx(0.0)


def test_a_malformed_id_falls_back_to_no_target(tokenizer) -> None:  # type: ignore[no-untyped-def]
    teacher = [entry("token_id:x", 1.0, {"token_id:x": 1.0})]
    ids, targets = answer_targets(tokenizer, "billing", teacher)
    assert len(ids) == 2 and targets == [None, None]
