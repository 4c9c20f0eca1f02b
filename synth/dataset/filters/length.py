"""`length`: bounds on the answer's characters (stripped) and output tokens (as billed).

{name: length, min_chars: 1}:  {"response_text": "  "}  → Reject("too_short", "0 chars < 1")
"""

from __future__ import annotations

from synth.dataset.config import LengthFilter
from synth.dataset.filters.base import Candidate, Filter, Reject


class Length(Filter):
    name = "length"

    def __init__(self, spec: LengthFilter) -> None:
        self.spec = spec

    def check(self, c: Candidate) -> Reject | None:
        s, chars, tokens = self.spec, len(c.answer), c.item.output_tokens
        if s.min_chars is not None and chars < s.min_chars:
            return Reject("too_short", f"{chars} chars < {s.min_chars}")
        if s.max_chars is not None and chars > s.max_chars:
            return Reject("too_long", f"{chars} chars > {s.max_chars}")
        if s.min_tokens is not None and tokens < s.min_tokens:
            return Reject("too_short", f"{tokens} tokens < {s.min_tokens}")
        if s.max_tokens is not None and tokens > s.max_tokens:
            return Reject("too_long", f"{tokens} tokens > {s.max_tokens}")
        return None
