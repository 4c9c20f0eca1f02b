"""`dedup`: one copy of each (input, answer), and one input per cluster of near duplicates.

    line 3: "My parcel never arrived!"  → "shipping"   kept
    line 9: "my parcel never arrived"   → "shipping"   Reject("near_duplicate", ...)
    line 3, sample 1: same answer as sample 0          Reject("duplicate", ...)

The input is what the teacher saw (the rendered messages) for exact duplicates, and the input
fields the template reads for near duplicates (an `id` field the prompt never shows does not
make two tickets different). Samples of one input are never near duplicates of each other:
their input is judged once, by its first sample. Memory: both checks keep what they have seen
on disk, under `scratch` (a temporary folder if none is given): see synth.dataset.spill.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from synth.dataset.config import DedupFilter
from synth.dataset.filters.base import Candidate, Filter, Reject
from synth.dataset.neardup import digest64, normalise
from synth.dataset.neardup_index import NearDupIndex
from synth.dataset.spill import KeyIndex


def prompt_text(c: Candidate) -> str:
    return "\x1e".join(m["content"] for m in c.item.messages)


def input_text(record: dict[str, Any], fields: list[str] | None) -> str:
    """The input fields the template reads (all of them if unknown), as one normalised text."""
    names = [f for f in fields if f in record] if fields else sorted(record)
    return normalise(
        " ".join(v if isinstance(v, str) else repr(v) for v in (record[n] for n in names))
    )


class Dedup(Filter):
    name = "dedup"

    def __init__(
        self, spec: DedupFilter, fields: list[str] | None = None, scratch: Path | None = None
    ) -> None:
        self.spec = spec
        self.exact = spec.exact
        self.fields = fields
        self.scratch = scratch
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        # opened by the first answer: a filter built only to check the config holds nothing
        self._index: NearDupIndex | None = None
        self._seen: KeyIndex | None = None  # 64-bit digests of (input, answer)
        self._line: int | None = None
        self._line_verdict: Reject | None = None

    def _open(self) -> tuple[NearDupIndex | None, KeyIndex]:
        if self._seen is None:
            folder = self.scratch
            if folder is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="distill-dedup-")
                folder = Path(self._tmp.name)
            folder.mkdir(parents=True, exist_ok=True)
            if self.spec.near_threshold:
                self._index = NearDupIndex(
                    self.spec.near_threshold, self.spec.num_perm, folder / "near"
                )
            self._seen = KeyIndex(folder / "exact.sqlite")
        return self._index, self._seen

    def check(self, c: Candidate) -> Reject | None:
        index, seen = self._open()
        near = self._near(c, index)
        if self.exact:
            h = digest64(normalise(prompt_text(c)) + "\x00" + c.normalised)
            if seen.get(h) is not None:
                return Reject(
                    "duplicate", f"same input and answer as an earlier item (line {c.item.line})"
                )
        if near is not None:
            return near
        if self.exact:
            seen.add(h, 0)
        return None

    def close(self) -> None:
        if self._seen is not None:
            self._seen.close()
        if self._index is not None:
            self._index.close()
        if self._tmp is not None:
            self._tmp.cleanup()
        self._seen = self._index = self._tmp = None

    def _near(self, c: Candidate, index: NearDupIndex | None) -> Reject | None:
        if index is None:
            return None
        if c.item.line != self._line:
            self._line = c.item.line
            seen = index.seen_or_add(input_text(c.item.input, self.fields))
            self._line_verdict = (
                Reject("near_duplicate", f"line {c.item.line} is like an earlier input")
                if seen
                else None
            )
        return self._line_verdict
