"""The budget as a guarantee: money is reserved before a request leaves and settled after.

A request reserves its worst case (an upper bound of its prompt tokens at the uncached input
price, plus max_tokens at the output price). It is sent only if every settled cost plus every
outstanding reservation stays within the limit, so the teacher's bill cannot cross it however
many requests are in flight. When a reservation does not fit, it waits for in-flight requests
to settle (their actual cost is usually far below their worst case) and gives up only when
nothing is left in flight.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal


class Budget:
    def __init__(self, limit_usd: Decimal | None, spent_usd: Decimal = Decimal(0)) -> None:
        self.limit = limit_usd
        self.spent = spent_usd  # settled costs (this run and earlier ones) + orphaned reservations
        self.reserved = Decimal(0)
        self._changed = asyncio.Condition()

    @property
    def committed(self) -> Decimal:
        return self.spent + self.reserved

    def fits(self, amount: Decimal) -> bool:
        return self.limit is None or self.committed + amount <= self.limit

    async def reserve(self, amount: Decimal) -> bool:
        """Hold `amount`; False when it can never fit (nothing in flight left to settle)."""
        async with self._changed:
            while not self.fits(amount):
                if self.reserved == 0:
                    return False
                await self._changed.wait()
            self.reserved += amount
            return True

    async def settle(self, reserved: Decimal, actual: Decimal) -> None:
        async with self._changed:
            self.reserved -= reserved
            self.spent += actual
            self._changed.notify_all()

    async def release(self, reserved: Decimal) -> None:
        await self.settle(reserved, Decimal(0))
