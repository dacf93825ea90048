"""One small hierarchy of errors. Every message says what was wrong and how to fix it."""

from __future__ import annotations


class TradeforgeError(Exception):
    """Base class of every error tradeforge raises on purpose."""


class ConfigError(TradeforgeError):
    """A configuration, parameter or argument is invalid."""


class DataError(TradeforgeError):
    """Market data is malformed (unsorted, duplicated, NaN, high < low, ...)."""


class OrderRejected(TradeforgeError):
    """An order was refused by a risk check or the broker. Carries the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IllegalTransition(TradeforgeError):
    """An order was asked to move to a status its current status cannot reach."""


class LookAheadError(TradeforgeError):
    """An indicator or feature used data from after the bar it was computed for."""


class LookAheadWarning(UserWarning):
    """An indicator uses data from after its bar; the strategy is shown what was known at each bar instead.

    Make it an error with ``warnings.simplefilter("error", LookAheadWarning)``.
    """


class StrategyError(TradeforgeError):
    """A strategy callback raised. Names the strategy, the bar time and the original exception."""

    def __init__(self, strategy: str, callback: str, when: str, original: BaseException) -> None:
        super().__init__(
            f"strategy {strategy!r} raised in {callback} at bar {when}: {type(original).__name__}: {original}"
        )
        self.strategy = strategy
        self.callback = callback
        self.when = when
        self.original = original


class GatewayError(TradeforgeError):
    """An execution venue failed or answered something unexpected."""
