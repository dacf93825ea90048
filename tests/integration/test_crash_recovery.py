"""Crash test: a `tradeforge paper` process trading SmaCross(3, 8) on BTC/USDT 1m from the local exchange simulator
is SIGKILLed at seeded moments (random times, including start-up and replay; right after an order is stored and
before the paper gateway takes it; after the broker filled an order and before the fill is recorded) and resumed by
name, 20 times. After each kill the database must be a prefix of an uninterrupted backtest on the same bars; in the
end its orders, fills, trades, cash and position must be the backtest's, no client order id used twice, and every
killed run marked crashed then continued. Paper orders never reach the simulator's order endpoints (the paper
gateway is the simulated broker fed live bars), so the paper account is "the exchange" here. Harness:
crash_harness.py; 100 cycles: benchmarks/soak.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ccxt")

from crash_harness import START, CrashCycles

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


def test_sigkill_at_seeded_moments_loses_and_duplicates_nothing(db: ScratchDatabase, tmp_path: Path) -> None:
    # on a failure the message says which cycle (seed, plan, kill moment), the database state and the paper
    # process's stderr (and the previous one's); TF_CRASH_VERBOSE=1 prints a line per cycle
    t0 = time.monotonic()
    with ExchangeSimulator(load_sample("BTC-PERP"), start=START, push_interval=0.1) as sim:
        cycles = CrashCycles(sim, db.url.render_as_string(hide_password=False), tmp_path, seed=20261121)
        try:
            for i in range(CYCLES):
                cycles.cycle(i)
                assert not cycles.problems, "\n".join(cycles.problems)
            final = cycles.finish()
        finally:
            cycles.close()
    summary = cycles.summary()
    print(f"\ncrash test: {summary} final {final} in {time.monotonic() - t0:.1f}s")
    landed = summary["landed"]
    hits = summary["hits"]
    where = f"seed {cycles.seed}: {summary}; cycles {cycles.reports}; final {final}"
    assert hits["stored_not_sent"] >= 2 and hits["fill_not_recorded"] >= 2, where
    assert final["trades"] >= 5, where
    assert final["runs"] == CYCLES + 1 - landed.get("startup: before its run was stored", 0), where
