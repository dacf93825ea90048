"""Crash soak: a paper bot (SmaCross 3/8 on BTC/USDT 1m from the local exchange simulator) SIGKILLed at seeded
moments and resumed by name, 100 times by default; then the end state is checked against an uninterrupted backtest
of the same bars (orders, fills, trades, cash, position; no client order id twice; every killed run marked crashed).

Kill moments: random times (start-up and replay included), right after an order is stored and before the paper
gateway takes it (stored_not_sent), after the broker filled an order and before the fill is recorded
(fill_not_recorded); where each kill landed is judged from the database. Paper orders never reach the simulator's
order endpoints (the paper gateway is the simulated broker fed live bars), so the paper account is "the exchange".
The harness is tests/integration/crash_harness.py; the 20-cycle version is tests/integration/test_crash_recovery.py
(on PostgreSQL when TRADEFORGE_TEST_DATABASE_URL is set, else SQLite).

    python benchmarks/soak.py [--cycles 100] [--seed 7] [--db URL] [--json soak.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from crash_harness import START, CrashCycles

from tradeforge.data import load_sample
from tradeforge.live.simulator import ExchangeSimulator
from tradeforge.persistence.migrate import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--verbose", action="store_true", help="one line per cycle")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tf-soak-") as tmp:
        work = Path(tmp)
        url = args.db or f"sqlite:///{work / 'soak.db'}"
        migrate(url)
        with ExchangeSimulator(load_sample("BTC-PERP"), start=START, push_interval=0.1) as sim:
            cycles = CrashCycles(sim, url, work, seed=args.seed)
            failure = None
            try:
                for i in range(args.cycles):
                    report = cycles.cycle(i)
                    if args.verbose:
                        print(f"cycle {i:3d}: planned {report.kind:18s} landed {report.landed:38s} "
                              f"{report.seconds:.2f}s", flush=True)  # fmt: skip
                final = cycles.finish()
            except AssertionError as exc:
                failure, final = str(exc), {}
            bars = cycles.closed_index() - START
        if args.db is None:
            cycles.engine.dispose()
    seconds = time.monotonic() - t0
    summary = cycles.summary()
    row = {"benchmark": "crash_soak", "seed": args.seed, "backend": url.split(":", 1)[0], "seconds": seconds,
           "live_bars": bars, **summary, "final": final, "problems": cycles.problems, "failure": failure,
           "ok": failure is None and not cycles.problems}  # fmt: skip
    print(f"crash soak: {summary['cycles']} SIGKILL cycles + a clean stop in {seconds:.1f}s "
          f"({summary['cycle_seconds_mean']:.2f}s a cycle), {bars} live bars")  # fmt: skip
    print(f"  planned: {summary['planned']}")
    print(f"  landed:  {summary['landed']}")
    print(f"  kill points hit: {summary['hits']}; self-kills at a hook: {summary['self_killed']}")
    print(f"  end state: {final}")
    print("  invariants: " + ("all hold" if row["ok"] else f"FAILED: {failure or cycles.problems}"))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(row, indent=2, default=str))
    return 0 if row["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
