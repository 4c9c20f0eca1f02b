"""`agreement`: self-consistency voting over the samples of one input.

    teacher.samples_per_input: 3, {name: agreement, min_votes: 2}
    line 7: "billing", "Billing.", "refund"   → keeps sample 0 ("billing", 2 votes of 3);
            sample 1 Reject("redundant_vote"), sample 2 Reject("outvoted")
    line 8: "billing", "refund", "shipping"   → all three Reject("no_majority")

Votes compare normalised answers (the label, the canonical JSON, or the text with case and
spacing folded) among the samples that survived the filters before this one. One row per input.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

from synth.dataset.config import AgreementFilter
from synth.dataset.filters.base import Candidate, Filter, OnReject, Reject


class Agreement(Filter):
    name = "agreement"

    def __init__(self, spec: AgreementFilter) -> None:
        self.min_votes = spec.min_votes

    def run(self, stream: Iterator[Candidate], on_reject: OnReject) -> Iterator[Candidate]:
        # the journal yields items by (line, sample): one input's samples are adjacent
        for _, group in itertools.groupby(stream, key=lambda c: c.item.line):
            samples = list(group)
            votes = Counter(c.normalised for c in samples)
            (top, n), *rest = votes.most_common()
            tie = bool(rest) and rest[0][1] == n
            if n < self.min_votes or tie:
                why = "a tie" if tie and n >= self.min_votes else f"{n} of {len(samples)} agree"
                for c in samples:
                    on_reject(
                        c, self.name, Reject("no_majority", f"{why}, {self.min_votes} needed")
                    )
                continue
            kept = False
            for c in samples:
                if c.normalised != top:
                    on_reject(
                        c, self.name, Reject("outvoted", f"{n} of {len(samples)} said otherwise")
                    )
                elif kept:
                    on_reject(c, self.name, Reject("redundant_vote", "one row per input"))
                else:
                    kept = True
                    yield c
