"""python -m tradeforge.live.simulator: serve a local binance (spot) on 127.0.0.1 for rehearsals."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import TradeforgeError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tradeforge.live.simulator",
        description="A local binance spot exchange on 127.0.0.1 replaying real bars, for ccxt clients to rehearse on.",
    )
    p.add_argument("--data", default="BTC-PERP", help="a bundled sample name or a bar file (default: BTC-PERP)")
    p.add_argument("--symbol", default="BTC/USDT", help="the market it lists (default: BTC/USDT)")
    p.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (default: 8765; 0: any free one)")
    p.add_argument("--start", type=int, default=None, help="index of the first bar not yet closed (default: 1000)")
    p.add_argument("--speed", type=float, default=1.0, help="clock speed: 60 plays a 1m bar a second (default: 1)")
    p.add_argument(
        "--balance",
        action="append",
        default=[],
        metavar="ASSET=AMOUNT",
        help="starting balance, repeatable (default: USDT=10000)",
    )
    p.add_argument("--maker-fee", type=float, default=0.001, help="maker fee rate (default: 0.001)")
    p.add_argument("--taker-fee", type=float, default=0.001, help="taker fee rate (default: 0.001)")
    p.add_argument("--fee-asset", choices=("quote", "received"), default="quote", help="asset fees are paid in")
    p.add_argument(
        "--market-fills",
        choices=("next_open", "immediate"),
        default="next_open",
        help="market orders fill at the next bar's open (default) or at once",
    )
    return p


def _bars(data: str) -> BarSeries:
    from tradeforge.data import load_sample, read_bars

    return read_bars(data) if Path(data).exists() else load_sample(data)


def _balances(items: list[str]) -> dict[str, float] | None:
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        asset, sep, amount = item.partition("=")
        try:
            out[asset.strip().upper()] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not asset.strip():
            raise SystemExit(f"--balance wants ASSET=AMOUNT, e.g. --balance USDT=10000, got {item!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from tradeforge.live.simulator import ExchangeSimulator

    try:
        sim = ExchangeSimulator(
            _bars(args.data),
            symbol=args.symbol,
            start=args.start,
            balances=_balances(args.balance),
            maker_fee=args.maker_fee,
            taker_fee=args.taker_fee,
            fee_asset=args.fee_asset,
            market_fills=args.market_fills,
            port=args.port,
        )
        sim.start()
    except TradeforgeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        sim.run_clock(args.speed)
        print(
            f"binance spot API on {sim.url} (websocket {sim.ws_url}), {sim.symbol} from {args.data}, "
            f"clock at {args.speed:g}x.\n"
            "Point ccxt at it: from tradeforge.live.simulator import point_ccxt_at; "
            f"ex = ccxt.binance({{'apiKey': 'any', 'secret': 'any'}}); point_ccxt_at(ex, {sim.port})\n"
            "Ctrl-C stops it.",
            flush=True,
        )
        done.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
