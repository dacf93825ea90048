"""Garbage-collector hygiene for long batch jobs (a backtest makes many long-lived objects)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Keep the objects that exist before a batch run out of the garbage collector's full collections while it
    runs (gc.freeze), and give them back after (gc.unfreeze). A run makes many long-lived objects (orders, fills,
    trades); each full collection they trigger would otherwise walk every object of the process (pandas, numpy,
    the user's data) again. Nothing is leaked: garbage made before the run is collected after it. Skipped when
    objects are already frozen (by the caller, or an enclosing run) or the collector is disabled. Finding out
    whether objects are frozen walks every frozen object (milliseconds on a large heap), so a run nested in
    another one's freeze should skip this call rather than rely on that check."""
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
