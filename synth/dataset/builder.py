"""`distill build CONFIG`: the journal's answers → filters → a Hugging Face `DatasetDict`.

    journal (done items, streaming) ─► filters, in config order ─► rows spooled to disk
        ─► near-duplicate groups + stratified split ─► <run>/dataset/ (save_to_disk + JSONL)
    every rejection ─► <run>/build/rejected.jsonl; the counts and dollars ─► build/funnel.json

No answer is held in memory: items stream out of SQLite, kept rows go to a spool file on disk,
and the dataset is written in one pass over that spool, without reading Arrow back through
memory maps (synth.dataset.writer). What the split needs per kept row (its input's hash, LSH
bands and signature) and the dedup filter's indexes are on disk too (synth.dataset.spill). What grows
in memory: a label code per row (4 bytes) while filtering, and about 40 bytes a row while the
split runs. Measured peak RSS, 100K → 1M answers: see benchmarks/RESULTS.md.

A row (TRL conversational format, plus what eval and audits need):

    messages       [{role: system, ...}, {role: user, ...}, {role: assistant, content: answer}]
    label          classification: the normalised label (the assistant's content)
    parsed         structured output: the canonical JSON (the assistant's content)
    input          the input record, as a JSON string (any shape, any types)
    <field>        top-level copies of the input's scalar fields whose type is the same on
                   every row (a field with mixed types stays in `input` only)
    teacher_model, key (the request hash), line (in the inputs file), group (near-duplicate
    group id), cost_usd (this answer's cost), logprobs (JSON string, when the teacher gave any)
    teacher_dist   classification with logprobs: the teacher's {label: p} as JSON, read from the
                   answer's top-K (synth.dataset.teacher_dist); null where too little of it fell
                   on labels (`dataset.teacher_dist_min_mass`): that row trains on its hard label

`push_to_hub` calls `DatasetDict.push_to_hub(repo)` after the dataset is saved: it needs a
Hugging Face token (`hf auth login` or HF_TOKEN) and network access.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np

from synth.answers import LabelMatcher, parse_json
from synth.config import RunConfig
from synth.dataset.config import DatasetConfig
from synth.dataset.filters import Candidate, Filter, Reject, make_filters
from synth.dataset.filters.base import canonical_json
from synth.dataset.filters.dedup import input_text
from synth.dataset.funnel import TEACHER, Funnel, Stage
from synth.dataset.neardup import band_hashes, digest64, group_ids, lsh_params, signature
from synth.dataset.rows import COLUMNS, LOGPROBS, TEACHER_DIST
from synth.dataset.spill import Columns, FixedRows, as_int64
from synth.dataset.splits import SPLITS, TEST, assign_splits, keep_fixed_test
from synth.dataset.teacher_dist import label_distribution
from synth.dataset.writer import DatasetDictWriter, export_jsonl
from synth.errors import DistillError, StageError
from synth.journal.rounds import fixed_test
from synth.journal.store import Journal
from synth.templates import Template, load_template


@dataclass
class BuildResult:
    dataset_dir: Path
    funnel: Funnel
    funnel_path: Path
    rejected_path: Path
    exports: list[Path] = field(default_factory=list)
    pushed_to: str | None = None
    test_hashes: list[int] = field(default_factory=list)  # the test rows' input hashes

    def summary(self) -> str:
        splits = ", ".join(f"{k} {v:,}" for k, v in self.funnel.splits.items())
        text = f"{self.funnel.kept:,} rows: {splits}"
        if self.funnel.kept == 0:
            text += f"; every answer was filtered out: see {self.rejected_path}"
        if self.pushed_to:
            text += f"; pushed to {self.pushed_to}"
        return text


def build(cfg: RunConfig, *, push_to_hub: str | None = None) -> BuildResult:
    """Build `<run>/dataset/` from the run's journal; deterministic for a given journal and seed.
    Only the answers of the last harvest's plan are read (synth.journal.store); the journal's other
    items are the funnel's `older plan` line, with their count and cost."""
    if not cfg.journal_path.exists():
        raise StageError(
            f"no harvest yet for run '{cfg.name}' ({cfg.journal_path}): run distill harvest first"
        )
    template = load_template(cfg.template, cfg.base_dir)
    for f in make_filters(cfg, template):  # a config mistake: one line before anything is read
        f.close()
    paths = cfg.paths
    build_dir = paths.build
    build_dir.mkdir(parents=True, exist_ok=True)
    for stale in build_dir.glob(".work-*"):  # left by a build that was killed
        shutil.rmtree(stale, ignore_errors=True)
    dataset_dir = paths.dataset

    with (
        Journal(cfg.journal_path, readonly=True) as journal,
        tempfile.TemporaryDirectory(dir=build_dir, prefix=".work-") as tmp,
    ):
        work = Path(tmp)
        totals = journal.totals()  # the whole journal's bill
        # items outside the last harvest's plan (an edited template, inputs, model or params):
        # not built, but their dollars stay in the funnel, on a line of their own
        older = journal.outside_plan()
        funnel = Funnel(
            items_in=totals["items"] - older["items"],
            cost_usd=totals["cost_usd"],
            teacher=Stage(TEACHER),
            filters=[],
            orphaned_usd=totals["orphaned_usd"],
        )
        funnel.set_older_plan(older["items"], older["cost_usd"])
        for reason, n in (
            ("failed", totals["failed"] - older["failed"]),
            ("not_sent", totals["pending"] - older["pending"]),
        ):
            if n:
                funnel.teacher.reasons[reason] = n
                funnel.teacher.removed += n

        rows = RowSpool(work / "rows.jsonl", template, cfg)
        filters = make_filters(cfg, template, work / "scratch")
        try:
            with (work / paths.rejected.name).open("w", encoding="utf-8") as rejected:
                done = (
                    Candidate(item) for item in journal.iter_items(state="done", plan_only=True)
                )
                kept, funnel.filters = _filtered(done, filters, rejected)
                for c in kept:
                    rows.add(c)
        finally:
            for f in filters:
                f.close()
        rows.close()

        funnel.kept, funnel.kept_cost_usd = rows.count, rows.cost_usd
        # the rest of the plan's bill: failed requests, and attempts billed before a retry
        answered = funnel.kept_cost_usd + sum((s.cost_usd for s in funnel.filters), Decimal(0))
        funnel.teacher.cost_usd = funnel.cost_usd - answered - funnel.older_plan.cost_usd

        split, groups = rows.split(cfg.dataset)
        ids = rows.columns_on_disk.column("id")
        fixed = fixed_test(journal)  # active distillation: round 1's test split, kept
        if fixed is not None:
            split = keep_fixed_test(split, groups, ids, fixed)
        test_hashes = ids[split == TEST].tolist()
        funnel.groups = rows.group_count
        funnel.splits = {name: int((split == i).sum()) for i, name in enumerate(SPLITS)}
        funnel.check()

        staging = work / "dataset"
        shards = _write_dataset(rows, split, groups, staging)
        exports = _export_jsonl(shards, staging) if cfg.dataset.export_jsonl else []
        # swap the results in only now: a failed build leaves the last good one in place
        _replace_dir(staging, dataset_dir)
        os.replace(work / paths.rejected.name, paths.rejected)

    funnel_path = paths.funnel
    funnel_path.write_text(json.dumps(funnel.to_dict(), indent=2) + "\n", encoding="utf-8")
    result = BuildResult(
        dataset_dir=dataset_dir,
        funnel=funnel,
        funnel_path=funnel_path,
        rejected_path=paths.rejected,
        exports=[dataset_dir / p.name for p in exports],
        test_hashes=test_hashes,
    )
    if push_to_hub:
        _push(dataset_dir, push_to_hub)
        result.pushed_to = push_to_hub
    return result


def _filtered(
    stream: Iterator[Candidate], filters: list[Filter], rejected: IO[str]
) -> tuple[Iterator[Candidate], list[Stage]]:
    """Chain the filters over the stream; each rejection is counted in its filter's stage and
    written to `rejected` (one JSON line). A filter named twice gets "name (2)"."""
    stages: list[Stage] = []
    for f in filters:
        n = sum(s.name.split(" (")[0] == f.name for s in stages)
        stage = Stage(f.name if n == 0 else f"{f.name} ({n + 1})")
        stages.append(stage)

        def on_reject(c: Candidate, name: str, why: Reject, stage: Stage = stage) -> None:
            stage.add(why.reason, c.item.cost_usd)
            record = {
                "key": c.item.key,
                "line": c.item.line,
                "sample": c.item.sample,
                "filter": stage.name,
                "reason": why.reason,
                "detail": why.detail,
                "cost_usd": str(c.item.cost_usd),
            }
            rejected.write(json.dumps(record, ensure_ascii=False) + "\n")

        stream = f.run(stream, on_reject)
    return stream, stages


class RowSpool:
    """Kept answers as dataset rows, one JSON line each on disk, plus the few integers per row
    that the split needs (near-duplicate bands, an input hash, the label)."""

    def __init__(self, path: Path, template: Template, cfg: RunConfig) -> None:
        self.path = path
        self._file = path.open("w", encoding="utf-8")
        self.template = template
        self.keep_system = cfg.dataset.system_prompt
        self.fields = template.fields or None
        self.matcher = LabelMatcher(template.labels) if template.labels else None
        self.count = 0
        self.cost_usd = Decimal(0)
        self.has_logprobs = False
        self.min_mass = cfg.dataset.teacher_dist_min_mass
        self.field_types: dict[str, set[str]] = {}
        # per row, for the split: a label code in memory (4 bytes), and on disk a hash of the
        # input (the fields the template reads), its LSH bands and its MinHash signature
        self.label_codes = array("I")
        self._label_code: dict[str, int] = {}
        self.threshold = cfg.dataset.group_threshold
        self.num_perm = cfg.dataset.num_perm
        self._shape = lsh_params(self.threshold, self.num_perm) if self.threshold else None
        bands = self._shape[0] if self._shape else 0  # none: rows group by input hash alone
        self.columns_on_disk = Columns(
            path.parent / "split", ["id", *(f"band{i}" for i in range(bands))]
        )
        self.sigs = FixedRows(path.with_suffix(".sigs"), self.num_perm) if self._shape else None
        self._last: tuple[int, list[int], np.ndarray | None] | None = None  # (line, values, sig)
        self.group_count = 0

    def add(self, c: Candidate) -> None:
        item = c.item
        row = self._row(c)
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.count += 1
        self.cost_usd += item.cost_usd
        label = row.get("label") or ""
        self.label_codes.append(self._label_code.setdefault(label, len(self._label_code)))
        if self._last is None or self._last[0] != item.line:  # samples of one input: hash once
            text = input_text(item.input, self.fields)
            ident = as_int64(digest64(text))
            if self._shape is not None:
                sig = signature(text, self.num_perm)
                bands = [as_int64(h) for h in band_hashes(sig, *self._shape)]
                self._last = (item.line, [ident, *bands], sig)
            else:
                self._last = (item.line, [ident], None)
        _, values, input_sig = self._last
        self.columns_on_disk.append(values)
        if self.sigs is not None and input_sig is not None:
            self.sigs.append(input_sig)

    def _row(self, c: Candidate) -> dict[str, Any]:
        item = c.item
        answer = c.answer
        row: dict[str, Any] = {}
        if self.matcher is not None:
            row["label"] = c.label if c.label is not None else self.matcher.match(answer)
            answer = row["label"] or answer
        elif self.template.json_schema is not None:
            parsed = c.parsed_json
            if parsed is None:
                try:
                    parsed = canonical_json(parse_json(answer))
                except ValueError:
                    parsed = None
            row["parsed"] = parsed
            answer = parsed or answer
        # without the system prompt the template's few-shot examples go too: both are the
        # teacher's instructions, and the student trains on the input alone
        kept = item.messages if self.keep_system else item.messages[-1:]
        messages = [{"role": m["role"], "content": m["content"]} for m in kept]
        messages.append({"role": "assistant", "content": answer})
        row["messages"] = messages
        row["input"] = json.dumps(item.input, ensure_ascii=False)
        for k, v in item.input.items():
            if k not in COLUMNS:
                kind = _kind(v)
                self.field_types.setdefault(k, set()).add(kind)
                if kind != "other":
                    row[k] = v
        row.update(
            teacher_model=item.model,
            key=item.key,
            line=item.line,
            cost_usd=float(item.cost_usd),
        )
        if item.logprobs is not None:
            self.has_logprobs = True
            row[LOGPROBS] = json.dumps(item.logprobs, ensure_ascii=False)
            if self.matcher is not None:
                dist = label_distribution(
                    item.logprobs, self.template.labels or [], min_mass=self.min_mass
                )
                row[TEACHER_DIST] = json.dumps(dist) if dist is not None else None
        return row

    def close(self) -> None:
        self._file.close()
        self.columns_on_disk.close()

    def split(self, ds: DatasetConfig) -> tuple[np.ndarray, np.ndarray]:
        """(split code, group id) per row; sets `group_count`."""
        disk = self.columns_on_disk
        groups = group_ids(
            (disk.column(name) for name in disk.names[1:] or ["id"]),
            disk.column("id"),
            self.sigs.read if self.sigs is not None else None,
            self.threshold or 1.0,
        )
        if self.sigs is not None:
            self.sigs.close()
        strata = None
        if ds.stratify and self.matcher is not None:
            # codes in sorted label order: ties between labels break the same way whatever
            # order the rows came in
            labels = list(self._label_code)
            rank = np.empty(len(labels), dtype=np.uint32)
            rank[sorted(range(len(labels)), key=labels.__getitem__)] = np.arange(len(labels))
            strata = rank[np.frombuffer(self.label_codes, dtype=np.uint32)]
        split, self.group_count = assign_splits(
            groups, strata, validation=ds.validation, test=ds.test, seed=ds.seed
        )
        return split, groups

    def columns(self) -> dict[str, Any]:
        """Column name → `datasets` feature, in the order rows show them."""
        from datasets import List, Value

        cols: dict[str, Any] = {
            "messages": List({"role": Value("string"), "content": Value("string")})
        }
        if self.matcher is not None:
            cols["label"] = Value("string")
        elif self.template.json_schema is not None:
            cols["parsed"] = Value("string")
        cols["input"] = Value("string")
        for name, kinds in self.field_types.items():
            kinds = kinds - {"null"}
            dtype = _SCALAR.get(frozenset(kinds))
            if dtype is not None:
                cols[name] = Value(dtype)
        cols.update(
            teacher_model=Value("string"),
            key=Value("string"),
            line=Value("int64"),
            group=Value("string"),
            cost_usd=Value("float64"),
        )
        if self.has_logprobs:
            cols[LOGPROBS] = Value("string")
            if self.matcher is not None:
                cols[TEACHER_DIST] = Value("string")
        return cols


_SCALAR = {
    frozenset({"str"}): "string",
    frozenset({"int"}): "int64",
    frozenset({"float"}): "float64",
    frozenset({"int", "float"}): "float64",
    frozenset({"bool"}): "bool",
}


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(2**63) <= v < 2**63 else "other"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    return "other"


def _write_dataset(
    rows: RowSpool, split: np.ndarray, groups: np.ndarray, out: Path
) -> dict[str, list[Path]]:
    """One pass over the spool: each row to its split's Arrow shards (see synth.dataset.writer).
    Returns each split's shards."""
    from datasets import Features

    features = Features(rows.columns())
    names = tuple(features)
    writer = DatasetDictWriter(out, features, SPLITS)
    with rows.path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            row = json.loads(line)
            row["group"] = f"{int(groups[i]):016x}"
            writer.add(SPLITS[split[i]], {c: row.get(c) for c in names})
    return writer.close()


def _export_jsonl(shards: dict[str, list[Path]], out: Path) -> list[Path]:
    """`<split>.jsonl` beside the Arrow files: the same rows, for tools that read JSON lines."""
    paths = []
    for name, files in shards.items():
        path = out / f"{name}.jsonl"
        export_jsonl(files, path)
        paths.append(path)
    return paths


def _replace_dir(new: Path, old: Path) -> None:
    """Swap the finished dataset in: a failed build never leaves half a dataset behind."""
    if old.exists():
        trash = old.with_name(f".{old.name}.old-{os.getpid()}")
        old.rename(trash)
        shutil.move(str(new), str(old))
        shutil.rmtree(trash, ignore_errors=True)
    else:
        shutil.move(str(new), str(old))


def _push(dataset_dir: Path, repo: str) -> None:
    from datasets import load_from_disk

    try:
        load_from_disk(str(dataset_dir)).push_to_hub(repo)
    except Exception as e:  # network, auth, repo name: the local dataset is intact either way
        raise DistillError(
            f"the dataset is saved in {dataset_dir}, but pushing it to {repo} failed: {e}. "
            "Log in with `hf auth login` (or set HF_TOKEN) and check the network, then run "
            "`distill build CONFIG --push-to-hub REPO` again"
        ) from None
