"""`labels`: a classification answer must come down to exactly one of the template's labels,
read by synth.answers as the eval reads the student's.

labels: [billing, shipping, refund_request]
"Billing."                       → billing
"Category: **Shipping**"         → shipping
"refund request"                 → refund_request   (spaces, '-' and '_' are one separator)
"billing or shipping"            → Reject("not_a_label", ...)
"The category is billing."       → billing only with `lenient: true`
"""

from __future__ import annotations

from synth.answers import LabelMatcher
from synth.dataset.config import LabelsFilter
from synth.dataset.filters.base import Candidate, Filter, Reject


class Labels(Filter):
    name = "labels"

    def __init__(self, spec: LabelsFilter, labels: list[str]) -> None:
        self.matcher = LabelMatcher(labels, lenient=spec.lenient)

    def check(self, c: Candidate) -> Reject | None:
        label = self.matcher.match(c.answer)
        if label is None:
            return Reject("not_a_label", c.answer[:200])
        c.label = label
        return None
