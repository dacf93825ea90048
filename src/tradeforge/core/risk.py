"""Pre-trade risk checks: approve an order or deny it with a reason. And the kill switch state."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from tradeforge.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """None disables a limit. Values are in the quote currency unless the name says qty.

    max_position_qty / max_position_value: per symbol and strategy, after the order would fill;
    max_gross_exposure: sum of |position value| over the whole account after the order;
    max_order_value / max_order_qty: per order; check_margin: refuse orders the account cannot pay for.
    """

    max_position_qty: float | None = None
    max_position_value: float | None = None
    max_gross_exposure: float | None = None
    max_order_value: float | None = None
    max_order_qty: float | None = None
    check_margin: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "check_margin":
                continue
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"risk limit {f.name} must be a positive number or None, got {value!r}")


@dataclass(slots=True)
class RiskCheckInput:
    """What a check needs to know about an order, resolved by the engine (qty estimated for fraction orders)."""

    symbol: str
    signed_qty: float
    price: float
    multiplier: float
    position_qty: float  # the strategy's current position in the symbol
    gross_exposure: float  # account gross exposure now
    account_position_qty: float  # the account's net position in the symbol
    reduces: bool  # the order only reduces an existing position


class RiskEngine:
    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self.halted = False
        self.halt_reason = ""
        lim = self.limits
        self.has_limits = any(
            v is not None
            for v in (
                lim.max_position_qty,
                lim.max_position_value,
                lim.max_gross_exposure,
                lim.max_order_value,
                lim.max_order_qty,
            )
        )

    @property
    def active(self) -> bool:
        """Whether check() can deny anything (no limits and no halt: every order passes)."""
        return self.has_limits or self.halted

    def halt(self, reason: str) -> None:
        self.halted = True
        self.halt_reason = reason

    def check(self, c: RiskCheckInput) -> str | None:
        """None when the order may go on, else the reason it is denied."""
        lim = self.limits
        if self.halted and not c.reduces:
            return f"kill switch engaged ({self.halt_reason}): only orders that reduce a position are accepted"
        if c.reduces:  # reducing risk is always allowed, whatever its size (closes, stops, the kill switch)
            return None
        qty = abs(c.signed_qty)
        value = qty * c.price * c.multiplier
        if lim.max_order_qty is not None and qty > lim.max_order_qty:
            return f"order quantity {qty:g} exceeds max_order_qty {lim.max_order_qty:g}"
        if lim.max_order_value is not None and value > lim.max_order_value:
            return f"order value {value:,.2f} exceeds max_order_value {lim.max_order_value:,.2f}"
        after = c.position_qty + c.signed_qty
        if lim.max_position_qty is not None and abs(after) > lim.max_position_qty:
            return f"position in {c.symbol} would be {after:g}, beyond max_position_qty {lim.max_position_qty:g}"
        after_value = abs(after) * c.price * c.multiplier
        if lim.max_position_value is not None and after_value > lim.max_position_value:
            return (
                f"position value in {c.symbol} would be {after_value:,.2f}, beyond max_position_value "
                f"{lim.max_position_value:,.2f}"
            )
        if lim.max_gross_exposure is not None:
            before = abs(c.account_position_qty) * c.price * c.multiplier
            after_acct = abs(c.account_position_qty + c.signed_qty) * c.price * c.multiplier
            gross = c.gross_exposure - before + after_acct
            if gross > lim.max_gross_exposure:
                return f"gross exposure would be {gross:,.2f}, beyond max_gross_exposure {lim.max_gross_exposure:,.2f}"
        return None
