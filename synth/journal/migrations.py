"""The journal's schema, as numbered migrations recorded in the database itself.

A migration is a function `mNNN_name(db)`; `migrate(db)` applies, in order, those not yet
recorded in `_migrations`. Never edit one that has shipped: add the next number, so that
journals written by older versions still open.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []


def migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE items (
            key TEXT PRIMARY KEY,              -- sha256 of the rendered request + sample index
            line INTEGER NOT NULL,             -- 1-based line of the inputs file
            sample INTEGER NOT NULL,           -- 0 .. samples_per_input-1
            input TEXT NOT NULL,               -- the input record, JSON
            request TEXT NOT NULL,             -- model, messages, params, json_schema: JSON
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',   -- pending | in_flight | done | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            rate_limited INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            reserved_usd TEXT,                 -- worst case held while in flight
            response_text TEXT,
            finish_reason TEXT,
            refusal TEXT,
            request_id TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cached_input_tokens INTEGER,
            cost_usd TEXT,                     -- Decimal as text: exact sums
            latency_s REAL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX items_state ON items(state);
        CREATE INDEX items_line ON items(line, sample);

        -- one row per HTTP attempt: the time series behind retries, 429s and cost over time
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            run_id INTEGER,
            started_at REAL NOT NULL,
            ended_at REAL NOT NULL,
            outcome TEXT NOT NULL,             -- ok | retry | rate_limited | failed | auth
            status INTEGER,
            error TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd TEXT
        );

        -- one row per `distill harvest` invocation
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            ended_at REAL,
            status TEXT NOT NULL,              -- running | finished | budget | auth | interrupted
            provider TEXT,
            model TEXT,
            budget_usd TEXT,
            orphaned_usd TEXT                  -- reservations of requests a crash left in flight
        );
        """
    )


@migration
def m002_logprobs_and_wall_time(db: sqlite3.Connection) -> None:
    # top-K log-probabilities per answer token, for later soft-label training
    db.execute("ALTER TABLE items ADD COLUMN logprobs TEXT")
    db.execute("CREATE INDEX attempts_time ON attempts(ended_at)")


@migration
def m003_hourly_price(db: sqlite3.Connection) -> None:
    # a self-hosted teacher priced per GPU hour: a run costs its wall time at this price
    db.execute("ALTER TABLE runs ADD COLUMN per_hour_usd TEXT")


@migration
def m004_plan(db: sqlite3.Connection) -> None:
    # the plan of the last harvest: the keys its inputs × template × teacher asked for. Build
    # reads only those answers; older ones (an edited prompt, inputs, model or params) stay in
    # the journal, and in its bill. A journal with no `plans` row has no plan: every item counts.
    # Keyed (WITHOUT ROWID: the key is the whole row), so that `key [NOT] IN (SELECT key FROM
    # plan_keys)` is an index lookup; add_items copies the keys in key order, in one statement.
    db.execute("CREATE TABLE plan_keys (key TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute(
        """
        CREATE TABLE plans (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            mode TEXT NOT NULL,                -- replace (a harvest) | extend (--inputs FILE)
            items INTEGER NOT NULL,            -- keys in the plan after this harvest
            digest TEXT NOT NULL               -- sha256 over the plan's keys, for staleness
        )
        """
    )


@migration
def m005_attempt_money(db: sqlite3.Connection) -> None:
    # money per attempt: an attempt that timed out, dropped or came back unreadable may have
    # been billed; its worst case stays counted (`possibly_billed_usd`) and its retry reserves
    # anew. `flag` says why a figure was not taken as given (usage missing or absurd).
    db.execute("ALTER TABLE attempts ADD COLUMN possibly_billed_usd TEXT")
    db.execute("ALTER TABLE attempts ADD COLUMN flag TEXT")


@migration
def m006_prompt_cache(db: sqlite3.Connection) -> None:
    # prompt caching: the tokens an answer wrote to the provider's cache (billed dearer than
    # input; reads are cached_input_tokens), and what the same answer would have cost online
    # with no cache, so that the report can say what caching saved. NULL: the answer's cost.
    db.execute("ALTER TABLE items ADD COLUMN cache_write_tokens INTEGER")
    db.execute("ALTER TABLE items ADD COLUMN full_price_usd TEXT")


@migration
def m007_rounds(db: sqlite3.Connection) -> None:
    # active distillation (synth.journal.rounds): each round's state and figures, the pool
    # items it sent with the score that picked them, and the test split fixed by round 1 (as
    # the 64-bit hash of each test row's input, the builder's own row identity)
    db.execute(
        """
        CREATE TABLE rounds (
            round INTEGER PRIMARY KEY,         -- 1, 2, ...
            state TEXT NOT NULL,               -- selected | training | trained | done
            select_mode TEXT NOT NULL,         -- random (round 1, or select: random) | uncertainty
            scored_by TEXT,                    -- the student folder that scored the pool
            selected_at REAL NOT NULL,
            finished_at REAL,
            metrics TEXT                       -- JSON: spend, rows, agreement, accuracy
        )
        """
    )
    db.execute(
        """
        CREATE TABLE round_items (
            pool_line INTEGER PRIMARY KEY,     -- 1-based line of the pool file: sent once only
            round INTEGER NOT NULL,
            score REAL                         -- the student's certainty; NULL for random picks
        )
        """
    )
    db.execute("CREATE INDEX round_items_round ON round_items(round, pool_line)")
    db.execute("CREATE TABLE round_test (input_hash INTEGER PRIMARY KEY) WITHOUT ROWID")


@migration
def m008_batches(db: sqlite3.Connection) -> None:
    # teacher.mode: batch. A batch the provider accepted is recorded with the items it holds
    # (state 'batched', their batch_id; the provider's custom_id is the item's key) and its
    # worst case, which stays committed in the budget until its results are collected.
    db.executescript(
        """
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,               -- the provider's batch id
            provider TEXT NOT NULL,
            state TEXT NOT NULL,               -- open | collected
            items INTEGER NOT NULL,
            reserved_usd TEXT NOT NULL,        -- worst case of its items, held while open
            cost_usd TEXT,                     -- what its answers cost, once collected
            status TEXT,                       -- the provider's last word: completed, expired, ...
            run_id INTEGER,
            created_at REAL NOT NULL,
            ended_at REAL
        );
        ALTER TABLE items ADD COLUMN batch_id TEXT;
        ALTER TABLE items ADD COLUMN mode TEXT;             -- NULL: online | batch
        ALTER TABLE items ADD COLUMN online_cost_usd TEXT;  -- a batch answer's online price
        CREATE INDEX items_batch ON items(batch_id);
        """
    )


def migrate(db: sqlite3.Connection) -> list[str]:
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        with db:
            fn(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, time.time()),
            )
        applied.append(fn.__name__)
    return applied
