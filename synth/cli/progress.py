"""The one place that draws progress: a live line per stage, fed by the engine's stats.

The engine only updates a stats object; this module reads it a few times a second (rich's
refresh thread), so a slow terminal never slows the harvest.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from synth.harvest.engine import HarvestStats


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _tokens(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K" if n >= 1e3 else str(n)


class HarvestView:
    """Renders HarvestStats: a bar, counts, rate, tokens, dollars against the budget, ETA."""

    def __init__(self, stats: HarvestStats) -> None:
        self.stats = stats

    def __rich__(self) -> Group:
        s = self.stats
        elapsed = max(time.monotonic() - s.started, 1e-6)
        finished = s.done + s.failed
        rate = finished / elapsed
        eta = s.remaining / rate if rate > 0 else None
        bar = ProgressBar(total=max(s.total, 1), completed=s.already_done + finished, width=40)
        head = Table.grid(padding=(0, 1))
        head.add_row(
            Text("harvest", style="bold"),
            bar,
            Text(f"{s.already_done + finished}/{s.total}"),
            Text(f"ETA {_eta(eta)}", style="cyan"),
        )
        spent = s.prior_spent_usd + s.spent_usd
        budget = f" / ${s.budget_usd:,.2f}" if s.budget_usd is not None else ""
        line = Text.assemble(
            ("done ", "dim"),
            (f"{s.done}", "green"),
            ("  failed ", "dim"),
            (f"{s.failed}", "red" if s.failed else ""),
            ("  in flight ", "dim"),
            f"{s.in_flight}",
            ("  ", ""),
            f"{rate:.1f} req/s",
            ("  tokens ", "dim"),
            f"{_tokens(s.input_tokens)} in / {_tokens(s.output_tokens)} out",
            ("  retries ", "dim"),
            f"{s.retries} ({s.rate_limited} × 429)",
            ("  $", "dim"),
            (f"{spent:,.4f}{budget}", "yellow"),
        )
        if s.batches:  # batch mode: the batches and their items per state
            return Group(head, line, Text(s.batches, style="dim"))
        return Group(head, line)


def plain_line(s: HarvestStats, now: float | None = None) -> str:
    """One line of progress for a log file or a pipe (no terminal to redraw)."""
    now = time.monotonic() if now is None else now
    elapsed = max(now - s.started, 1e-6)
    finished = s.done + s.failed
    rate = finished / elapsed
    eta = s.remaining / rate if rate > 0 else None
    spent = s.prior_spent_usd + s.spent_usd
    budget = f" / ${s.budget_usd:,.2f}" if s.budget_usd is not None else ""
    line = (
        f"harvest {s.already_done + finished}/{s.total}: done {s.done}, failed {s.failed}, "
        f"in flight {s.in_flight}, {rate:.1f} req/s, retries {s.retries} "
        f"({s.rate_limited} x 429), ${spent:,.4f}{budget}, ETA {_eta(eta)}"
    )
    paused = s.paused_for_s()
    if paused >= 1.0:
        line += f"; waiting {paused:.0f} s for the rate limit"
    return line


#: seconds between plain progress lines when stderr is not a terminal
PLAIN_EVERY_S = float(os.environ.get("DISTILL_PROGRESS_EVERY_S", "10"))


@contextmanager
def harvest_progress(stats: HarvestStats, console: Console | None = None) -> Iterator[None]:
    console = console or Console(stderr=True)
    if console.is_terminal:
        with Live(HarvestView(stats), console=console, refresh_per_second=4, transient=False):
            yield
        return
    # a log file or a pipe: a plain line every PLAIN_EVERY_S seconds, and one at the end
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(PLAIN_EVERY_S):
            console.print(plain_line(stats), highlight=False, soft_wrap=True)

    ticker = threading.Thread(target=tick, name="distill-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        console.print(plain_line(stats), highlight=False, soft_wrap=True)


@contextmanager
def step_progress(label: str, console: Console | None = None) -> Iterator[Callable[..., None]]:
    """A bar for training and evaluation. Yields a callback taking either the trainer's event
    dicts ({"event": "step", "step": n, "total_steps": N, "loss": ...}) or (done, total)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(bar_width=40),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    # the bar appears with the first event, so that a user's mistake caught before any work
    # starts (no dataset yet, a bad student section) prints its one line and nothing else
    bar = Progress(*columns, console=console, refresh_per_second=4)
    task = bar.add_task(label, total=None, info="")
    info: dict[str, str] = {}

    def update(event: dict[str, Any] | int, total: int | None = None) -> None:
        if not bar.live.is_started:
            bar.start()
        if isinstance(event, int):
            bar.update(task, completed=event, total=total)
            return
        if event.get("total_steps"):
            bar.update(task, total=event["total_steps"])
        if "loss" in event:
            info["loss"] = f"loss {event['loss']:.3f}"
        if "eval_loss" in event:
            info["eval"] = f"val loss {event['eval_loss']:.3f}"
        bar.update(task, completed=event.get("step", 0), info="  ".join(info.values()))

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()
