"""A lane's queue: one at the head at a time, retries first, and no waiter left stranded by
another's cancellation."""

from __future__ import annotations

import asyncio

from synth.harvest.turns import Turns


def test_retries_go_first_then_arrival_order_and_a_cancelled_waiter_is_skipped() -> None:
    turns = Turns()
    order: list[str] = []

    async def one(name: str, retry: bool = False) -> None:
        async with turns.turn(retry):
            order.append(name)

    async def main() -> None:
        async with turns.turn():  # the head of the queue, while the others line up
            tasks = [asyncio.ensure_future(one("a")), asyncio.ensure_future(one("b"))]
            gone = asyncio.ensure_future(one("gone", retry=True))
            tasks.append(asyncio.ensure_future(one("r", retry=True)))
            await asyncio.sleep(0)  # all four queued
            gone.cancel()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    asyncio.run(asyncio.wait_for(main(), 5))
    assert order == ["r", "a", "b"]


def test_a_waiter_cancelled_as_it_is_handed_the_turn_passes_it_on() -> None:
    turns = Turns()
    got: list[str] = []

    async def wait(name: str) -> None:
        async with turns.turn():
            got.append(name)

    async def main() -> None:
        async with turns.turn():
            first = asyncio.ensure_future(wait("first"))
            second = asyncio.ensure_future(wait("second"))
            await asyncio.sleep(0)  # both queued
        # leaving the block handed the turn to `first`, which has not run yet
        first.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        async with turns.turn():  # and the queue is free again
            got.append("after")

    asyncio.run(asyncio.wait_for(main(), 5))
    assert got == ["second", "after"]
