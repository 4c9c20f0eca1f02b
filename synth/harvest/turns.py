"""Admission in turns: one waiter at a time at the head of a lane's queue, retries first.

A retry has already waited its pause (a retry-after, a backoff); sending it behind every
first attempt queued meanwhile would add a whole queue's wait to each link of an unlucky
item's chain, and those chains are what a run's last seconds wait for. So a retry is served
before the first attempts, and within each kind, in the order they came.

    async with turns.turn(retry=attempt > 1):
        ...  # wait for the pacing, then take the slot
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # (kind, order, waiter)
        self._order = itertools.count()

    @asynccontextmanager
    async def turn(self, retry: bool = False) -> AsyncIterator[None]:
        if self._busy or self._waiting:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (0 if retry else 1, next(self._order), waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._next()  # handed the turn as it was cancelled: pass it on
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        """Hand the turn to the first waiter still waiting (cancelled ones are skipped)."""
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._busy = False
