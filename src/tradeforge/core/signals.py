"""Signals: a strategy's stated intent to enter or exit, with the model prediction that accepted or rejected it.

A strategy calls ``self.signal(...)`` when it decides (or a filter decides for it); orders it places for the same
symbol in the same bar carry the signal's id, and so do the trades they open. A live or paper run stores signals,
their predictions and these links, so `tradeforge trades` can say why each trade was taken. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tradeforge.core.types import Side


@dataclass(slots=True)
class Signal:
    """valid_until: end of the window in which the intent holds (int ns, exclusive). accepted: True (acted upon),
    False (vetoed, e.g. by a model) or None (no decision recorded). model/value/threshold/label: the prediction that
    decided it, when a model did."""

    id: int
    strategy: str
    symbol: str
    side: Side
    ts: int
    valid_until: int
    kind: str = "entry"  # entry | exit
    price: float | None = None
    strength: float | None = None
    accepted: bool | None = True
    reason: str = ""
    model: str = ""
    value: float | None = None
    threshold: float | None = None
    label: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def has_prediction(self) -> bool:
        return bool(self.model) and self.value is not None
