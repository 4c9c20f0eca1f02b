"""What the simulated teacher billed, and what it saw: the referee of every harvest test.

Only 200 responses are billed; errors and dropped connections are counted but cost nothing.
`input_tokens` of an entry is the whole prompt, cached part included (as in
`synth.harvest.providers.base.Usage`), even though Anthropic's response reports the cached part apart;
`cache_write_tokens` (Anthropic's cache writes, of which `cache_write_1h_tokens` at the
1-hour rate) are part of it too, billed at the cache-write prices. An answer of a batch
(`batch: true`, synth.sim.batch_api) costs `price_batch_factor` of all that.

A request whose client hung up during its latency is `abandoned`: billed all the same (the
provider finished the work), unless `bill_abandoned` is off.

`retry_after_violations` counts requests that came back sooner than a 429 told them to: the
same body (hash) arriving before the advertised retry-after ran out, less `SLACK_S`.
Entries are kept as tuples without their cost (compact at hundreds of thousands of requests);
costs are exact Decimal arithmetic on the tokens, so they are computed when the ledger is read,
and the total's cost equals the sum of the entries' to the last digit.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from synth.sim.config import SimConfig

SLACK_S = 0.05
_MTOK = Decimal(1_000_000)


def _usd(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class Prices:
    def __init__(self, config: SimConfig) -> None:
        self.given = config.price_given
        self.input = config.price_input_per_mtok or Decimal(0)
        self.output = config.price_output_per_mtok or Decimal(0)
        cached = config.price_cached_input_per_mtok
        self.cached = self.input if cached is None else cached
        write, write_1h = config.price_cache_write_per_mtok, config.price_cache_write_1h_per_mtok
        self.write = self.input * Decimal("1.25") if write is None else write
        self.write_1h = self.input * 2 if write_1h is None else write_1h
        self.batch_factor = config.price_batch_factor

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cached: int,
        write: int = 0,
        write_1h: int = 0,
        batch: bool = False,
    ) -> Decimal | None:
        if not self.given:
            return None
        fresh = input_tokens - cached - write
        factor = self.batch_factor if batch else Decimal(1)
        return (
            factor
            * (
                fresh * self.input
                + cached * self.cached
                + (write - write_1h) * self.write
                + write_1h * self.write_1h
                + output_tokens * self.output
            )
            / _MTOK
        )


class Ledger:
    def __init__(self, config: SimConfig) -> None:
        self.prices = Prices(config)
        self.path: Path | None = config.ledger_path
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self.reset()

    def reset(self) -> None:
        """Forget everything billed and seen (the JSONL file, append-only, is kept)."""
        self.entries: list[tuple[Any, ...]] = []
        self.received = 0
        self.by_status: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.drops = 0
        self.client_disconnects = 0
        self.abandoned = 0
        self.rate_limited = 0
        self.retry_after_violations = 0
        self.max_in_flight = 0
        self.input_tokens = self.output_tokens = self.cached_input_tokens = 0
        self.cache_write_tokens = self.cache_write_1h_tokens = 0
        self.batch_tokens = [0, 0, 0, 0, 0]  # the part of the five sums above billed as batch
        self._not_before: dict[str, float] = {}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- what arrives ---------------------------------------------------------------------------

    def arrived(self, body_hash: str, now: float) -> None:
        """Count a retry that came before the retry-after it was given ran out."""
        not_before = self._not_before.get(body_hash)
        if not_before is None:
            return
        if now < not_before - SLACK_S:
            self.retry_after_violations += 1
        else:
            del self._not_before[body_hash]

    def told_to_wait(self, body_hash: str, now: float, wait_s: float) -> None:
        self._not_before[body_hash] = now + wait_s

    # -- what it billed -------------------------------------------------------------------------

    def bill(
        self,
        request_id: str,
        api: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached: int,
        body_hash: str,
        t: float,
        *,
        cache_write: int = 0,
        cache_write_1h: int = 0,
        batch: bool = False,
    ) -> None:
        # The cost is not stored: it is exact arithmetic on the tokens, redone when read.
        entry = (
            request_id,
            api,
            sys.intern(model),
            input_tokens,
            output_tokens,
            cached,
            body_hash,
            t,
            cache_write,
            cache_write_1h,
            batch,
        )
        self.entries.append(entry)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cached_input_tokens += cached
        self.cache_write_tokens += cache_write
        self.cache_write_1h_tokens += cache_write_1h
        if batch:
            counts = (input_tokens, output_tokens, cached, cache_write, cache_write_1h)
            self.batch_tokens = [a + b for a, b in zip(self.batch_tokens, counts, strict=True)]
        if self._file is not None:
            self._file.write(json.dumps(self._entry_dict(entry)) + "\n")
            self._file.flush()

    # -- reading it -----------------------------------------------------------------------------

    def totals(self) -> dict[str, Any]:
        sums = (
            self.input_tokens,
            self.output_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.cache_write_1h_tokens,
        )
        i, o, c, w, w1h = (a - b for a, b in zip(sums, self.batch_tokens, strict=True))
        cost = self.prices.cost(i, o, c, w, w1h)
        bi, bo, bc, bw, bw1h = self.batch_tokens
        batch_cost = self.prices.cost(bi, bo, bc, bw, bw1h, batch=True)
        if cost is not None and batch_cost is not None:
            cost += batch_cost
        return {
            "requests": len(self.entries),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "batch_requests": sum(1 for e in self.entries if e[10]),
            "cost_usd": None if cost is None else _usd(cost),
        }

    def counters(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "by_status": dict(sorted(self.by_status.items())),
            "faults": dict(sorted(self.faults.items())),
            "drops": self.drops,
            "client_disconnects": self.client_disconnects,
            "abandoned": self.abandoned,
            "rate_limited": self.rate_limited,
            "retry_after_violations": self.retry_after_violations,
            "max_in_flight": self.max_in_flight,
        }

    def to_dict(self, entries: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"totals": self.totals(), "counters": self.counters()}
        if entries:
            out["entries"] = [self._entry_dict(e) for e in self.entries]
        return out

    def _entry_dict(self, entry: tuple[Any, ...]) -> dict[str, Any]:
        request_id, api, model, input_tokens, output_tokens, cached, body_hash, t, w, w1h, b = entry
        cost = self.prices.cost(input_tokens, output_tokens, cached, w, w1h, b)
        return {
            "request_id": request_id,
            "api": api,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached_input_tokens": cached,
            "cache_write_tokens": w,
            "cache_write_1h_tokens": w1h,
            "batch": b,
            "cost_usd": None if cost is None else _usd(cost),
            "body_hash": body_hash,
            "t": t,
        }
