"""Crash test of live trading: a `tradeforge live` bot sending real orders (ccxt's binance client) to the local
exchange simulator is SIGKILLed at seeded moments (random times, start-up and replay included; right after an order
is stored and before it is sent; right after the exchange accepted it and before its answer is stored; right after
an exchange fill is booked and before it is stored) and restarted, 20 times; bars close and orders fill while it is
down. In the end every order on the exchange is in the database and vice versa, no client order id is used twice,
no fill is lost, and the account's balances are the baseline plus the stored fills. Harness: live_crash_harness.py;
100 cycles: benchmarks/soak.py --live."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ccxt")

from live_crash_harness import BALANCES, LiveCrashCycles

from tradeforge.data import load_sample
from tradeforge.live.simulator import ExchangeSimulator
from tradeforge.persistence.testing import ScratchDatabase, available_backends, scratch_database

CYCLES = 20


# One backend per crash test (PostgreSQL when TRADEFORGE_TEST_DATABASE_URL is set, as in CI; else SQLite): the
# store's behaviour on both is covered by the persistence tests, and the 100-cycle soak runs on SQLite by default.
@pytest.fixture(params=available_backends()[-1:])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    with scratch_database(request.param, tmp_path) as scratch:
        yield scratch


def test_a_live_bot_killed_at_seeded_moments_loses_and_duplicates_nothing(db: ScratchDatabase, tmp_path: Path) -> None:
    t0 = time.monotonic()
    with ExchangeSimulator(load_sample("BTC-PERP"), start=1000, balances=BALANCES, push_interval=0.1) as sim:
        cycles = LiveCrashCycles(sim, db.url.render_as_string(hide_password=False), tmp_path, seed=20261121)
        for i in range(CYCLES):
            cycles.cycle(i)
        cycles.finish()
        final = cycles.final_check()
    print(f"\nlive crash test: {final} in {time.monotonic() - t0:.1f}s")
    assert not final["problems"], final["problems"]
    assert final["fills"] >= 5 and final["orders_on_exchange"] >= 5 and final["never_sent"] >= 2, final
    kills = final["self_kills"]
    assert kills.get("stored_not_sent", 0) >= 2 and kills.get("fill_not_recorded", 0) >= 2, final
    assert kills.get("sent_not_recorded", 0) >= 2, final
