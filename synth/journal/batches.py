"""The journal's side of `teacher.mode: batch`: which items went into which provider batch.

An item submitted in a batch is `batched` (its `batch_id` set; the provider's `custom_id` is
the item's key), never `pending`, so no later run sends it again; the batch's worst case stays
committed (`Journal.spent_usd`) until its results are collected. Collecting an answer is
`Journal.mark_done`; an item that came back without one goes back to pending (retryable) or
fails with the provider's message.

    batches = BatchJournal(journal)
    batches.intend(tag, "openai", keys, worst_usd, run_id)         # before the provider hears of it
    batches.confirm(tag, batch_id)                                 # the provider accepted it
    for b in batches.open(): ...                                   # what a re-run polls
    for b in batches.submitting(): ...                             # a crash between the two
    batches.close(batch_id, status, cost_usd)                      # its results are in
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from synth.journal.store import FAILED, PENDING, Journal

BATCHED = "batched"


@dataclass(frozen=True)
class OpenBatch:
    id: str
    provider: str
    items: int
    reserved_usd: Decimal
    created_at: float


class BatchJournal:
    def __init__(self, journal: Journal) -> None:
        self.j = journal
        self.db = journal.db

    def intend(
        self, tag: str, provider: str, keys: list[str], reserved_usd: Decimal, run_id: int
    ) -> None:
        """Before submission, one transaction: the batch (under our own `tag`, state
        `submitting`) and its items, so that none is ever submitted twice, even when the
        process dies between the provider's answer and `confirm`."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO batches (id, provider, state, items, reserved_usd, run_id, "
                "created_at) VALUES (?, ?, 'submitting', ?, ?, ?, ?)",
                (tag, provider, len(keys), str(reserved_usd), run_id, now),
            )
            self.db.executemany(
                "UPDATE items SET state = ?, batch_id = ?, mode = 'batch', attempts = attempts + 1, "
                "updated_at = ? WHERE key = ?",
                [(BATCHED, tag, now, k) for k in keys],
            )

    def confirm(self, tag: str, batch_id: str) -> None:
        """The provider accepted the batch `tag` as `batch_id`."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "UPDATE batches SET id = ?, state = 'open' WHERE id = ?", (batch_id, tag)
            )
            self.db.execute("UPDATE items SET batch_id = ? WHERE batch_id = ?", (batch_id, tag))

    def abandon(self, tag: str, reason: str) -> None:
        """The provider never created the batch `tag`: its items are pending again."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "UPDATE batches SET state = 'never_sent', status = ?, cost_usd = '0', "
                "ended_at = ? WHERE id = ?",
                (reason, time.time(), tag),
            )
            self.db.execute(
                "UPDATE items SET state = ?, batch_id = NULL, updated_at = ? "
                "WHERE batch_id = ? AND state = ?",
                (PENDING, time.time(), tag, BATCHED),
            )

    def submitting(self) -> list[OpenBatch]:
        """Batches a crash left between `intend` and `confirm`: the provider may have them."""
        return self._batches("submitting")

    def known_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM batches")}

    def open(self) -> list[OpenBatch]:
        return self._batches("open")

    def _batches(self, state: str) -> list[OpenBatch]:
        return [
            OpenBatch(r[0], r[1], r[2], Decimal(r[3]), r[4])
            for r in self.db.execute(
                "SELECT id, provider, items, reserved_usd, created_at FROM batches "
                "WHERE state = ? ORDER BY created_at",
                (state,),
            )
        ]

    def waiting_in(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """The items of a batch still waiting for their result: key → request."""
        return {
            r[0]: json.loads(r[1])
            for r in self.db.execute(
                "SELECT key, request FROM items WHERE batch_id = ? AND state = ?",
                (batch_id, BATCHED),
            )
        }

    def set_online_cost(self, key: str, online_cost_usd: Decimal) -> None:
        self.db.execute(
            "UPDATE items SET online_cost_usd = ? WHERE key = ?", (str(online_cost_usd), key)
        )

    def back_to_pending(self, key: str, error: str, *, run_id: int, retryable: bool) -> None:
        """An item the batch did not answer: pending again (the next harvest sends it in a
        new batch), or failed with the provider's message when retrying cannot help."""
        self.j.mark_failed(
            key,
            error,
            run_id=run_id,
            started_at=time.time(),
            status=None,
            outcome="retry" if retryable else "failed",
            state=PENDING if retryable else FAILED,
        )

    def close(self, batch_id: str, status: str, cost_usd: Decimal) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "UPDATE batches SET state = 'collected', status = ?, cost_usd = ?, ended_at = ? "
                "WHERE id = ?",
                (status, str(cost_usd), time.time(), batch_id),
            )
            # whatever the results left out goes back to pending
            self.db.execute(
                "UPDATE items SET state = ?, updated_at = ? WHERE batch_id = ? AND state = ?",
                (PENDING, time.time(), batch_id, BATCHED),
            )

    def reserved_usd(self) -> Decimal:
        """Worst case of the open batches: committed until they are collected."""
        return sum(
            (
                Decimal(r[0])
                for r in self.db.execute(
                    "SELECT reserved_usd FROM batches WHERE state IN ('open', 'submitting')"
                )
            ),
            Decimal(0),
        )

    def counts(self) -> dict[str, int]:
        """Batches by state and items by state, for the progress line and the report."""
        out = {f"batches_{s}": n for s, n in self.db.execute(
            "SELECT state, COUNT(*) FROM batches GROUP BY state"
        )}  # fmt: skip
        out["items_batched"] = self.j.count(BATCHED)
        return out

    def cost_by_mode(self) -> dict[str, Decimal]:
        """Settled cost of the answers by how they were bought, and what batch saved."""
        online = batch = saved = Decimal(0)
        for mode, cost, online_cost in self.db.execute(
            "SELECT mode, cost_usd, online_cost_usd FROM items WHERE state = 'done'"
        ):
            if mode == "batch":
                batch += Decimal(cost or "0")
                if online_cost is not None:
                    saved += Decimal(online_cost) - Decimal(cost or "0")
            else:
                online += Decimal(cost or "0")
        return {"online_usd": online, "batch_usd": batch, "batch_saved_usd": saved}
