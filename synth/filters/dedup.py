"""`dedup`: one copy of each (input, answer), and one input per cluster of near duplicates.

    line 3: "My parcel never arrived!"  → "shipping"   kept
    line 9: "my parcel never arrived"   → "shipping"   Reject("near_duplicate", ...)
    line 3, sample 1: same answer as sample 0          Reject("duplicate", ...)

The input is what the teacher saw (the rendered messages) for exact duplicates, and the input
fields the template reads for near duplicates (an `id` field the prompt never shows does not
make two tickets different). Samples of one input are never near duplicates of each other:
their input is judged once, by its first sample. Memory: see synth.neardup.
"""

from __future__ import annotations

from synth.build_config import DedupFilter
from synth.filters.base import Candidate, Filter, Reject
from synth.neardup import NearDupIndex, digest64, normalise


def prompt_text(c: Candidate) -> str:
    return "\x1e".join(m["content"] for m in c.item.messages)


def input_text(record: dict, fields: list[str] | None) -> str:
    """The input fields the template reads (all of them if unknown), as one normalised text."""
    names = [f for f in fields if f in record] if fields else sorted(record)
    return normalise(
        " ".join(v if isinstance(v, str) else repr(v) for v in (record[n] for n in names))
    )


class Dedup(Filter):
    name = "dedup"

    def __init__(self, spec: DedupFilter, fields: list[str] | None = None) -> None:
        self.exact = spec.exact
        self.fields = fields
        self.index = (
            NearDupIndex(spec.near_threshold, spec.num_perm) if spec.near_threshold else None
        )
        self._seen: set[int] = set()  # 64-bit digests of (input, answer): ~70 bytes per kept answer
        self._line: int | None = None
        self._line_verdict: Reject | None = None

    def check(self, c: Candidate) -> Reject | None:
        near = self._near(c)
        if self.exact:
            h = digest64(normalise(prompt_text(c)) + "\x00" + c.normalised)
            if h in self._seen:
                return Reject(
                    "duplicate", f"same input and answer as an earlier item (line {c.item.line})"
                )
        if near is not None:
            return near
        if self.exact:
            self._seen.add(h)
        return None

    def _near(self, c: Candidate) -> Reject | None:
        if self.index is None:
            return None
        if c.item.line != self._line:
            self._line = c.item.line
            seen = self.index.seen_or_add(input_text(c.item.input, self.fields))
            self._line_verdict = (
                Reject("near_duplicate", f"line {c.item.line} is like an earlier input")
                if seen
                else None
            )
        return self._line_verdict
