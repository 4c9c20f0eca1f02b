"""Which faults hit a request, and how long it takes: seeded draws in arrival order.

For a given seed and request order the same requests fail the same way. Each admitted request
draws once for an error fault (at most one of 429, 500, 503, 529, 500 no-retry, drop) and
once for each answer fault whose rate is non-zero; latency has its own generator so that
turning latency on does not move the faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from synth.sim.config import ANSWER_FAULTS, ERROR_FAULTS, SimConfig


@dataclass(frozen=True, slots=True)
class FaultPlan:
    # "429", "500", "503", "529", "500_no_retry", "drop", "html_200", "truncated_200",
    # "no_choices_200"
    error: str | None = None
    slow: bool = False
    truncate: bool = False
    refusal: bool = False
    content_filter: bool = False
    malformed_json: bool = False
    usage: bool = False  # the answer reports the config's usage_fault usage


NO_FAULT = FaultPlan()


class FaultInjector:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self._rng = random.Random(cfg.seed)
        self._latency_rng = random.Random(cfg.seed ^ 0x5EED_1A7E)
        cumulative, table = 0.0, []
        for name in ERROR_FAULTS:
            rate = getattr(cfg, name)
            if rate > 0:
                cumulative += rate
                table.append((cumulative, name.removeprefix("fault_")))
        self._errors = table
        self._answer = [(n.removeprefix("fault_"), getattr(cfg, n)) for n in ANSWER_FAULTS]
        self._answer = [(n, r) for n, r in self._answer if r > 0]
        self._lo, self._hi = (v / 1000.0 for v in cfg.latency_ms)

    def draw(self) -> FaultPlan:
        if not self._errors and not self._answer:
            return NO_FAULT
        rnd = self._rng.random
        error = None
        if self._errors:
            u = rnd()
            for bound, name in self._errors:
                if u < bound:
                    error = name
                    break
        flags = {name: rnd() < rate for name, rate in self._answer}
        return FaultPlan(error=error, **flags)

    def delay_s(self, plan: FaultPlan) -> float:
        base = self._lo if self._hi <= self._lo else self._latency_rng.uniform(self._lo, self._hi)
        return base + (self.config.slow_s if plan.slow else 0.0)
