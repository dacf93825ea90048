"""The fill model: where an order would trade inside a bar. Pure functions of (order, bar) -> price.

Rules (no optimism):
- market orders fill at the open of the first bar after they were placed (or at the close of the bar they
  were placed on when FillTiming.CLOSE is chosen);
- limit orders fill at the open when the bar gaps through the limit, else at the limit when the bar's range
  touches it; stop orders likewise trigger at the open on a gap, else at the stop price;
- a stop-limit triggers like a stop and then works as a limit: it fills on the trigger bar only when the trigger
  price already satisfies the limit, otherwise from the next bar on;
- a trailing stop's level comes from extremes of *earlier* bars, so a bar never moves its own stop;
- slippage and half the spread move taker fills against the trader; no fill lies outside the bar's range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradeforge.core.errors import ConfigError
from tradeforge.core.orders import Order
from tradeforge.core.types import FillTiming, Liquidity, OrderType, Side


@dataclass(frozen=True, slots=True)
class FillModel:
    """timing: when market orders fill; slippage and spread are fractions of price (0.0005 = 5 bps).

    max_volume_fraction: cap each fill at this share of the bar's volume (partial fills); None = no cap.
    """

    timing: FillTiming = FillTiming.NEXT_OPEN
    slippage: float = 0.0
    spread: float = 0.0
    max_volume_fraction: float | None = None

    def __post_init__(self) -> None:
        for name in ("slippage", "spread"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value < 0.5):
                raise ConfigError(f"{name} must be a fraction of price in [0, 0.5), got {value!r}")
        mvf = self.max_volume_fraction
        if mvf is not None and not (math.isfinite(mvf) and 0.0 < mvf <= 1.0):
            raise ConfigError(f"max_volume_fraction must be in (0, 1] or None, got {mvf!r}")

    def taker_price(self, side: Side, price: float, low: float, high: float) -> float:
        """Move a taker fill against the trader by slippage + half spread, clamped to the bar's range."""
        adverse = self.slippage + self.spread / 2.0
        if adverse == 0.0:
            return price
        moved = price * (1.0 + adverse) if side is Side.BUY else price * (1.0 - adverse)
        return min(max(moved, low), high)


def trailing_level(order: Order) -> float:
    """Current trigger level of a trailing stop, from the best price seen on earlier bars."""
    extreme = order.trail_extreme
    if order.trail_amount is not None:
        distance = order.trail_amount
    else:
        distance = extreme * (order.trail_percent or 0.0)
    return extreme - distance if order.side is Side.SELL else extreme + distance


def stop_touch(side: Side, stop: float, o: float, h: float, low: float) -> float | None:
    """Price at which a stop of this side triggers in the bar, or None. Gaps fill at the open."""
    if side is Side.BUY:
        if o >= stop:
            return o
        return stop if h >= stop else None
    if o <= stop:
        return o
    return stop if low <= stop else None


def limit_touch(side: Side, limit: float, o: float, h: float, low: float) -> float | None:
    """Price at which a limit of this side fills in the bar, or None. Gaps through the limit fill at the open."""
    if side is Side.BUY:
        if o <= limit:
            return o
        return limit if low <= limit else None
    if o >= limit:
        return o
    return limit if h >= limit else None


def match_bar(order: Order, o: float, h: float, low: float) -> tuple[float, Liquidity] | None:
    """Where `order` trades in a bar that starts after it was placed, or None if it does not.

    For a stop-limit this may set order.triggered (it becomes a limit from then on).
    """
    kind = order.type
    side = order.side
    if kind is OrderType.MARKET:
        return o, Liquidity.TAKER
    if kind is OrderType.LIMIT:
        price = limit_touch(side, order.limit, o, h, low)  # type: ignore[arg-type]
        if price is None:
            return None
        return price, Liquidity.MAKER
    if kind is OrderType.STOP:
        price = stop_touch(side, order.stop, o, h, low)  # type: ignore[arg-type]
        return None if price is None else (price, Liquidity.TAKER)
    if kind is OrderType.TRAILING_STOP:
        price = stop_touch(side, trailing_level(order), o, h, low)
        return None if price is None else (price, Liquidity.TAKER)
    # STOP_LIMIT
    limit = order.limit
    if limit is None or order.stop is None:
        raise ConfigError(f"stop-limit order {order.id} needs both a stop and a limit price")
    if order.triggered:
        price = limit_touch(side, limit, o, h, low)
        return None if price is None else (price, Liquidity.MAKER)
    trigger = stop_touch(side, order.stop, o, h, low)
    if trigger is None:
        return None
    order.triggered = True
    if trigger == o:
        # triggered at the open: the whole bar comes after the trigger, so the limit works on it
        price = limit_touch(side, limit, o, h, low)
        return None if price is None else (price, Liquidity.MAKER)
    marketable = trigger <= limit if side is Side.BUY else trigger >= limit
    return (trigger, Liquidity.TAKER) if marketable else None


def update_trailing(order: Order, high: float, low: float) -> None:
    """After a bar closes, move the trailing stop's reference extreme (never against the trader)."""
    if order.side is Side.SELL:
        if not high <= order.trail_extreme:
            order.trail_extreme = high
    elif not low >= order.trail_extreme:
        order.trail_extreme = low
