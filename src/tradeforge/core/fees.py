"""Fee models: percent of value, fixed per order, maker/taker, or any callable. All pure."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tradeforge.core.errors import ConfigError
from tradeforge.core.types import Liquidity


class FeeModel(Protocol):
    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        """Fee in the quote currency for trading |qty| units at price (qty > 0). For contracts with a
        multiplier, price is the value of one contract (price x multiplier)."""
        ...

    def unit_rate(self, liquidity: Liquidity) -> float:
        """Proportional part of the fee (used to size orders that spend a budget)."""
        ...

    def fixed(self) -> float:
        """Fixed part of the fee per order."""
        ...


@dataclass(frozen=True, slots=True)
class PercentFee:
    """rate of traded value per fill (0.002 = 0.2%). Negative rates are rebates, bounded at -10%."""

    rate: float = 0.0
    fixed_fee: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and -0.1 <= self.rate < 0.1):
            raise ConfigError(
                f"commission rate {self.rate!r} is outside [-0.1, 0.1): pass a fraction, e.g. 0.002 for 0.2%"
            )
        if not (math.isfinite(self.fixed_fee) and self.fixed_fee >= 0):
            raise ConfigError(f"fixed commission {self.fixed_fee!r} must be a non-negative amount per order")

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        return self.fixed_fee + abs(qty) * price * self.rate

    def unit_rate(self, liquidity: Liquidity) -> float:
        return self.rate

    def fixed(self) -> float:
        return self.fixed_fee


@dataclass(frozen=True, slots=True)
class MakerTakerFee:
    """Different rates for resting (limit) and aggressive (market/stop) fills."""

    maker: float = 0.0
    taker: float = 0.0
    fixed_fee: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("maker", self.maker), ("taker", self.taker)):
            if not (math.isfinite(value) and -0.1 <= value < 0.1):
                raise ConfigError(f"{name} fee rate {value!r} is outside [-0.1, 0.1): pass a fraction")
        if not (math.isfinite(self.fixed_fee) and self.fixed_fee >= 0):
            raise ConfigError(f"fixed commission {self.fixed_fee!r} must be a non-negative amount per order")

    def unit_rate(self, liquidity: Liquidity) -> float:
        return self.maker if liquidity is Liquidity.MAKER else self.taker

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        return self.fixed_fee + abs(qty) * price * self.unit_rate(liquidity)

    def fixed(self) -> float:
        return self.fixed_fee


@dataclass(frozen=True, slots=True)
class CallableFee:
    """func(qty, price) -> fee. Sizing assumes it grows no faster than `rate_hint` of value plus `fixed_hint`."""

    func: Callable[[float, float], float]
    rate_hint: float = 0.0
    fixed_hint: float = 0.0

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        value = float(self.func(abs(qty), price))
        if not math.isfinite(value):
            raise ConfigError(f"the commission function returned {value!r} for qty={qty}, price={price}")
        return value

    def unit_rate(self, liquidity: Liquidity) -> float:
        return self.rate_hint

    def fixed(self) -> float:
        return self.fixed_hint


def make_fee_model(commission: object) -> FeeModel:
    """float -> PercentFee; (fixed, rate) -> PercentFee with fixed part; a FeeModel as is; a callable wrapped."""
    if isinstance(commission, (PercentFee, MakerTakerFee, CallableFee)):
        return commission
    if all(callable(getattr(commission, name, None)) for name in ("fee", "unit_rate", "fixed")):
        return commission  # type: ignore[return-value]  # any object with the FeeModel methods
    if isinstance(commission, bool):
        raise ConfigError("commission must be a number, a (fixed, rate) pair, a fee model or a callable")
    if isinstance(commission, (int, float)):
        return PercentFee(float(commission))
    if isinstance(commission, tuple) and len(commission) == 2:
        fixed, rate = commission
        return PercentFee(float(rate), float(fixed))
    if callable(commission):
        return CallableFee(commission)
    raise ConfigError(
        f"cannot use commission={commission!r}: pass a rate such as 0.002, a (fixed, rate) pair, "
        "PercentFee/MakerTakerFee(...) or a function (qty, price) -> fee"
    )
