"""`distill build CONFIG`: the journal's answers → filters → a Hugging Face `DatasetDict`.

    journal (done items, streaming) ─► filters, in config order ─► rows spooled to disk
        ─► near-duplicate groups + stratified split ─► <run>/dataset/ (save_to_disk + JSONL)
    every rejection ─► <run>/build/rejected.jsonl; the counts and dollars ─► build/funnel.json

No answer is held in memory: items stream out of SQLite, kept rows go to a spool file on disk,
and `datasets` writes Arrow from a generator over that spool. What does grow with the data is
small and packed: per kept row its label, its input's LSH bands and hash for the split (~150
bytes), and the dedup filter's near-duplicate index (~400 bytes per kept input, see
synth.neardup). Measured: 50,000 answers in 31 CPU-seconds, 290 MB peak RSS (150 of them the
libraries), on a 2-core machine.

A row (TRL conversational format, plus what eval and audits need):

    messages       [{role: system, ...}, {role: user, ...}, {role: assistant, content: answer}]
    label          classification: the normalised label (the assistant's content)
    parsed         structured output: the canonical JSON (the assistant's content)
    input          the input record, as a JSON string (any shape, any types)
    <field>        top-level copies of the input's scalar fields whose type is the same on
                   every row (a field with mixed types stays in `input` only)
    teacher_model, key (the request hash), line (in the inputs file), group (near-duplicate
    group id), cost_usd (this answer's cost), logprobs (JSON string, when the teacher gave any)

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np

from synth.build_config import DatasetConfig
from synth.config import RunConfig
from synth.errors import DistillError, StageError
from synth.filters import Candidate, Filter, Reject, make_filters
from synth.filters.base import canonical_json
from synth.filters.dedup import input_text
from synth.filters.json_schema import parse_json_answer
from synth.filters.labels import LabelMatcher
from synth.funnel import TEACHER, Funnel, Stage
from synth.journal import Journal
from synth.neardup import band_hashes, digest64, group_ids, lsh_params, signature
from synth.splits import SPLITS, assign_splits
from synth.templates import Template, load_template

RESERVED = (
    "messages",
    "label",
    "parsed",
    "input",
    "teacher_model",
    "key",
    "line",
    "group",
    "cost_usd",
    "logprobs",
)


@dataclass
class BuildResult:
    dataset_dir: Path
    funnel: Funnel
    funnel_path: Path
    rejected_path: Path
    exports: list[Path] = field(default_factory=list)
    pushed_to: str | None = None

    def summary(self) -> str:
        splits = ", ".join(f"{k} {v:,}" for k, v in self.funnel.splits.items())
        text = f"{self.funnel.kept:,} rows: {splits}"
        if self.funnel.kept == 0:
            text += f"; every answer was filtered out: see {self.rejected_path}"
        if self.pushed_to:
            text += f"; pushed to {self.pushed_to}"
        return text


def build(cfg: RunConfig, *, push_to_hub: str | None = None) -> BuildResult:
    """Build `<run>/dataset/` from the run's journal; deterministic for a given journal and seed."""
    if not cfg.journal_path.exists():
        raise StageError(
            f"no harvest yet for run '{cfg.name}' ({cfg.journal_path}): run distill harvest first"
        )
    template = load_template(cfg.template, cfg.base_dir)
    filters = make_filters(cfg, template)
    build_dir = cfg.run_dir / "build"
    build_dir.mkdir(parents=True, exist_ok=True)
    for stale in build_dir.glob(".work-*"):  # left by a build that was killed
        shutil.rmtree(stale, ignore_errors=True)
    dataset_dir = cfg.run_dir / "dataset"

    with (
        Journal(cfg.journal_path, readonly=True) as journal,
        tempfile.TemporaryDirectory(dir=build_dir, prefix=".work-") as tmp,
    ):
        work = Path(tmp)
        totals = journal.totals()
        funnel = Funnel(
            items_in=totals["items"],
            cost_usd=totals["cost_usd"],
            teacher=Stage(TEACHER),
            filters=[],
            orphaned_usd=totals["orphaned_usd"],
        )
        for reason, n in (("failed", totals["failed"]), ("not_sent", totals["pending"])):
            if n:
                funnel.teacher.reasons[reason] = n
                funnel.teacher.removed += n

        rows = RowSpool(work / "rows.jsonl", template, cfg)
        with (work / "rejected.jsonl").open("w", encoding="utf-8") as rejected:
            done = (Candidate(item) for item in journal.iter_items(state="done"))
            kept, funnel.filters = _filtered(done, filters, rejected)
            for c in kept:
                rows.add(c)
        rows.close()

        funnel.kept, funnel.kept_cost_usd = rows.count, rows.cost_usd
        # the rest of the bill: failed requests, and attempts billed before a retry
        answered = funnel.kept_cost_usd + sum((s.cost_usd for s in funnel.filters), Decimal(0))
        funnel.teacher.cost_usd = funnel.cost_usd - answered

        split, groups = rows.split(cfg.dataset)
        funnel.groups = len(np.unique(groups))
        funnel.splits = {name: int((split == i).sum()) for i, name in enumerate(SPLITS)}
        funnel.check()

        staging = work / "dataset"
        dd = _write_dataset(rows, split, groups, staging, work / "cache")
        exports = _export_jsonl(dd, staging) if cfg.dataset.export_jsonl else []
        del dd  # release the memory-mapped files before the folder moves
        # swap the results in only now: a failed build leaves the last good one in place
        _replace_dir(staging, dataset_dir)
        os.replace(work / "rejected.jsonl", build_dir / "rejected.jsonl")

    funnel_path = build_dir / "funnel.json"
    funnel_path.write_text(json.dumps(funnel.to_dict(), indent=2) + "\n", encoding="utf-8")
    result = BuildResult(
        dataset_dir=dataset_dir,
        funnel=funnel,
        funnel_path=funnel_path,
        rejected_path=build_dir / "rejected.jsonl",
        exports=[dataset_dir / p.name for p in exports],
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
        self.field_types: dict[str, set[str]] = {}
        self.labels: list[str] = []
        # per row, packed (8 bytes a value): a hash of the input (the fields the template
        # reads), and its LSH bands
        self.ids = array("Q")
        self.bands = array("Q")
        self.threshold = cfg.dataset.group_threshold
        self.num_perm = cfg.dataset.num_perm
        self._shape = lsh_params(self.threshold, self.num_perm) if self.threshold else None
        # signatures go to disk: the grouping reads back only those of candidate pairs
        self.sigs_path = path.with_suffix(".sigs")
        self._sigs = self.sigs_path.open("wb") if self._shape else None
        self._last: tuple[int, int, list[int], bytes] | None = None  # (line, id, bands, sig)

    def add(self, c: Candidate) -> None:
        item = c.item
        row = self._row(c)
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.count += 1
        self.cost_usd += item.cost_usd
        self.labels.append(row.get("label") or "")
        if self._last is None or self._last[0] != item.line:  # samples of one input: hash once
            text = input_text(item.input, self.fields)
            ident = digest64(text)
            if self._shape is not None:
                sig = signature(text, self.num_perm)
                self._last = (item.line, ident, band_hashes(sig, *self._shape), sig.tobytes())
            else:
                self._last = (item.line, ident, [ident], b"")
        _, ident, bands, sig_bytes = self._last
        self.ids.append(ident)
        self.bands.extend(bands)
        if self._sigs is not None:
            self._sigs.write(sig_bytes)

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
                    parsed = canonical_json(parse_json_answer(answer))
                except ValueError:
                    parsed = None
            row["parsed"] = parsed
            answer = parsed or answer
        messages = [
            {"role": m["role"], "content": m["content"]}
            for m in item.messages
            if self.keep_system or m["role"] != "system"
        ]
        messages.append({"role": "assistant", "content": answer})
        row["messages"] = messages
        row["input"] = json.dumps(item.input, ensure_ascii=False)
        for k, v in item.input.items():
            if k not in RESERVED:
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
            row["logprobs"] = json.dumps(item.logprobs, ensure_ascii=False)
        return row

    def close(self) -> None:
        self._file.close()
        if self._sigs is not None:
            self._sigs.close()

    def split(self, ds: DatasetConfig) -> tuple[np.ndarray, np.ndarray]:
        """(split code, group id) per row."""
        n = self.count
        bands = np.frombuffer(self.bands, dtype=np.uint64).reshape(n, -1 if n else 1)
        sigs = None
        if self._shape is not None and n:
            sigs = np.memmap(self.sigs_path, dtype=np.uint32, mode="r", shape=(n, self.num_perm))
        ids = np.frombuffer(self.ids, dtype=np.uint64)
        groups = group_ids(bands, ids, sigs, self.threshold or 1.0)
        strata = np.array(self.labels) if (ds.stratify and self.matcher is not None) else None
        split = assign_splits(groups, strata, validation=ds.validation, test=ds.test, seed=ds.seed)
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
            cols["logprobs"] = Value("string")
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


def _split_rows(
    spool: str, codes: str, groups: str, split: int, columns: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """The rows of one split, read back from the spool (a module-level function: `datasets`
    fingerprints the generator and its arguments, which are only paths here)."""
    code = np.load(codes)
    gid = np.load(groups)
    with open(spool, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if code[i] == split:
                row = json.loads(line)
                row["group"] = f"{int(gid[i]):016x}"
                yield {c: row.get(c) for c in columns}


def _write_dataset(
    rows: RowSpool, split: np.ndarray, groups: np.ndarray, out: Path, cache: Path
) -> Any:
    from datasets import Dataset, DatasetDict, Features

    features = Features(rows.columns())
    np.save(cache.with_suffix(".split.npy"), split)
    np.save(cache.with_suffix(".groups.npy"), groups)
    parts = {}
    with _quiet_datasets():
        for i, name in enumerate(SPLITS):
            if not (split == i).any():
                parts[name] = Dataset.from_dict({c: [] for c in features}, features=features)
                continue
            parts[name] = Dataset.from_generator(
                _split_rows,
                features=features,
                cache_dir=str(cache),
                gen_kwargs={
                    "spool": str(rows.path),
                    "codes": str(cache.with_suffix(".split.npy")),
                    "groups": str(cache.with_suffix(".groups.npy")),
                    "split": i,
                    "columns": tuple(features),  # not a list: `datasets` shards list arguments
                },
            )
        dd = DatasetDict(parts)
        # an empty split needs one (empty) shard, or `load_from_disk` cannot read it back
        dd.save_to_disk(str(out), num_shards={k: 1 for k, ds in parts.items() if len(ds) == 0})
    return dd


def _export_jsonl(dd: Any, out: Path) -> list[Path]:
    """`<split>.jsonl` beside the Arrow files: the same rows, for tools that read JSON lines."""
    paths = []
    for name, ds in dd.items():
        path = out / f"{name}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for batch in ds.iter(batch_size=1000):
                for values in zip(*batch.values(), strict=True):
                    f.write(
                        json.dumps(dict(zip(batch, values, strict=True)), ensure_ascii=False) + "\n"
                    )
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


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """The library does not print: `datasets`' own progress bars are off while we build."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


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
