"""`finish`: drop answers that did not end normally.

{"finish_reason": "length", "response_text": "The customer says the parcel was"}
→ Reject("length", "truncated at max_tokens")
"""

from __future__ import annotations

from synth.dataset.config import FinishFilter
from synth.dataset.filters.base import Candidate, Filter, Reject

_WHY = {
    "length": "truncated at max_tokens",
    "max_tokens": "truncated at max_tokens",
    "content_filter": "stopped by the provider's content filter",
}


class Finish(Filter):
    name = "finish"

    def __init__(self, spec: FinishFilter) -> None:
        self.reject = frozenset(spec.reject)

    def check(self, c: Candidate) -> Reject | None:
        reason = c.item.finish_reason
        if reason in self.reject:
            return Reject(reason, _WHY.get(reason, f"finish_reason={reason}"))
        return None
