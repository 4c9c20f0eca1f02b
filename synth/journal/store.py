"""The harvest journal: one SQLite file (WAL) per run folder, `<run>/journal.sqlite`, shared by
every harvest of that run (each one a row of `runs`), the single source of truth.

Every (input, sample) is one row keyed by the hash of its rendered request. The engine writes
the row before a request leaves (`in_flight`, with the money it reserved) and after it ends
(`done` with the response, usage and cost, or `failed` with the reason), so a crash loses at
most what was in flight and a re-run never pays twice. Build, eval and report read it back
with `iter_items`, streaming.

The journal also remembers the plan of the last harvest: the keys its inputs × template ×
teacher asked for (`plan_keys`, written by `add_items`). Answers to an older prompt, inputs,
model or params stay in the journal (and in its bill) under their own keys; build reads only
the plan's (`iter_items(plan_only=True)`) and shows the rest as one funnel line
(`outside_plan`). A journal whose plan was never recorded (written before m004) has none:
every item counts, as before.

The API key is never passed to this module.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from synth.errors import JournalError
from synth.harvest.providers.base import ChatRequest, ChatResponse
from synth.journal.migrations import MIGRATIONS, migrate
from synth.money import round_usd

PENDING, IN_FLIGHT, DONE, FAILED = "pending", "in_flight", "done", "failed"
# add_items(plan=...): a harvest's items become the plan, or (`--inputs FILE`) join it
PLAN_REPLACE, PLAN_EXTEND = "replace", "extend"


def request_key(provider: str, request: ChatRequest, sample: int) -> str:
    """Stable hash of what is asked: same provider, model, params, messages, sample → same key."""
    body = {
        "provider": provider,
        "model": request.model,
        "params": request.params,
        "messages": request.messages,
        "json_schema": request.json_schema,
        "logprobs": request.logprobs,
        "sample": sample,
    }
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class NewItem:
    key: str
    line: int
    sample: int
    input: dict[str, Any]
    request: ChatRequest
    provider: str


@dataclass
class JournalItem:
    key: str
    line: int
    sample: int
    input: dict[str, Any]
    request: dict[str, Any]
    provider: str
    model: str
    state: str
    attempts: int
    retries: int
    rate_limited: int
    last_error: str | None
    response_text: str | None
    finish_reason: str | None
    refusal: str | None
    request_id: str | None
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: Decimal
    latency_s: float | None
    logprobs: list[dict[str, Any]] | None
    updated_at: float

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.request["messages"]


_COLUMNS = (
    "key, line, sample, input, request, provider, model, state, attempts, retries, rate_limited, "
    "last_error, response_text, finish_reason, refusal, request_id, input_tokens, output_tokens, "
    "cached_input_tokens, cost_usd, latency_s, logprobs, updated_at"
)


def _item(row: tuple[Any, ...]) -> JournalItem:
    return JournalItem(
        key=row[0],
        line=row[1],
        sample=row[2],
        input=json.loads(row[3]),
        request=json.loads(row[4]),
        provider=row[5],
        model=row[6],
        state=row[7],
        attempts=row[8],
        retries=row[9],
        rate_limited=row[10],
        last_error=row[11],
        response_text=row[12],
        finish_reason=row[13],
        refusal=row[14],
        request_id=row[15],
        input_tokens=row[16] or 0,
        output_tokens=row[17] or 0,
        cached_input_tokens=row[18] or 0,
        cost_usd=Decimal(row[19] or "0"),
        latency_s=row[20],
        logprobs=json.loads(row[21]) if row[21] else None,
        updated_at=row[22],
    )


def unreadable(path: Path, err: Exception) -> JournalError:
    """The one line for a journal SQLite cannot read (cut short, overwritten, not SQLite)."""
    return JournalError(
        f"{path}: the journal cannot be read ({err}): it is damaged or cut short; move it "
        "aside (keep a copy: its answers may be recoverable with sqlite3's .recover) and run "
        "again to start the run afresh"
    )


def pending_migrations(path: Path) -> list[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:
        done = set()
    finally:
        db.close()
    return [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in done]


class Journal:
    """A run's journal. One connection, used from one thread (the harvest's event loop)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            self._open(readonly)
            self.db.execute("SELECT COUNT(*) FROM items").fetchone()  # reads the table's pages
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise
            raise unreadable(self.path, e) from None
        self.current_only = False  # set by add_items: restrict pending work to those keys

    def _open(self, readonly: bool) -> None:
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(self.path)
            if pending_migrations(self.path):
                # a journal written by an older version: bring its schema up to date first
                Journal(self.path).close()
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a process crash loses nothing committed; only a power cut can
            # lose the last few transactions, and never corrupts the file.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=10000")
            migrate(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (the harvest engine) -------------------------------------------------------

    def add_items(
        self, items: Iterable[NewItem], chunk: int = 5000, *, plan: str = PLAN_REPLACE
    ) -> int:
        """Journal every item of this inputs file, atomically: if the generator raises (a bad
        input line), nothing is written and the plan is unchanged. Items already journaled
        (same key) are kept as they are. The keys are also remembered for this connection, so
        that `iter_pending` sends only what the current inputs file asks for.

        `plan="replace"` (a harvest of the config's inputs): these keys become the journal's
        plan, the answers build reads. `plan="extend"` (`distill harvest --inputs FILE`): they
        join the plan; a journal with no plan yet keeps none (every item counts).
        Returns how many items were new."""
        if plan not in (PLAN_REPLACE, PLAN_EXTEND):
            raise ValueError(f"plan must be {PLAN_REPLACE!r} or {PLAN_EXTEND!r}, not {plan!r}")
        now = time.time()
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS current_keys (key TEXT PRIMARY KEY)")
        keys_before = self.count()
        batch: list[tuple[Any, ...]] = []
        digest = hashlib.sha256()
        self.db.execute("BEGIN")
        try:
            self.db.execute("DELETE FROM current_keys")
            last = self.plan()
            if plan == PLAN_EXTEND and last:
                digest.update(last["digest"].encode())

            def flush() -> None:
                self.db.executemany(
                    "INSERT OR IGNORE INTO items (key, line, sample, input, request, provider, "
                    "model, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    batch,
                )
                self.db.executemany(
                    "INSERT OR IGNORE INTO current_keys (key) VALUES (?)", [(b[0],) for b in batch]
                )
                digest.update("".join(b[0] for b in batch).encode())
                batch.clear()

            for it in items:
                req = {
                    "model": it.request.model,
                    "messages": it.request.messages,
                    "params": it.request.params,
                    "json_schema": it.request.json_schema,
                    "logprobs": it.request.logprobs,
                }
                batch.append(
                    (
                        it.key,
                        it.line,
                        it.sample,
                        json.dumps(it.input, ensure_ascii=False),
                        json.dumps(req, ensure_ascii=False),
                        it.provider,
                        it.request.model,
                        PENDING,
                        now,
                        now,
                    )
                )
                if len(batch) >= chunk:
                    flush()
            if batch:
                flush()
            self._record_plan(plan, last, digest.hexdigest(), now)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self.current_only = True
        return self.count() - keys_before

    def _record_plan(self, mode: str, last: dict[str, Any] | None, digest: str, now: float) -> None:
        """Inside add_items' transaction: make temp.current_keys the plan, or add it to the
        plan. Copied in one statement, in key order (the cheap way to fill a B-tree), and only
        when the plan changes: a re-run of the same harvest writes nothing more than before."""
        if mode == PLAN_REPLACE:
            if last is not None and last["digest"] == digest:
                return  # the same keys, in the same order, as the plan on record
            self.db.execute("DELETE FROM plan_keys")
            self.db.execute(
                "INSERT INTO plan_keys (key) SELECT key FROM temp.current_keys ORDER BY key"
            )
        else:
            if last is None:
                return  # no plan to extend: every item counts, these included
            added = self.db.execute(
                "INSERT OR IGNORE INTO plan_keys (key) SELECT key FROM temp.current_keys "
                "ORDER BY key"
            ).rowcount
            if not added:
                return
        n = self.db.execute("SELECT COUNT(*) FROM plan_keys").fetchone()[0]
        self.db.execute(
            "INSERT INTO plans (created_at, mode, items, digest) VALUES (?,?,?,?)",
            (now, mode, n, digest),
        )

    def start_run(
        self,
        *,
        provider: str,
        model: str,
        budget_usd: Decimal | None,
        per_hour_usd: Decimal | None = None,
    ) -> int:
        """Open a run; requests a crash left in flight go back to pending, their worst case
        recorded as possibly billed (`orphaned_usd`), which the budget keeps counting."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            orphaned = sum(
                (
                    Decimal(r[0] or "0")
                    for r in self.db.execute(
                        "SELECT reserved_usd FROM items WHERE state = ?", (IN_FLIGHT,)
                    )
                ),
                Decimal(0),
            )
            self.db.execute(
                "UPDATE items SET state = ?, reserved_usd = NULL, updated_at = ? WHERE state = ?",
                (PENDING, now, IN_FLIGHT),
            )
            self.db.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = COALESCE(ended_at, ?) "
                "WHERE status = 'running'",
                (now,),
            )
            cur = self.db.execute(
                "INSERT INTO runs (started_at, status, provider, model, budget_usd, orphaned_usd, "
                "per_hour_usd) VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (
                    now,
                    provider,
                    model,
                    None if budget_usd is None else str(budget_usd),
                    str(orphaned),
                    None if per_hour_usd is None else str(per_hour_usd),
                ),
            )
        run_id = cur.lastrowid
        if run_id is None:  # sqlite3 sets it after every successful INSERT
            raise RuntimeError("INSERT INTO runs reported no row id")
        return run_id

    def end_run(self, run_id: int, status: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET status = ?, ended_at = ? WHERE id = ?",
                (status, time.time(), run_id),
            )

    def retry_failed(self) -> int:
        """Put failed items back to pending (`distill harvest --retry-failed`)."""
        with self.db:
            cur = self.db.execute(
                "UPDATE items SET state = ?, updated_at = ? WHERE state = ?",
                (PENDING, time.time(), FAILED),
            )
        return cur.rowcount

    def requeue_failed(self, keys: Iterable[str]) -> int:
        """Put these failed items back to pending (they failed for the endpoint, not for
        themselves: a run stopped early for a systematic failure)."""
        now = time.time()
        with self.db:
            cur = self.db.executemany(
                "UPDATE items SET state = ?, updated_at = ? WHERE key = ? AND state = ?",
                [(PENDING, now, k, FAILED) for k in keys],
            )
        return cur.rowcount

    def mark_in_flight(self, key: str, reserved_usd: Decimal) -> None:
        with self.db:
            self.db.execute(
                "UPDATE items SET state = ?, reserved_usd = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE key = ?",
                (IN_FLIGHT, str(reserved_usd), time.time(), key),
            )

    def record_attempt(
        self,
        key: str,
        run_id: int,
        started_at: float,
        outcome: str,
        status: int | None = None,
        error: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cost_usd: Decimal | None = None,
        final: bool = False,
        possibly_billed_usd: Decimal | None = None,
        flag: str | None = None,
    ) -> None:
        """One HTTP attempt ended. Retries also bump the item's counters. `final` attempts
        are written in the same transaction as the item's end (see mark_done/mark_failed).
        `possibly_billed_usd`: the worst case of an attempt whose outcome is unknown (a
        timeout, a dropped connection): counted as spent from now on."""
        sql = (
            "INSERT INTO attempts (key, run_id, started_at, ended_at, outcome, status, error, "
            "input_tokens, output_tokens, cost_usd, possibly_billed_usd, flag) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
        )
        args = (
            key,
            run_id,
            started_at,
            time.time(),
            outcome,
            status,
            error,
            input_tokens,
            output_tokens,
            None if cost_usd is None else str(cost_usd),
            None if not possibly_billed_usd else str(possibly_billed_usd),
            flag,
        )
        if final:
            self.db.execute(sql, args)
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(sql, args)
            self.db.execute(
                "UPDATE items SET attempts = attempts + 1, retries = retries + 1, "
                "rate_limited = rate_limited + ?, last_error = ?, updated_at = ? WHERE key = ?",
                (1 if outcome == "rate_limited" else 0, error, time.time(), key),
            )

    def mark_done(
        self,
        key: str,
        response: ChatResponse,
        cost_usd: Decimal,
        *,
        run_id: int,
        started_at: float,
        status: int = 200,
        full_price_usd: Decimal | None = None,
        flag: str | None = None,
    ) -> None:
        """`full_price_usd`: what the answer would have cost online with no prompt cache,
        when that differs from `cost_usd` (the report's "caching saved")."""
        u = response.usage
        with self.db:
            self.db.execute("BEGIN")
            self.record_attempt(
                key,
                run_id,
                started_at,
                "ok",
                status,
                None,
                u.input_tokens,
                u.output_tokens,
                cost_usd,
                final=True,
                flag=flag,
            )
            self.db.execute(
                "UPDATE items SET state = ?, reserved_usd = NULL, response_text = ?, "
                "finish_reason = ?, refusal = ?, request_id = ?, input_tokens = ?, "
                "output_tokens = ?, cached_input_tokens = ?, cache_write_tokens = ?, "
                "cost_usd = ?, full_price_usd = ?, latency_s = ?, "
                "logprobs = ?, last_error = NULL, updated_at = ? WHERE key = ?",
                (
                    DONE,
                    response.text,
                    response.finish_reason,
                    response.refusal,
                    response.request_id,
                    u.input_tokens,
                    u.output_tokens,
                    u.cached_input_tokens,
                    u.cache_write_tokens,
                    str(cost_usd),
                    str(full_price_usd) if full_price_usd is not None else None,
                    response.latency_s,
                    json.dumps(response.logprobs) if response.logprobs is not None else None,
                    time.time(),
                    key,
                ),
            )

    def mark_failed(
        self,
        key: str,
        error: str,
        *,
        run_id: int,
        started_at: float,
        status: int | None,
        outcome: str = "failed",
        state: str = FAILED,
        possibly_billed_usd: Decimal | None = None,
    ) -> None:
        """The item ended without an answer (`state=pending` when the run stops around it)."""
        with self.db:
            self.db.execute("BEGIN")
            self.record_attempt(
                key,
                run_id,
                started_at,
                outcome,
                status,
                error,
                final=True,
                possibly_billed_usd=possibly_billed_usd,
            )
            self.db.execute(
                "UPDATE items SET state = ?, reserved_usd = NULL, last_error = ?, "
                "rate_limited = rate_limited + ?, updated_at = ? WHERE key = ?",
                (state, error, 1 if status == 429 else 0, time.time(), key),
            )

    def mark_interrupted(
        self,
        key: str,
        *,
        run_id: int,
        started_at: float,
        possibly_billed_usd: Decimal | None,
    ) -> None:
        """A clean stop (Ctrl-C, SIGTERM, the budget) while the item was in flight: back to
        pending. An attempt that was on the wire is recorded with its worst case as possibly
        billed; an item that was only waiting (for a retry, the limiter, money) adds nothing."""
        with self.db:
            self.db.execute("BEGIN")
            if possibly_billed_usd:
                self.record_attempt(
                    key,
                    run_id,
                    started_at,
                    "interrupted",
                    final=True,
                    possibly_billed_usd=possibly_billed_usd,
                )
            self.db.execute(
                "UPDATE items SET state = ?, reserved_usd = NULL, updated_at = ? "
                "WHERE key = ? AND state = ?",
                (PENDING, time.time(), key, IN_FLIGHT),
            )

    # -- reading (engine, build, eval, report) ------------------------------------------------

    def iter_items(
        self, state: str | None = None, batch: int = 2000, *, plan_only: bool = False
    ) -> Iterator[JournalItem]:
        """All items in input order (line, sample), streaming. `plan_only=True`: only those of
        the last harvest's plan (every item when the journal has no plan)."""
        where, args = (["state = ?"], [state]) if state else ([], [])
        if plan_only and self.outside_plan_count():
            where.append("key IN (SELECT key FROM plan_keys)")
        sql = f"SELECT {_COLUMNS} FROM items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        cur = self.db.execute(sql + " ORDER BY line, sample", args)
        while rows := cur.fetchmany(batch):
            for row in rows:
                yield _item(row)

    def iter_pending(self, batch: int = 2000) -> Iterator[tuple[str, dict[str, Any]]]:
        """(key, request) of pending items in input order, streaming by (line, sample) pages
        so that the engine's own writes do not disturb the cursor. The (line, sample) index
        is named: left to itself SQLite picks the state index and sorts every pending row for
        each page (230 ms a page at 1M items, against 5 ms)."""
        last = (0, -1)
        while True:
            current = "AND key IN (SELECT key FROM current_keys)" if self.current_only else ""
            rows = self.db.execute(
                "SELECT line, sample, key, request FROM items INDEXED BY items_line "
                f"WHERE state = ? {current} "
                "AND (line, sample) > (?, ?) ORDER BY line, sample LIMIT ?",
                (PENDING, last[0], last[1], batch),
            ).fetchall()
            if not rows:
                return
            for _line, _sample, key, request in rows:
                yield key, json.loads(request)
            last = (rows[-1][0], rows[-1][1])

    def count(self, state: str | None = None, *, current: bool = False) -> int:
        """Items (in a state); `current=True`: only those of the inputs file being harvested."""
        where = ["state = ?"] if state else []
        if current and self.current_only:
            where.append("key IN (SELECT key FROM current_keys)")
        sql = "SELECT COUNT(*) FROM items" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self.db.execute(sql, (state,) if state else ()).fetchone()[0])

    def plan(self) -> dict[str, Any] | None:
        """The last recorded plan: id, created_at, mode, items, digest; None when the journal
        has none (written before plans were recorded, or only ever extended)."""
        cur = self.db.execute(
            "SELECT id, created_at, mode, items, digest FROM plans ORDER BY id DESC LIMIT 1"
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def outside_plan_count(self) -> int:
        """How many items are not in the last harvest's plan (0 without a plan). The plan's
        keys are always journaled items and items are never deleted, so this is a subtraction."""
        plan = self.plan()
        return 0 if plan is None else self.count() - plan["items"]

    def outside_plan(self) -> dict[str, Any]:
        """The items that are not in the last harvest's plan (answers to an older prompt,
        inputs, model or params): their count, by state, and what their attempts cost. All
        zero when the journal has no plan. `totals()` minus this is the plan's share."""
        out: dict[str, Any] = {
            "items": 0,
            "succeeded": 0,
            "failed": 0,
            "pending": 0,
            "cost_usd": Decimal(0),
        }
        n = self.outside_plan_count()
        if not n:
            return out  # the usual case, answered without reading the plan's keys
        # the few failed and unsent items through the state index; done is the rest (no scan
        # of every item's row)
        failed, pending = self.db.execute(
            "SELECT SUM(state = 'failed'), SUM(state != 'failed') FROM items "
            "WHERE state IN ('failed', 'pending', 'in_flight') "
            "AND key NOT IN (SELECT key FROM plan_keys)"
        ).fetchone()
        failed, pending = failed or 0, pending or 0
        out.update(items=n, succeeded=n - failed - pending, failed=failed, pending=pending)
        out["cost_usd"] = sum(
            (
                Decimal(r[0])
                for r in self.db.execute(
                    "SELECT cost_usd FROM attempts WHERE cost_usd IS NOT NULL "
                    "AND key NOT IN (SELECT key FROM plan_keys)"
                )
            ),
            Decimal(0),
        )
        return out

    def spent_usd(self) -> Decimal:
        """What the teacher may have billed: settled costs, GPU hours of a self-hosted
        teacher, and the worst cases of attempts whose outcome is unknown (timed out, dropped,
        interrupted on the wire, in flight at a crash)."""
        t = self.totals()
        return t["cost_usd"] + t["possibly_billed_usd"] + t["open_batches_usd"]

    def hourly_cost_usd(self) -> Decimal:
        """Wall time × price of the runs of a teacher priced per hour (a crashed run counts
        until its last recorded attempt)."""
        total = Decimal(0)
        for started, ended, per_hour, last in self.db.execute(
            "SELECT r.started_at, r.ended_at, r.per_hour_usd, "
            "(SELECT MAX(ended_at) FROM attempts a WHERE a.run_id = r.id) "
            "FROM runs r WHERE r.per_hour_usd IS NOT NULL"
        ):
            end = ended if ended is not None else (last or started)
            total += Decimal(per_hour) * Decimal(str(max(end - started, 0.0))) / 3600
        return round_usd(total)

    def _usd_sum(self, sql: str) -> Decimal:
        """The exact sum of a query's first column of dollar strings (NULLs count nothing)."""
        return sum((Decimal(r[0]) for r in self.db.execute(sql) if r[0]), Decimal(0))

    def totals(self) -> dict[str, Any]:
        """The cost report's figures, exact (Decimal) and from the journal alone: every item
        and attempt, in the last harvest's plan or not (see `outside_plan`)."""
        row = self.db.execute(
            "SELECT COUNT(*), "
            "SUM(state = 'done'), SUM(state = 'failed'), SUM(state = 'pending'), "
            "SUM(state = 'in_flight'), "
            "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            "COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(retries), 0), "
            "COALESCE(SUM(rate_limited), 0), COALESCE(SUM(attempts), 0), "
            "COALESCE(SUM(latency_s), 0), COALESCE(SUM(cache_write_tokens), 0) "
            "FROM items"
        ).fetchone()
        # what the answers billed below their uncached price saved (exact Decimals); a batch
        # answer's saving by batch is apart (online_cost_usd, synth.journal.batches)
        caching_saved = sum(
            (
                Decimal(full) - Decimal(cost)
                for full, cost in self.db.execute(
                    "SELECT full_price_usd, COALESCE(online_cost_usd, cost_usd) FROM items "
                    "WHERE state = 'done' AND full_price_usd IS NOT NULL"
                )
            ),
            Decimal(0),
        )
        open_batches = self._usd_sum(
            "SELECT reserved_usd FROM batches WHERE state IN ('open', 'submitting')"
        )
        token_cost = self._usd_sum("SELECT cost_usd FROM attempts")
        hourly = self.hourly_cost_usd()
        orphaned = self._usd_sum("SELECT orphaned_usd FROM runs")
        unknown = self._usd_sum("SELECT possibly_billed_usd FROM attempts")
        done = row[1] or 0
        return {
            "items": row[0],
            "succeeded": done,
            "failed": row[2] or 0,
            "pending": (row[3] or 0) + (row[4] or 0),
            "requests": int(self.db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]),
            "input_tokens": row[5],
            "output_tokens": row[6],
            "cached_input_tokens": row[7],
            "cache_write_tokens": row[12],
            "caching_saved_usd": caching_saved,
            "open_batches_usd": open_batches,
            "batched": int(
                self.db.execute("SELECT COUNT(*) FROM items WHERE state = 'batched'").fetchone()[0]
            ),
            "retries": row[8],
            "rate_limited": row[9],
            "cost_usd": token_cost + hourly,
            "token_cost_usd": token_cost,
            "hourly_cost_usd": hourly,
            "orphaned_usd": orphaned,
            # settled cost is `cost_usd`; this is what may have been billed on top of it
            "possibly_billed_usd": orphaned + unknown,
            "mean_latency_s": (row[11] / done) if done else None,
        }

    def failures(self) -> Iterator[tuple[str | None, int]]:
        """(reason, input line) of every failed item, by line: the report groups them."""
        cur = self.db.execute(
            "SELECT last_error, line FROM items WHERE state = ? ORDER BY line", (FAILED,)
        )
        while rows := cur.fetchmany(5000):
            yield from rows

    def flagged_attempts(self) -> int:
        """Answers whose usage was missing or impossible (priced at their worst case)."""
        return int(
            self.db.execute("SELECT COUNT(*) FROM attempts WHERE flag IS NOT NULL").fetchone()[0]
        )

    def runs(self) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT id, started_at, ended_at, status, provider, model, budget_usd, orphaned_usd "
            "FROM runs ORDER BY id"
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def iter_attempts(self) -> Iterator[dict[str, Any]]:
        """Every attempt in time order: the report's time series."""
        cur = self.db.execute(
            "SELECT key, run_id, started_at, ended_at, outcome, status, error, input_tokens, "
            "output_tokens, cost_usd FROM attempts ORDER BY ended_at"
        )
        cols = [d[0] for d in cur.description]
        while rows := cur.fetchmany(5000):
            for r in rows:
                yield dict(zip(cols, r, strict=True))
