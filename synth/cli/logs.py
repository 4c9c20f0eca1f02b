"""`distill logs`: what the teacher answered, read from the journal without SQL.

The last N items touched (newest last, as a terminal reads them), filtered by state or by a
text in the input or the answer; `--json` prints one object per line for jq or a script.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

from synth.config import RunConfig
from synth.errors import StageError
from synth.journal import queries
from synth.journal.store import Journal, JournalItem

STATES = ("done", "failed", "pending", "in_flight")


def read_logs(
    cfg: RunConfig, *, n: int = 10, state: str | None = None, grep: str | None = None
) -> list[JournalItem]:
    """The `n` items last updated, oldest first; the journal is opened read-only."""
    if not cfg.journal_path.exists():
        raise StageError(
            f"no harvest yet for run '{cfg.name}' ({cfg.journal_path}): run distill harvest first"
        )
    with Journal(cfg.journal_path, readonly=True) as j:
        items = queries.recent_items(j, max(n, 0), state=state, grep=grep)
    return items[::-1]


def item_json(it: JournalItem) -> dict[str, Any]:
    return {
        "key": it.key,
        "line": it.line,
        "sample": it.sample,
        "state": it.state,
        "provider": it.provider,
        "model": it.model,
        "input": it.input,
        "messages": it.messages,
        "answer": it.response_text,
        "finish_reason": it.finish_reason,
        "refusal": it.refusal,
        "error": it.last_error,
        "attempts": it.attempts,
        "input_tokens": it.input_tokens,
        "output_tokens": it.output_tokens,
        "cost_usd": str(it.cost_usd),
        "latency_s": it.latency_s,
        "updated_at": datetime.fromtimestamp(it.updated_at).astimezone().isoformat(),
    }


def print_logs(
    cfg: RunConfig,
    *,
    n: int,
    state: str | None,
    grep: str | None,
    as_json: bool,
    console: Console,
) -> None:
    items = read_logs(cfg, n=n, state=state, grep=grep)
    if as_json:
        for it in items:
            print(json.dumps(item_json(it), ensure_ascii=False))
        return
    if not items:
        console.print("no items match", style="dim")
        return
    for it in items:
        when = datetime.fromtimestamp(it.updated_at).strftime("%Y-%m-%d %H:%M:%S")
        head = (
            f"line {it.line}" + (f" sample {it.sample}" if it.sample else "") + f" · {it.state}"
            f" · {it.provider}/{it.model} · {when}"
        )
        if it.state == "done":
            head += f" · {it.input_tokens}+{it.output_tokens} tokens · ${it.cost_usd:.6f}"
        console.rule(escape(head), style="dim", align="left")
        console.print("[bold]input:[/] " + escape(json.dumps(it.input, ensure_ascii=False)))
        if it.state == "done":
            console.print("[bold]answer:[/] " + escape(it.response_text or ""))
            if it.finish_reason not in (None, "stop", "end_turn"):
                console.print(f"[yellow]finish reason:[/] {escape(it.finish_reason or '')}")
        elif it.last_error:
            console.print("[red]error:[/] " + escape(it.last_error))
