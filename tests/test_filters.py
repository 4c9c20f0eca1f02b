"""Each filter's keep/reject decisions, as tables of answers → verdicts."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synth.answers import LabelMatcher
from synth.dataset.config import (
    AgreementFilter,
    DedupFilter,
    FinishFilter,
    JsonSchemaFilter,
    LabelsFilter,
    LengthFilter,
    RefusalFilter,
)
from synth.dataset.filters.agreement import Agreement
from synth.dataset.filters.base import Candidate, Reject
from synth.dataset.filters.dedup import Dedup
from synth.dataset.filters.finish import Finish
from synth.dataset.filters.json_schema import JsonSchema
from synth.dataset.filters.labels import Labels
from synth.dataset.filters.length import Length
from synth.dataset.filters.refusal import Refusal
from synth.dataset.neardup import group_ids, lsh_params, normalise, signature, similarity
from synth.dataset.neardup_index import NearDupIndex
from synth.journal.store import JournalItem


def item(
    answer: str | None = "ok", *, line: int = 1, sample: int = 0, text: str = "a ticket", **kw: Any
) -> JournalItem:
    fields: dict[str, Any] = dict(
        key=f"k{line}-{sample}",
        line=line,
        sample=sample,
        input={"text": text},
        request={"messages": [{"role": "user", "content": f"Ticket: {text}"}], "params": {}},
        provider="openai",
        model="m",
        state="done",
        attempts=1,
        retries=0,
        rate_limited=0,
        last_error=None,
        response_text=answer,
        finish_reason="stop",
        refusal=None,
        request_id=None,
        input_tokens=10,
        output_tokens=3,
        cached_input_tokens=0,
        cost_usd=Decimal("0.001"),
        latency_s=0.1,
        logprobs=None,
        updated_at=time.time(),
    )
    fields.update(kw)
    return JournalItem(**fields)


def verdict(f: Any, answer: str | None = "ok", **kw: Any) -> str | None:
    """The reason the filter gives, or None when it keeps the answer."""
    r = f.check(Candidate(item(answer, **kw)))
    return r.reason if r else None


@pytest.mark.parametrize(
    "finish, expected",
    [
        ("stop", None),
        ("length", "length"),
        ("max_tokens", "max_tokens"),
        ("content_filter", "content_filter"),
        (None, None),
    ],
)
def test_finish(finish: str | None, expected: str | None) -> None:
    assert verdict(Finish(FinishFilter()), finish_reason=finish) == expected


def test_finish_reasons_are_configurable() -> None:
    f = Finish(FinishFilter(reject=["length"]))
    assert verdict(f, finish_reason="content_filter") is None
    assert verdict(f, finish_reason="length") == "length"


@pytest.mark.parametrize(
    "answer, kw, expected",
    [
        ("billing", {}, None),
        ("I'm sorry, but I can't classify this.", {}, "phrase"),
        ("I\u2019m sorry, I cannot help.", {}, "phrase"),  # typographic apostrophe
        ("  **I cannot assist with that**", {}, "phrase"),
        ("Dear customer, I'm sorry your parcel is late.", {}, None),  # not at the start
        ("", {"refusal": "I can't help with that."}, "provider"),
        ("whatever", {"finish_reason": "refusal"}, "provider"),
    ],
)
def test_refusal(answer: str, kw: dict[str, Any], expected: str | None) -> None:
    assert verdict(Refusal(RefusalFilter()), answer, **kw) == expected


def test_refusal_phrases_anywhere_and_custom() -> None:
    f = Refusal(RefusalFilter(phrases=["cannot comply"], where="anywhere"))
    assert verdict(f, "Well, I cannot comply.") == "phrase"
    assert verdict(f, "I'm sorry, no.") is None
    assert verdict(Refusal(RefusalFilter(phrases=[])), "I'm sorry") is None


LABELS = ["billing", "shipping", "refund_request", "account"]


@pytest.mark.parametrize(
    "answer, label",
    [
        ("billing", "billing"),
        ("  Billing.\n", "billing"),
        ("BILLING!", "billing"),
        ("Category: Shipping", "shipping"),
        ("category - shipping.", "shipping"),
        ("Label: **account**", "account"),
        ('"refund_request"', "refund_request"),
        ("Refund request", "refund_request"),
        ("refund-request", "refund_request"),
        ("```\nbilling\n```", "billing"),
        ("bill", None),
        ("billing or shipping", None),
        ("The category is billing.", None),
        ("", None),
    ],
)
def test_labels_normalise_to_exactly_one(answer: str, label: str | None) -> None:
    f = Labels(LabelsFilter(), LABELS)
    c = Candidate(item(answer))
    r = f.check(c)
    assert c.label == label
    assert (r is None) == (label is not None)
    if r is not None:
        assert r.reason == "not_a_label"


def test_labels_lenient_accepts_one_mention_only() -> None:
    m = LabelMatcher(LABELS, lenient=True)
    assert m.match("The category is billing.") == "billing"
    assert m.match("It's a refund request, clearly") == "refund_request"
    assert m.match("billing or shipping") is None
    assert m.match("rebilling") is None


SCHEMA = {
    "type": "object",
    "properties": {"total": {"type": "number"}, "currency": {"enum": ["EUR", "USD"]}},
    "required": ["total", "currency"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "answer, reason, parsed",
    [
        ('{"total": 3, "currency": "EUR"}', None, '{"currency": "EUR", "total": 3}'),
        (
            '```json\n{"currency": "USD", "total": 1.5}\n```',
            None,
            '{"currency": "USD", "total": 1.5}',
        ),
        (
            'Here it is:\n```\n{"currency": "USD", "total": 2}\n```',
            None,
            '{"currency": "USD", "total": 2}',
        ),
        ('{"total": 3, "currency": "EUR"', "invalid_json", None),
        ("no json at all", "invalid_json", None),
        ('{"total": "3", "currency": "EUR"}', "schema", None),
        ('{"total": 3, "currency": "GBP"}', "schema", None),
        ('{"total": 3}', "schema", None),
        ('{"total": 3, "currency": "EUR", "extra": 1}', "schema", None),
    ],
)
def test_json_schema(answer: str, reason: str | None, parsed: str | None) -> None:
    c = Candidate(item(answer))
    r = JsonSchema(JsonSchemaFilter(), SCHEMA).check(c)
    assert (r.reason if r else None) == reason
    assert c.parsed_json == parsed


def test_json_schema_reject_names_the_field() -> None:
    r = JsonSchema(JsonSchemaFilter(), SCHEMA).check(
        Candidate(item('{"total": 3, "currency": "GBP"}'))
    )
    assert r is not None and r.detail.startswith("currency: 'GBP' is not one of")


@pytest.mark.parametrize(
    "spec, answer, tokens, expected",
    [
        ({"min_chars": 1}, "x", 1, None),
        ({"min_chars": 1}, "   ", 1, "too_short"),
        ({"max_chars": 5}, "abcdef", 1, "too_long"),
        ({"min_tokens": 2}, "abc", 1, "too_short"),
        ({"max_tokens": 2}, "abc", 3, "too_long"),
        ({"min_chars": 2, "max_tokens": 10}, "abc", 10, None),
    ],
)
def test_length(spec: dict[str, int], answer: str, tokens: int, expected: str | None) -> None:
    assert verdict(Length(LengthFilter(**spec)), answer, output_tokens=tokens) == expected


def test_length_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="min_chars .5. is greater than max_chars .2."):
        LengthFilter(min_chars=5, max_chars=2)


# -- the stream filters ---------------------------------------------------------------------


def run(
    f: Any, items: list[JournalItem], labels: list[str] | None = None
) -> tuple[list[str], list[tuple[str, str]]]:
    """(keys kept, [(key, reason)] rejected) after the labels filter (if any) then `f`."""
    rejected: list[tuple[str, str]] = []

    def on_reject(c: Candidate, name: str, r: Reject) -> None:
        rejected.append((c.item.key, r.reason))

    stream: Any = (Candidate(i) for i in items)
    if labels:
        stream = Labels(LabelsFilter(), labels).run(stream, on_reject)
    kept = [c.item.key for c in f.run(stream, on_reject)]
    f.close()
    return kept, rejected


LONG = "I was charged twice for my subscription this month, please refund one of the payments"
TYPO = LONG.replace("payments", "paymets")  # estimated similarity 0.91 at 64 permutations


def test_dedup_exact_and_near() -> None:
    items = [
        item("billing", line=1, text=LONG),
        item("Billing", line=1, sample=1, text=LONG),  # same input, same answer (normalised)
        item("refund", line=1, sample=2, text=LONG),  # same input, another answer: kept
        item("billing", line=2, text=TYPO),  # a typo: near
        item("billing", line=3, text=LONG.upper() + "!"),  # same after normalisation
        item("billing", line=4, text="My parcel never arrived and the courier does not answer"),
    ]
    kept, rejected = run(Dedup(DedupFilter()), items)
    assert kept == ["k1-0", "k1-2", "k4-0"]
    assert rejected == [("k1-1", "duplicate"), ("k2-0", "near_duplicate"), ("k3-0", "duplicate")]


def test_dedup_near_off_and_exact_off() -> None:
    items = [
        item("billing", line=1, text=LONG),
        item("billing", line=2, text=TYPO),
        item("billing", line=2, sample=1, text=TYPO),
    ]
    assert run(Dedup(DedupFilter(near_threshold=None)), items)[0] == ["k1-0", "k2-0"]
    assert run(Dedup(DedupFilter(exact=False)), items)[0] == ["k1-0"]


def test_dedup_uses_the_fields_the_template_reads() -> None:
    a = item("billing", line=1, text=LONG)
    b = item("billing", line=2, text=LONG)
    a.input["note"] = "internal: a customer since 2019, several orders, prefers email"
    b.input["note"] = "escalated by the night shift after three phone calls"
    # unknown fields: the note counts, and makes the two inputs different
    assert run(Dedup(DedupFilter(exact=False)), [a, b])[0] == ["k1-0", "k2-0"]
    assert run(Dedup(DedupFilter(exact=False), fields=["text"]), [a, b])[0] == ["k1-0"]


def test_agreement_votes_per_input() -> None:
    items = [
        item("billing", line=1),
        item("Billing.", line=1, sample=1),
        item("account", line=1, sample=2),
        item("billing", line=2),
        item("account", line=2, sample=1),  # a tie
        item("account", line=3),
        item("account", line=3, sample=1),
        item("account", line=3, sample=2),
        item("shipping", line=4),  # one vote
    ]
    kept, rejected = run(Agreement(AgreementFilter(min_votes=2)), items, labels=LABELS)
    assert kept == ["k1-0", "k3-0"]
    assert rejected == [
        ("k1-1", "redundant_vote"),
        ("k1-2", "outvoted"),
        ("k2-0", "no_majority"),
        ("k2-1", "no_majority"),
        ("k3-1", "redundant_vote"),
        ("k3-2", "redundant_vote"),
        ("k4-0", "no_majority"),
    ]


def test_agreement_counts_only_answers_that_survived() -> None:
    items = [
        item("billing", line=1),
        item("bill?", line=1, sample=1),
        item("billing", line=1, sample=2),
    ]
    kept, rejected = run(Agreement(AgreementFilter(min_votes=2)), items, labels=LABELS)
    assert kept == ["k1-0"]
    assert rejected == [("k1-1", "not_a_label"), ("k1-2", "redundant_vote")]


def test_agreement_on_free_text_folds_case_and_spacing() -> None:
    items = [
        item("Paris", line=1),
        item(" paris ", line=1, sample=1),
        item("Lyon", line=1, sample=2),
    ]
    assert run(Agreement(AgreementFilter(min_votes=2)), items)[0] == ["k1-0"]


# -- near duplicates ------------------------------------------------------------------------


def test_lsh_params_reach_the_threshold() -> None:
    for threshold in (0.5, 0.7, 0.85, 0.95, 1.0):
        b, r = lsh_params(threshold, 64)
        assert b * r <= 64 and 1 - (1 - threshold**r) ** b >= 0.95


def test_signature_estimates_jaccard_and_is_stable() -> None:
    a, b = normalise(LONG), normalise(TYPO)
    assert similarity(signature(a, 64), signature(a, 64)) == 1.0
    assert 0.75 < similarity(signature(a, 128), signature(b, 128)) <= 1.0
    # fixed permutations: the same values in every process
    assert signature("abcdefgh", 16)[:3].tolist() == signature("abcdefgh", 16)[:3].tolist()
    assert similarity(signature(a, 64), signature(normalise("something else entirely"), 64)) < 0.2


def test_near_dup_index_checks_candidates(tmp_path: Path) -> None:
    index = NearDupIndex(0.85, 64, tmp_path)
    index._firsts.FLUSH_EVERY = 50  # exercise the table on disk, not only the recent entries
    assert not index.seen_or_add(normalise(LONG))
    assert index.seen_or_add(normalise(LONG + "!"))
    assert index.seen_or_add(normalise(TYPO))
    assert not index.seen_or_add(
        normalise("I was charged twice for my plan, refund one payment please")
    )
    others = [
        normalise(f"ticket {i * 7919} is about order {i} and a {i % 7} day delay")
        for i in range(300)
    ]
    assert not any(index.seen_or_add(t) for t in others)
    assert index._firsts._stored and index.seen_or_add(
        normalise(LONG.replace("payments", "payment"))
    )
    assert all(index.seen_or_add(t) for t in others)
    index.close()


def test_group_ids_are_transitive_and_order_free() -> None:
    texts = [
        LONG,
        "unrelated words here and there",
        TYPO,
        TYPO.replace("twice", "twicee"),
        "unrelated words here and there!",
    ]
    b, r = lsh_params(0.7, 64)
    from synth.dataset.neardup import band_hashes, digest64

    sigs = np.array([signature(normalise(t), 64) for t in texts])
    bands = np.array([band_hashes(s, b, r) for s in sigs], dtype=np.uint64)
    ids = np.array([digest64(normalise(t)) for t in texts], dtype=np.uint64)
    g = group_ids(bands.T, ids, lambda rows: sigs[rows], 0.7)
    assert g[0] == g[2] == g[3] and g[1] == g[4] and g[0] != g[1]
    assert g[0] == min(ids[[0, 2, 3]])
    order = [4, 2, 0, 3, 1]
    reordered = group_ids(bands[order].T, ids[order], lambda rows: sigs[order][rows], 0.7)
    assert reordered.tolist() == g[order].tolist()
    # a threshold above their similarity keeps them apart
    assert len(set(group_ids(bands.T, ids, lambda rows: sigs[rows], 0.99).tolist())) == 4
