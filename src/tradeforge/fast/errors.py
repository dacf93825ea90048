"""Errors of the fast path. tradeforge.fast imports nothing else of tradeforge, so these stand alone; each
message says what was wrong and how to fix it."""

from __future__ import annotations


class FastInputError(ValueError):
    """An argument to a tradeforge.fast function has a bad value or shape."""


class FastTypeError(FastInputError, TypeError):
    """An argument to a tradeforge.fast function has the wrong type (e.g. float signals instead of booleans)."""
