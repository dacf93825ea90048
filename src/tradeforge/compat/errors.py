"""Errors of the compatibility layer: tradeforge errors that are also the built-in types Backtesting.py raises,
so code that catches ValueError / TypeError / AttributeError keeps working."""

from __future__ import annotations

from tradeforge.core.errors import ConfigError


class CompatValueError(ConfigError, ValueError):
    """A bad value (size, price, portion, data)."""


class CompatAssertionError(CompatValueError, AssertionError):
    """A bad value that Backtesting.py checks with ``assert`` (order size, portion, sl/tp price, cash, margin,
    commission): an AssertionError too, so ``except AssertionError`` around buy()/sell() keeps working."""


class CompatTypeError(ConfigError, TypeError):
    """An argument of the wrong type."""


class UnknownParameterError(ConfigError, AttributeError):
    """run()/optimize() named a parameter the strategy does not declare."""


class CompatRuntimeError(ConfigError, RuntimeError):
    """Something that cannot be done in this state (an indicator function failed; plot() before run())."""
