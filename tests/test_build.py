"""The build: journal → filters → funnel → a leakage-free DatasetDict that TRL trains on.

Most journals here are written with the Journal API directly (every answer chosen by the
test); one comes from a real harvest against the simulated teacher with its faults on.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from synth.config import RunConfig, load_config
from synth.dataset.builder import build
from synth.dataset.funnel import Funnel, funnel_table
from synth.errors import ConfigError
from synth.harvest.providers.base import ChatRequest, ChatResponse, Usage
from synth.journal.store import PLAN_EXTEND, Journal, NewItem, request_key
from synth.templates import load_template

LABELS = ["billing", "shipping", "refund", "account"]
CLASSIFY = """\
description: Classify a ticket
system: You triage support tickets.
user: "Ticket: {{ text }}"
params: {temperature: 0, max_tokens: 8}
output:
  labels: [billing, shipping, refund, account]
"""
EXTRACT = """\
description: Extract an invoice
user: "Invoice: {{ text }}"
output:
  json_schema:
    type: object
    properties:
      total: {type: number}
      currency: {type: string, enum: [EUR, USD]}
    required: [total, currency]
"""
# distinct tickets: random words behind a per-label opener (pairwise similarity ~0.1)
WORDS = (
    "order parcel invoice card account password refund delivery box courier address payment plan "
    "blender kettle phone laptop chair lamp desk subscription coupon receipt tracking warehouse "
    "monday tuesday friday weekend yesterday today morning evening week month twice again still "
    "broken missing late wrong damaged locked expired cancelled charged blocked lost stuck"
).split()
OPENERS = {
    "billing": "Charged wrongly:",
    "shipping": "Delivery problem:",
    "refund": "Refund request:",
    "account": "Login trouble:",
}


# -- a journal written by hand -------------------------------------------------------------


class JournalWriter:
    """Items with chosen answers, written the way the harvest engine writes them."""

    def __init__(self, path: Path, model: str = "teacher-1") -> None:
        self.journal = Journal(path)
        self.model = model
        self.run_id = self.journal.start_run(provider="openai", model=model, budget_usd=None)
        self.lines: dict[int, dict[str, Any]] = {}

    def add(
        self,
        line: int,
        text: str,
        answers: list[str | None],
        *,
        finish: str = "stop",
        refusal: str | None = None,
        cost: str = "0.001",
        logprobs: list[dict[str, Any]] | None = None,
        system: str | None = "You triage support tickets.",
        **fields: Any,
    ) -> None:
        """One input line and its samples; `None` as an answer is a failed request."""
        record = {"text": text, **fields}
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": f"Ticket: {text}"}
        ]
        request = ChatRequest(model=self.model, messages=messages, params={"max_tokens": 8})
        items = [
            NewItem(request_key("openai", request, s), line, s, record, request, "openai")
            for s in range(len(answers))
        ]
        # one line at a time, so no harvest plan: the journal builds every item
        self.journal.add_items(items, plan=PLAN_EXTEND)
        for it, answer in zip(items, answers, strict=True):
            self.journal.mark_in_flight(it.key, Decimal("0.01"))
            if answer is None:
                self.journal.mark_failed(
                    it.key,
                    "HTTP 500: upstream error",
                    run_id=self.run_id,
                    started_at=time.time(),
                    status=500,
                )
                continue
            response = ChatResponse(
                text=answer,
                usage=Usage(12, 3),
                finish_reason=finish,
                refusal=refusal,
                logprobs=logprobs,
            )
            self.journal.mark_done(
                it.key, response, Decimal(cost), run_id=self.run_id, started_at=time.time()
            )

    def close(self) -> None:
        self.journal.end_run(self.run_id, "finished")
        self.journal.close()


def make_run(
    tmp_path: Path,
    template: str = CLASSIFY,
    *,
    filters: Any = None,
    dataset: Any = None,
    samples: int = 1,
) -> RunConfig:
    (tmp_path / "t.yaml").write_text(template)
    (tmp_path / "in.jsonl").write_text("")
    cfg: dict[str, Any] = {
        "name": "r",
        "inputs": "in.jsonl",
        "template": "t.yaml",
        "teacher": {
            "provider": "openai",
            "model": "teacher-1",
            "base_url": "http://127.0.0.1:9/v1",
            "samples_per_input": samples,
        },
    }
    if filters is not None:
        cfg["filters"] = filters
    if dataset is not None:
        cfg["dataset"] = dataset
    (tmp_path / "c.yaml").write_text(json.dumps(cfg))
    return load_config(tmp_path / "c.yaml")


def tickets(n: int, start: int = 1) -> list[tuple[int, str, str]]:
    """(line, text, label): distinct tickets, balanced over the labels."""
    out = []
    for i in range(start, start + n):
        label = LABELS[i % len(LABELS)]
        words = random.Random(i).choices(WORDS, k=10)
        out.append((i, f"{OPENERS[label]} {' '.join(words)}", label))
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


# -- the funnel ----------------------------------------------------------------------------


def test_funnel_counts_and_dollars_add_up_to_the_journal(tmp_path: Path) -> None:
    cfg = make_run(tmp_path)
    w = JournalWriter(cfg.journal_path)
    twice = "I was charged twice for my subscription this month, please refund one payment"
    w.add(1, twice, ["billing"], cost="0.0013")
    w.add(2, "Where is my parcel?", ["Category: Shipping."], cost="0.0021")
    w.add(3, "Refund me now", ["refu"], finish="length", cost="0.004")
    w.add(4, "Tell me a joke", ["I'm sorry, I can only triage tickets."], cost="0.0007")
    w.add(5, "Something odd", ["weather"], cost="0.0011")
    w.add(6, "Server down", [None])
    w.add(7, twice + " now", ["billing"], cost="0.0017")  # a near duplicate of line 1
    w.add(8, "Blocked", [""], refusal="I can't help with that.", cost="0.0002")
    w.close()

    result = build(cfg)
    f = result.funnel
    with Journal(cfg.journal_path, readonly=True) as j:
        totals = j.totals()
    assert f.items_in == totals["items"] == 8
    assert f.cost_usd == totals["cost_usd"]
    removed = {s.name: s.removed for s in f.stages}
    assert removed == {
        "teacher": 1,
        "finish": 1,
        "refusal": 2,
        "labels": 1,
        "length": 0,
        "dedup": 1,
    }
    assert f.kept == 2 and f.kept + sum(removed.values()) == totals["items"]
    assert f.kept + sum(s.removed for s in f.filters) == totals["succeeded"]
    assert f.teacher.removed == totals["failed"]
    cost = {s.name: s.cost_usd for s in f.stages}
    assert cost["finish"] == Decimal("0.004")
    assert cost["refusal"] == Decimal("0.0009")
    assert cost["dedup"] == Decimal("0.0017")
    assert f.kept_cost_usd == Decimal("0.0034")
    assert sum(cost.values()) + f.kept_cost_usd == totals["cost_usd"]

    saved = json.loads(result.funnel_path.read_text())
    assert Funnel.from_dict(saved).to_dict() == saved
    assert saved["stages"][2] == {
        "name": "refusal",
        "removed": 2,
        "cost_usd": 0.0009,
        "cost_usd_exact": "0.0009",
        "reasons": {"phrase": 1, "provider": 1},
    }
    rejected = read_jsonl(result.rejected_path)
    assert {(r["line"], r["filter"], r["reason"]) for r in rejected} == {
        (3, "finish", "length"),
        (4, "refusal", "phrase"),
        (8, "refusal", "provider"),
        (5, "labels", "not_a_label"),
        (7, "dedup", "near_duplicate"),
    }
    table = funnel_table(saved)
    assert [c.header for c in table.columns][:3] == ["stage", "removed", "spent on them"]
    assert table.row_count == 2 + len(f.stages)


# -- rows ----------------------------------------------------------------------------------


def test_rows_are_trl_conversations_with_the_input_and_cost(tmp_path: Path) -> None:
    from datasets import load_from_disk

    cfg = make_run(tmp_path, dataset={"validation": 0, "test": 0})
    w = JournalWriter(cfg.journal_path)
    lp = [{"token": "billing", "logprob": -0.01, "top": {"billing": -0.01, "refund": -4.2}}]
    w.add(
        1,
        "I was charged twice",
        ["  Billing. "],
        cost="0.0013",
        logprobs=lp,
        priority=2,
        tags=["a"],
    )
    w.add(2, "Where is my parcel?", ["shipping"], priority="high", tags=None, vip=True)
    w.close()

    result = build(cfg)
    dd = load_from_disk(str(result.dataset_dir))
    assert list(dd) == ["train", "validation", "test"]
    assert len(dd["train"]) == 2 and len(dd["validation"]) == len(dd["test"]) == 0
    row = dd["train"][0]
    assert row["messages"] == [
        {"role": "system", "content": "You triage support tickets."},
        {"role": "user", "content": "Ticket: I was charged twice"},
        {"role": "assistant", "content": "billing"},
    ]
    assert row["label"] == "billing"
    assert json.loads(row["input"]) == {"text": "I was charged twice", "priority": 2, "tags": ["a"]}
    assert row["text"] == "I was charged twice"
    assert row["vip"] is None and dd["train"][1]["vip"] is True
    # `priority` is an int on one row and a string on the other, `tags` a list: only in `input`
    assert "priority" not in dd["train"].column_names and "tags" not in dd["train"].column_names
    assert row["teacher_model"] == "teacher-1" and len(row["key"]) == 64 and row["line"] == 1
    assert row["cost_usd"] == pytest.approx(0.0013)
    assert json.loads(row["logprobs"]) == lp and dd["train"][1]["logprobs"] is None
    # the JSONL exports hold the same rows
    assert [p.name for p in result.exports] == ["train.jsonl", "validation.jsonl", "test.jsonl"]
    assert read_jsonl(result.dataset_dir / "train.jsonl") == dd["train"].to_list()
    assert (result.dataset_dir / "test.jsonl").read_text() == ""


def test_structured_rows_carry_the_canonical_json(tmp_path: Path) -> None:
    from datasets import load_from_disk

    cfg = make_run(tmp_path, EXTRACT, dataset={"validation": 0, "test": 0})
    w = JournalWriter(cfg.journal_path)
    w.add(1, "ACME, 12.50 EUR", ['```json\n{"currency": "EUR", "total": 12.5}\n```'], system=None)
    w.add(2, "Globex, 3 USD", ['{"total": 3, "currency": "USD"}'], system=None)
    w.add(3, "Initech, 9 GBP", ['{"total": 9, "currency": "GBP"}'], system=None)
    w.add(4, "Umbrella, 4 USD", ['{"total": 4, "currency": '], system=None)
    w.close()

    result = build(cfg)
    assert result.funnel.filters[2].name == "json_schema"
    assert dict(result.funnel.filters[2].reasons) == {"schema": 1, "invalid_json": 1}
    train = load_from_disk(str(result.dataset_dir))["train"]
    assert train["parsed"] == [
        '{"currency": "EUR", "total": 12.5}',
        '{"currency": "USD", "total": 3}',
    ]
    assert [m[-1]["content"] for m in train["messages"]] == train["parsed"]
    assert [m[0]["role"] for m in train["messages"]] == ["user", "user"]


# -- splits --------------------------------------------------------------------------------


def write_tickets(cfg: RunConfig, rows: list[tuple[int, str, str]], paraphrases: int = 0) -> None:
    w = JournalWriter(cfg.journal_path)
    for line, text, label in rows:
        w.add(line, text, [label])
    # near duplicates of the first tickets, on later lines: they must share their original's split
    for k, (_, text, label) in enumerate(rows[:paraphrases]):
        w.add(10_000 + k, text.upper().replace(" ", "  ") + ", thanks!", [label])
    w.close()


def splits_of(result: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        s: read_jsonl(result.dataset_dir / f"{s}.jsonl") for s in ("train", "validation", "test")
    }


def test_split_is_stratified_grouped_and_deterministic(tmp_path: Path) -> None:
    cfg = make_run(
        tmp_path, filters=["finish", "labels"], dataset={"validation": 0.2, "test": 0.2, "seed": 3}
    )
    write_tickets(cfg, tickets(200), paraphrases=30)
    result = build(cfg)
    parts = splits_of(result)
    assert result.funnel.splits == {s: len(rows) for s, rows in parts.items()}
    assert sum(result.funnel.splits.values()) == 230

    # stratified: every label in each split in proportion (each label has 50 + ~7 rows)
    for split, frac in (("validation", 0.2), ("test", 0.2), ("train", 0.6)):
        per_label = Counter(r["label"] for r in parts[split])
        assert set(per_label) == set(LABELS)
        for label in LABELS:
            total = sum(1 for rows in parts.values() for r in rows if r["label"] == label)
            assert abs(per_label[label] - frac * total) <= 2, (split, label, per_label)

    # no group crosses splits, and each paraphrase is grouped with its original
    where = {}
    for split, rows in parts.items():
        for r in rows:
            assert where.setdefault(r["group"], split) == split
    by_line = {r["line"]: r for rows in parts.values() for r in rows}
    for k in range(30):
        assert by_line[10_000 + k]["group"] == by_line[k + 1]["group"]
    assert result.funnel.groups == 200

    # the same journal and seed: the same dataset, byte for byte
    again = splits_of(build(cfg))
    assert again == parts
    # another seed: another split
    other = make_run(
        tmp_path, filters=["finish", "labels"], dataset={"validation": 0.2, "test": 0.2, "seed": 4}
    )
    assert splits_of(build(other))["test"] != parts["test"]


def test_more_harvesting_keeps_rows_in_their_split(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, filters=["labels"], dataset={"validation": 0.1, "test": 0.1})
    write_tickets(cfg, tickets(300))
    before = {r["key"]: s for s, rows in splits_of(build(cfg)).items() for r in rows}
    write_tickets(cfg, tickets(100, start=301))
    after = {r["key"]: s for s, rows in splits_of(build(cfg)).items() for r in rows}
    assert len(after) == 400
    moved = [k for k in before if after[k] != before[k]]
    assert len(moved) <= 12, len(moved)  # only rows near a quota boundary may move


# -- agreement -----------------------------------------------------------------------------


def test_agreement_keeps_one_row_per_input_when_enough_samples_agree(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, samples=3, dataset={"validation": 0, "test": 0})  # default filters
    w = JournalWriter(cfg.journal_path)
    w.add(1, "Charged twice", ["billing", "Billing.", "refund"])
    w.add(2, "Parcel lost", ["billing", "refund", "shipping"])
    w.add(3, "Refund please", ["refund", "refund", "refund"])
    w.add(4, "Login fails", ["account", "acc", None])  # one not a label, one failed: 1 vote
    w.close()

    result = build(cfg)
    names = [s.name for s in result.funnel.filters]
    assert names == ["finish", "refusal", "labels", "length", "agreement", "dedup"]
    agreement = result.funnel.filters[4]
    assert dict(agreement.reasons) == {"outvoted": 1, "redundant_vote": 3, "no_majority": 4}
    rows = splits_of(result)["train"]
    assert [(r["line"], r["label"]) for r in rows] == [(1, "billing"), (3, "refund")]
    assert [r["key"] for r in rows][0] == request_key(
        "openai",
        ChatRequest(
            "teacher-1",
            [
                {"role": "system", "content": "You triage support tickets."},
                {"role": "user", "content": "Ticket: Charged twice"},
            ],
            {"max_tokens": 8},
        ),
        0,
    )


# -- configuration problems: one line ------------------------------------------------------


@pytest.mark.parametrize(
    "template, filters, samples, expected",
    [
        (
            EXTRACT,
            ["labels"],
            1,
            "c.yaml: filters[0] (labels): the template 't' has no output.labels",
        ),
        (
            CLASSIFY,
            ["finish", "json_schema"],
            1,
            "filters[1] (json_schema): the template 't' has no output.json_schema",
        ),
        (
            CLASSIFY,
            ["agreement"],
            1,
            "filters[0] (agreement): min_votes is 2 but teacher.samples_per_input is 1",
        ),
        (CLASSIFY, ["dedup", "agreement"], 3, "filters[1] (agreement): put agreement before dedup"),
    ],
)
def test_filters_that_cannot_apply_are_one_line(
    tmp_path: Path, template: str, filters: list[str], samples: int, expected: str
) -> None:
    cfg = make_run(tmp_path, template, filters=filters, samples=samples)
    JournalWriter(cfg.journal_path).close()
    with pytest.raises(ConfigError) as e:
        build(cfg)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_unknown_filter_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        make_run(tmp_path, filters=["finish", {"name": "dedupe"}])
    assert str(e.value) == (
        f"{tmp_path / 'c.yaml'}: filters[1]: unknown filter 'dedupe': use one of finish, refusal, "
        "labels, json_schema, length, dedup, agreement"
    )


# -- a real harvest against the simulated teacher, with its faults on ------------------------

REPO = Path(__file__).resolve().parent.parent
FAULTS = dict(
    fault_refusal=0.06, fault_truncate=0.06, fault_content_filter=0.04, fault_500_no_retry=0.04
)


def harvested_run(
    tmp_path: Path,
    template: dict[str, Any],
    records: list[dict[str, Any]],
    answers: str,
    **faults: Any,
) -> tuple[RunConfig, dict[str, Any]]:
    from synth.harvest.engine import harvest
    from synth.sim.runner import SimServer
    from tests.conftest import make_run as make_sim_run

    with SimServer(
        seed=11, answers=answers, price_input_per_mtok=0.15, price_output_per_mtok=0.60, **faults
    ) as sim:
        run = make_sim_run(
            tmp_path,
            sim.openai_base_url,
            template=template,
            records=records,
            teacher={"max_attempts": 2},
        )
        harvest(run.cfg())
        ledger = sim.ledger(entries=False)
    return run.cfg(), ledger


def with_duplicates(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The records plus copies of ten in lower case (the same after normalisation: an exact
    copy would be the same request, journaled once) and lightly edited copies of ten others;
    returns {line of a copy: line of its original} (lines are 1-based)."""
    out = list(records)
    copies: dict[int, int] = {}
    for k in range(10):
        out.append({**records[k], "id": f"copy-{k}", "text": records[k]["text"].lower()})
        copies[len(out)] = k + 1
    for k in range(10, 20):
        text = records[k]["text"]
        out.append(
            {**records[k], "id": f"edit-{k}", "text": text.replace(",", "").upper() + " Thanks."}
        )
        copies[len(out)] = k + 1
    return out, copies


@pytest.fixture(scope="module")
def tickets_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RunConfig, dict[str, Any], dict[int, int]]:
    import yaml

    tmp = tmp_path_factory.mktemp("tickets")
    template = yaml.safe_load((REPO / "prompts" / "support-ticket.yaml").read_text())
    lines = (REPO / "examples" / "support-tickets" / "inputs.jsonl").read_text().splitlines()[:160]
    records, copies = with_duplicates([json.loads(x) for x in lines])
    cfg, ledger = harvested_run(tmp, template, records, "tickets", **FAULTS)
    return cfg, ledger, copies


def test_harvested_journal_funnel_matches_the_sim(tickets_run: Any) -> None:
    cfg, ledger, copies = tickets_run
    result = build(cfg)
    f = result.funnel
    with Journal(cfg.journal_path, readonly=True) as j:
        totals = j.totals()
    assert f.items_in == totals["items"] == 180
    assert f.teacher.removed == totals["failed"] > 0
    assert f.kept + sum(s.removed for s in f.filters) == totals["succeeded"]
    assert f.kept_cost_usd + sum((s.cost_usd for s in f.stages), Decimal(0)) == totals["cost_usd"]
    assert f.cost_usd == totals["cost_usd"] and f.cost_usd == Decimal(
        str(ledger["totals"]["cost_usd"])
    )

    stage = {s.name: s for s in f.filters}
    faults = ledger["counters"]["faults"]
    with Journal(cfg.journal_path, readonly=True) as j:
        finish = Counter(i.finish_reason for i in j.iter_items(state="done"))
    # each injected fault is removed by its filter (a refusal drawn with a truncation is a
    # refusal: the sim counts both, sends one)
    assert stage["refusal"].reasons == Counter(provider=faults["refusal"])
    assert stage["finish"].reasons == Counter(
        length=finish["length"], content_filter=finish["content_filter"]
    )
    assert (
        0 < finish["length"] <= faults["truncate"]
        and 0 < finish["content_filter"] <= faults["content_filter"]
    )
    assert set(stage["labels"].reasons) <= {"not_a_label"}

    # duplicates: every copy whose original also got this far is removed, and nothing else
    rejected = read_jsonl(result.rejected_path)
    by_dedup = {r["line"] for r in rejected if r["filter"] == "dedup"}
    gone_before = {r["line"] for r in rejected if r["filter"] != "dedup"}
    with Journal(cfg.journal_path, readonly=True) as j:
        failed = {i.line for i in j.iter_items(state="failed")}
    gone_before |= failed
    expected = {c for c, o in copies.items() if c not in gone_before and o not in gone_before}
    assert by_dedup == expected and len(expected) >= 12
    reasons = Counter(r["reason"] for r in rejected if r["filter"] == "dedup")
    assert reasons["duplicate"] >= 5 and reasons["near_duplicate"] >= 5

    # the kept labels are the template's, whatever the teacher's spelling was
    rows = [r for rows in splits_of(result).values() for r in rows]
    assert len(rows) == f.kept
    assert {r["label"] for r in rows} <= set(load_template(cfg.template, cfg.base_dir).labels or [])


def test_harvested_structured_output_with_malformed_json(tmp_path: Path) -> None:
    import yaml

    template = yaml.safe_load(EXTRACT)
    records = [
        {"text": f"Invoice {i} from supplier {i * 37 % 101}, total {i * 3.5} EUR"}
        for i in range(60)
    ]
    cfg, ledger = harvested_run(tmp_path, template, records, "echo", fault_malformed_json=0.25)
    result = build(cfg)
    stage = {s.name: s for s in result.funnel.filters}
    broken = ledger["counters"]["faults"]["malformed_json"]
    assert broken > 0
    assert stage["json_schema"].reasons == Counter(invalid_json=broken)
    rows = [r for rows in splits_of(result).values() for r in rows]
    assert len(rows) == 60 - broken
    for r in rows:
        assert json.loads(r["parsed"]).keys() == {"total", "currency"}
        assert r["messages"][-1] == {"role": "assistant", "content": r["parsed"]}


def test_built_dataset_feeds_trl_sft_trainer_unchanged(tickets_run: Any, tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from datasets import load_from_disk
    from trl import SFTConfig, SFTTrainer

    from finetune.tiny import build_tiny_student, texts_of

    cfg = tickets_run[0]
    result = build(cfg)
    dd = load_from_disk(str(result.dataset_dir))
    model_dir = build_tiny_student(
        tmp_path / "tiny",
        texts_of(dd["train"]),
        hidden_size=32,
        layers=1,
        heads=2,
        max_position_embeddings=2048,
    )
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        max_length=2048,
        assistant_only_loss=True,
        dataloader_num_workers=0,
        activation_checkpointing=False,
    )
    trainer = SFTTrainer(
        model=str(model_dir), args=args, train_dataset=dd["train"], eval_dataset=dd["validation"]
    )
    out = trainer.train()
    assert out.global_step == 2 and out.training_loss > 0


def test_nothing_kept_still_writes_loadable_empty_splits(tmp_path: Path) -> None:
    from datasets import load_from_disk

    cfg = make_run(tmp_path)
    w = JournalWriter(cfg.journal_path)
    w.add(1, "Refund me", ["I'm sorry, I can't."])
    w.add(2, "Hello", [None])
    w.close()
    result = build(cfg)
    assert result.funnel.kept == 0 and result.funnel.splits == {
        "train": 0,
        "validation": 0,
        "test": 0,
    }
    assert "every answer was filtered out" in result.summary()
    dd = load_from_disk(str(result.dataset_dir))
    assert [len(dd[s]) for s in dd] == [0, 0, 0] and "messages" in dd["train"].column_names


def test_identical_inputs_only_grouping(tmp_path: Path) -> None:
    cfg = make_run(
        tmp_path,
        filters=["labels"],
        dataset={"group_threshold": None, "test": 0.5, "validation": 0},
    )
    write_tickets(cfg, tickets(40), paraphrases=10)
    rows = {r["line"]: r for rows in splits_of(build(cfg)).values() for r in rows}
    # a light edit is another input now; a case change is still the same one
    assert len({r["group"] for r in rows.values()}) == 50
    w = JournalWriter(cfg.journal_path)
    w.add(99, tickets(1)[0][1].upper(), ["account"])
    w.close()
    rows = {r["line"]: r for rows in splits_of(build(cfg)).values() for r in rows}
    assert rows[99]["group"] == rows[1]["group"]


def test_push_to_hub_after_saving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import DatasetDict

    from synth.errors import DistillError

    pushed: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(
        DatasetDict, "push_to_hub", lambda self, repo, **kw: pushed.append((repo, list(self)))
    )
    cfg = make_run(tmp_path)
    write_tickets(cfg, tickets(12))
    result = build(cfg, push_to_hub="someone/tickets")
    assert pushed == [("someone/tickets", ["train", "validation", "test"])]
    assert result.pushed_to == "someone/tickets" and "pushed to someone/tickets" in result.summary()

    def offline(self: Any, repo: str, **kw: Any) -> None:
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(DatasetDict, "push_to_hub", offline)
    with pytest.raises(DistillError) as e:
        build(cfg, push_to_hub="someone/tickets")
    assert str(e.value).startswith(
        f"the dataset is saved in {cfg.run_dir / 'dataset'}, but pushing it"
    )
    assert (cfg.run_dir / "dataset" / "dataset_dict.json").exists()


def test_a_filter_named_twice_gets_its_own_stage(tmp_path: Path) -> None:
    filters = [{"name": "length", "max_chars": 7}, "labels", {"name": "length", "min_chars": 7}]
    cfg = make_run(tmp_path, filters=filters, dataset={"validation": 0, "test": 0})
    w = JournalWriter(cfg.journal_path)
    w.add(1, "a", ["Category: billing"])  # too long for the first
    w.add(2, "b", ["refund"])  # too short for the second
    w.add(3, "c", ["account"])
    w.close()
    f = build(cfg).funnel
    assert [(s.name, s.removed) for s in f.filters] == [
        ("length", 1),
        ("labels", 0),
        ("length (2)", 1),
    ]
    assert f.kept == 1


def test_cli_build_prints_the_funnel_and_bad_config_is_one_line(tickets_run: Any) -> None:
    from tests.conftest import distill

    cfg = tickets_run[0]
    done = distill("build", str(cfg.config_path))
    assert done.returncode == 0, done.stderr
    assert "build funnel" in done.stdout and "kept" in done.stdout and "dataset:" in done.stdout

    bad = cfg.config_path.with_name("bad.yaml")
    bad.write_text(cfg.config_path.read_text() + "filters: [finish, {name: dedupe}]\n")
    done = distill("build", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {bad}: filters[1]: unknown filter 'dedupe': use one of finish, refusal, labels, "
        "json_schema, length, dedup, agreement"
    )
