"""What every filter implements: a `name`, and a decision per answer (keep, or reject with a
reason). One module per filter; `synth.dataset.filters.make_filters` builds them from the config.

    class Finish(Filter):
        name = "finish"
        def check(self, c):                       # c: Candidate (one teacher answer)
            if c.item.finish_reason == "length":
                return Reject("truncated", "finish_reason=length")
            return None                           # keep

A filter that decides over several answers at once (agreement) overrides `run`, which sees
the stream of candidates in journal order (input line, then sample).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from synth.journal.store import JournalItem


@dataclass(frozen=True)
class Reject:
    reason: str  # short and stable: the funnel counts answers per reason
    detail: str = ""  # this answer's particulars, for rejected.jsonl


@dataclass
class Candidate:
    """One teacher answer on its way through the filters; filters may fill `label`/`parsed`."""

    item: JournalItem
    label: str | None = None  # set by the labels filter
    parsed_json: str | None = None  # set by the json_schema filter: canonical JSON of the answer

    @property
    def answer(self) -> str:
        return (self.item.response_text or "").strip()

    @property
    def normalised(self) -> str:
        """The answer as votes and duplicates compare it."""
        if self.label is not None:
            return self.label
        if self.parsed_json is not None:
            return self.parsed_json
        return " ".join(self.answer.casefold().split())


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: the assistant turn the student learns, what votes compare."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


OnReject = Callable[[Candidate, str, Reject], None]


class Filter:
    name: ClassVar[str]

    def check(self, c: Candidate) -> Reject | None:
        """None keeps the answer; a `Reject` drops it, with its reason."""
        raise NotImplementedError

    def run(self, stream: Iterator[Candidate], on_reject: OnReject) -> Iterator[Candidate]:
        for c in stream:
            verdict = self.check(c)
            if verdict is None:
                yield c
            else:
                on_reject(c, self.name, verdict)

    def close(self) -> None:
        """Release what the filter holds on disk (dedup's indexes); the build calls it."""
