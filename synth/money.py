"""Dollars are `Decimal` everywhere; this is where they are rounded, to the billionth of a
dollar (finer than any per-token price), and turned into floats for JSON and reports."""

from __future__ import annotations

from decimal import Decimal

NANO_USD = Decimal("0.000000001")


def round_usd(d: Decimal) -> Decimal:
    return d.quantize(NANO_USD)


def usd_float(d: Decimal) -> float:
    return float(round_usd(d))
