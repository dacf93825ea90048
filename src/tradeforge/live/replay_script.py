"""What earlier runs of a live deployment stored about its orders, as the scripts its replay plays back.

A resumed live run replays its bars through a new engine; each order the strategy places again is matched with the
order an earlier run stored (its ``OrderScript``): its stored status changes and fills are applied at the steps they
were booked at, nothing is sent. A cancel the bot asked for within a step is applied where the replay asks for it
again (``asked_for``), so a strategy that looks at its open orders sees what it saw the first time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tradeforge.core.types import OrderStatus
from tradeforge.persistence import FillRecord, OrderRecord, StatusChange

# reasons of CANCELLED changes the exchange caused (not a cancel the bot asked for): replayed with the step's bars
_EXCHANGE_SIDE = (" on the exchange", "closed on the exchange with", "nothing left to reduce")


def asked_for(change: StatusChange) -> bool:
    """A stored cancel the bot asked for (the gateway's cancel()), as opposed to one the exchange made."""
    reason = change.reason or ""
    return change.status is OrderStatus.CANCELLED and not (
        reason.endswith(_EXCHANGE_SIDE[0]) or reason.startswith(_EXCHANGE_SIDE[1:])
    )


@dataclass
class OrderScript:
    """What earlier runs stored about one order: its record, its status changes after SUBMITTED, its fills."""

    record: OrderRecord
    changes: list[StatusChange]
    fills: list[FillRecord]
    pos: int = 0  # changes applied
    fills_used: int = 0
    created: dict[str, Any] = field(default_factory=dict)  # what the gateway noted when it stored the order


def gross_filled(fill: FillRecord) -> float:
    raw = fill.raw if isinstance(fill.raw, dict) else {}
    gross = raw.get("gross")
    return float(gross) if isinstance(gross, (int, float)) else fill.qty


def load_scripts(uow: Any, prior_orders: dict[int, OrderRecord]) -> dict[int, OrderScript]:
    """The replay scripts of the orders earlier runs stored (by engine id), from the database."""
    scripts = {}
    for local_id, rec in prior_orders.items():
        history = uow.orders.history(rec.client_order_id)
        changes = [c for c in history if c.seq > 0]
        created = next((c.raw for c in history if c.seq == 0 and isinstance(c.raw, dict)), {})
        scripts[local_id] = OrderScript(rec, changes, uow.orders.fills(rec.client_order_id), created=dict(created))
    return scripts
