"""`refusal`: drop answers where the teacher declined.

{"refusal": "I can't help with that."}                      → Reject("provider", ...)
{"finish_reason": "refusal"}                                 → Reject("provider", ...)
{"response_text": "I'm sorry, but I cannot classify this."}  → Reject("phrase", "I'm sorry")
"""

from __future__ import annotations

import re

from synth.dataset.config import RefusalFilter
from synth.dataset.filters.base import Candidate, Filter, Reject

# Typographic apostrophes are common in model output: match them as the ASCII one.
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


class Refusal(Filter):
    name = "refusal"

    def __init__(self, spec: RefusalFilter) -> None:
        alternatives = "|".join(
            re.escape(p.translate(_QUOTES).casefold()) for p in spec.phrases if p
        )
        anchor = r"^[\s\"'*>_-]*" if spec.where == "start" else ""
        self.pattern = re.compile(f"{anchor}(?:{alternatives})") if alternatives else None

    def check(self, c: Candidate) -> Reject | None:
        item = c.item
        if item.refusal or item.finish_reason == "refusal":
            return Reject("provider", (item.refusal or "finish_reason=refusal")[:200])
        if self.pattern is not None:
            m = self.pattern.search(c.answer.translate(_QUOTES).casefold())
            if m:
                return Reject("phrase", c.answer[:200])
        return None
