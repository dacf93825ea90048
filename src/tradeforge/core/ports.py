"""Protocols the edge implements. The engine talks only to these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tradeforge.core.orders import Order
from tradeforge.core.series import Stream

if TYPE_CHECKING:
    from tradeforge.core.engine import Engine


class ExecutionGateway(Protocol):
    """Where orders go. A simulated broker matches them against bars; a venue gateway sends them out.

    `working` holds orders the gateway needs bars for (a venue gateway leaves it empty): the engine only
    calls on_bar/after_bar while it is non-empty, so a quiet strategy costs nothing per bar. The list must be
    changed in place (append/remove), never replaced: the engine keeps a reference to it.
    """

    working: list[Order]

    def bind(self, engine: Engine) -> None: ...

    def submit(self, order: Order) -> None: ...

    def cancel(self, order: Order, reason: str) -> None: ...

    def on_bar(self, stream: Stream, i: int) -> None:
        """Bar i of stream has arrived (not yet revealed to strategies): match working orders against it."""
        ...

    def after_bar(self, stream: Stream, i: int) -> None:
        """Bar i has been processed by every strategy: update trailing stops and the like."""
        ...


class Clock(Protocol):
    def now(self) -> int:
        """Current time, int ns UTC."""
        ...
