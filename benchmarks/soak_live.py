"""Crash soak of live trading: a `tradeforge live` bot sending real orders (ccxt's binance client) to the local
exchange simulator, SIGKILLed at seeded moments and restarted, 100 times by default; bars close and orders fill
while it is down. Then the database is compared with the exchange: every exchange order stored (with its exchange
id) and every stored order the exchange lacks never sent; every exchange trade a stored fill and vice versa; no
client order id twice; the account's BTC and USDT equal to the baseline plus the stored fills.

Kill moments: random times (start-up and replay included), right after an order is stored and before it is sent
(stored_not_sent), right after the exchange accepted it and before its answer is stored (sent_not_recorded), right
after an exchange trade is booked and before it is stored (fill_not_recorded). Harness:
tests/integration/live_crash_harness.py; the 20-cycle version is tests/integration/test_live_crash_recovery.py.

    python benchmarks/soak_live.py [--cycles 100] [--seed 11] [--db URL] [--json soak_live.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from live_crash_harness import BALANCES, LiveCrashCycles

from tradeforge.data import load_sample
from tradeforge.live.simulator import ExchangeSimulator
from tradeforge.persistence.migrate import migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--verbose", action="store_true", help="one line per cycle")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    failure = None
    final: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="tf-soak-live-") as tmp:
        work = Path(tmp)
        url = args.db or f"sqlite:///{work / 'soak.db'}"
        migrate(url)
        with ExchangeSimulator(load_sample("BTC-PERP"), start=1000, balances=BALANCES, push_interval=0.1) as sim:
            cycles = LiveCrashCycles(sim, url, work, seed=args.seed)
            try:
                for i in range(args.cycles):
                    kind = cycles.cycle(i)
                    if args.verbose:
                        print(f"cycle {i:3d}: {kind}", flush=True)
                cycles.finish()
                final = cycles.final_check()
            except AssertionError as exc:
                failure = str(exc)
    seconds = time.monotonic() - t0
    ok = failure is None and not final.get("problems")
    summary = {"cycles": args.cycles, "seed": args.seed, "seconds": round(seconds, 1), "ok": ok, **final}
    if failure is not None:
        summary["failure"] = failure
    print(json.dumps(summary, indent=2))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
