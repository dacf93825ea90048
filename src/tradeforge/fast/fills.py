"""Fill, fee and sizing rules as scalar numba functions: the event engine's rules (core/fills.py, core/fees.py,
the sizing in core/execution.py), written with the same floating-point operations in the same order so the
kernel's prices, fees and sizes are the engine's to the last bit.

side is +1 (buy) or -1 (sell); a price of NaN means "does not trade in this bar".
"""

from __future__ import annotations

import math

from numba import njit

NO_LEG = 0
LEG_STOP_LOSS = 1
LEG_TAKE_PROFIT = 2


@njit(cache=True)
def stop_touch_nb(side: int, stop: float, o: float, h: float, lo: float) -> float:
    """Where a stop order of this side triggers in the bar (the open when the bar gaps through it), or NaN."""
    if side > 0:
        if o >= stop:
            return o
        return stop if h >= stop else math.nan
    if o <= stop:
        return o
    return stop if lo <= stop else math.nan


@njit(cache=True)
def limit_touch_nb(side: int, limit: float, o: float, h: float, lo: float) -> float:
    """Where a limit order of this side fills in the bar (the open when the bar gaps through it), or NaN."""
    if side > 0:
        if o <= limit:
            return o
        return limit if lo <= limit else math.nan
    if o >= limit:
        return o
    return limit if h >= limit else math.nan


@njit(cache=True)
def bracket_hit_nb(side: int, sl: float, tp: float, o: float, h: float, lo: float) -> tuple[float, int]:
    """The leg of a stop-loss / take-profit pair (exit orders of this side; NaN = no such leg) that trades in
    the bar, and where: a gap at the open is known first; when both are touched inside the bar the stop-loss is
    assumed first (pessimistic). Returns (NaN, NO_LEG) when neither trades."""
    sl_hit = math.nan if not sl > 0.0 else stop_touch_nb(side, sl, o, h, lo)
    tp_hit = math.nan if not tp > 0.0 else limit_touch_nb(side, tp, o, h, lo)
    if not math.isnan(tp_hit) and (math.isnan(sl_hit) or (tp_hit == o and sl_hit != o)):
        return tp_hit, LEG_TAKE_PROFIT
    if not math.isnan(sl_hit):
        return sl_hit, LEG_STOP_LOSS
    return math.nan, NO_LEG


@njit(cache=True)
def fill_price_nb(side: int, price: float, lo: float, h: float, slippage: float, taker: bool) -> float:
    """Move a taker fill against the trader by the slippage fraction; never outside the bar's range."""
    if taker and slippage != 0.0:
        moved = price * (1.0 + slippage) if side > 0 else price * (1.0 - slippage)
        price = min(max(moved, lo), h)
    if price < lo:
        return lo
    if price > h:
        return h
    return price


@njit(cache=True)
def fee_nb(qty: float, price: float, multiplier: float, rate: float, fixed: float) -> float:
    """Fixed part plus rate of the traded value (PercentFee.fee on the contract value)."""
    return fixed + abs(qty) * (price * multiplier) * rate


@njit(cache=True)
def round_lots_nb(qty: float, lot: float) -> float:
    """Largest multiple of lot not above |qty| (Instrument.round_qty_down); lot 0 keeps fractions as they are."""
    if lot <= 0.0:
        return abs(qty)
    if lot == 1.0:  # x / 1.0 and x * 1.0 are exact: the same result without two slow divisions
        steps = math.floor(abs(qty) + 1e-9)
        return steps * 1.0 if steps else 0.0
    steps = math.floor(abs(qty) / lot + 1e-9)
    return steps * lot if steps else 0.0


@njit(cache=True)
def affordable_nb(
    available: float, fraction: float, price: float, multiplier: float, rate: float, fixed: float, lot: float
) -> float:
    """Units a fraction of the available margin buys at price, fees included (Execution.affordable_qty)."""
    budget = available * 1.0 * fraction - fixed
    unit_cost = price * multiplier + price * multiplier * rate
    if budget <= 0 or unit_cost <= 0:
        return 0.0
    if lot <= 0.0:
        return budget / unit_cost
    if lot == 1.0:
        return round_lots_nb(math.floor(budget / unit_cost + 1e-9) * 1.0, lot)
    return round_lots_nb(math.floor(budget / unit_cost / lot + 1e-9) * lot, lot)


@njit(cache=True)
def margin_ok_nb(qty: float, price: float, multiplier: float, fee: float, available: float) -> bool:
    """Whether a flat account with this available margin can open qty at price (Execution.margin_shortfall)."""
    need = qty * price * multiplier / 1.0 + fee
    return not need > available * (1 + 1e-9)


@njit(cache=True)
def trailing_level_nb(exit_side: int, extreme: float, fraction: float) -> float:
    """Trigger level of a trailing stop of exit_side, `fraction` away from the extreme seen so far."""
    distance = extreme * fraction
    return extreme - distance if exit_side < 0 else extreme + distance
