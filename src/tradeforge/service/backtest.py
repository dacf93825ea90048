"""The backtest use case: resolve strategy and data, run the engine, write exports and the HTML report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.core.strategy import Strategy
from tradeforge.core.types import Instrument
from tradeforge.data import BarStore, list_samples, load_bars, load_sample, sample_instrument
from tradeforge.report import write_exports, write_html_report
from tradeforge.service.strategy_loader import load_strategy_class, parse_params
from tradeforge.sim.backtest import run_backtest
from tradeforge.sim.result import Result

Progress = Callable[[int, int], None]


@dataclass
class BacktestJob:
    strategy: str
    data: list[str]
    params: list[str] = field(default_factory=list)
    cash: float = 10_000.0
    commission: float = 0.0
    slippage: float = 0.0
    spread: float = 0.0
    fill_timing: str = "next_open"
    position_mode: str = "netting"
    leverage: float = 1.0
    replay: bool = False
    out_dir: Path | None = None
    report: bool = True
    together: bool = False  # several symbols: one instance trades them all (else one instance per symbol)
    tz: str | None = None  # the zone of naive times in data files (never guessed)
    store: Path | None = None  # the bar store for data named source:SYMBOL@tf (default: see store_root)


@dataclass
class BacktestOutcome:
    title: str
    result: Result
    files: dict[str, Path]


def load_data(ref: str, tz: str | None = None, store: Path | None = None) -> tuple[BarSeries, Instrument | None]:
    """Bars named by ref: a file path, a series in the bar store ('binance:BTC/USDT@1h') or a bundled sample
    (see `tradeforge samples`; it comes with its instrument). tz: the zone of naive times in files."""
    from tradeforge.service.data import store_root

    names = {s.name.upper() for s in list_samples()}
    if ref.upper() in names and not Path(ref).is_file():
        return load_sample(ref), sample_instrument(ref)
    return load_bars(ref, store=BarStore(store_root(store)), tz=tz), None


def run_job(job: BacktestJob, progress: Progress | None = None) -> BacktestOutcome:
    klass = load_strategy_class(job.strategy)
    params = parse_params(job.params, klass)
    if not job.data:
        raise ConfigError(
            "no data given: pass a sample name such as GOOG, a stored series such as binance:BTC/USDT@1h or a bar file"
        )
    series: list[BarSeries] = []
    instruments: dict[str, Instrument] = {}
    for ref in job.data:
        bars, inst = load_data(ref, job.tz, job.store)
        series.append(bars)
        if inst is not None:
            instruments[bars.symbol] = inst
    strategy = klass(**params)
    strategies: list[Strategy] = [strategy]
    symbols: dict[str, list[str]] | None = None
    if len(series) > 1 and not job.together:  # one instance per symbol, each with an equal share of the cash
        strategies = [klass(**params).named(f"{klass.__name__}[{s.symbol}]") for s in series]
        symbols = {strat.name: [s.symbol] for strat, s in zip(strategies, series, strict=True)}
    result = run_backtest(
        strategies,
        series,
        symbols=symbols,
        cash=job.cash,
        commission=job.commission,
        slippage=job.slippage,
        spread=job.spread,
        fill_timing=job.fill_timing,
        position_mode=job.position_mode,
        leverage=job.leverage,
        instruments=instruments,
        replay=job.replay,
        progress=progress,
    )
    title = f"{strategy.name}({_fmt_params(strategy.params)}) on {', '.join(s.symbol for s in series)}"
    files = write_outputs(result, job.out_dir, title, job.report) if job.out_dir is not None else {}
    return BacktestOutcome(title, result, files)


def write_outputs(result: Result, out_dir: Path, title: str, report: bool) -> dict[str, Path]:
    files = write_exports(result, out_dir)
    if report:
        files["report"] = write_html_report(result, out_dir / "report.html", title=title)
    return files


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


@dataclass(frozen=True)
class DemoCase:
    slug: str
    strategy: type[Strategy]
    params: dict[str, Any]
    data: tuple[str, ...]
    cash: float
    commission: float
    what: str


def demo_cases() -> list[DemoCase]:
    from tradeforge.strategies import Breakout, SmaCross

    return [
        DemoCase(
            "goog-sma-cross",
            SmaCross,
            {},
            ("GOOG",),
            10_000.0,
            0.002,
            "SMA(10,20) cross on GOOG daily, 0.2% commission (Backtesting.py's reference: 93 trades, "
            "final equity 56,263.52)",
        ),
        DemoCase(
            "btc-perp-breakout",
            Breakout,
            {},
            ("BTC-PERP",),
            100_000.0,
            0.0005,
            "60-bar breakout on BTC-PERP 1-minute bars with ATR stop-loss/take-profit and a 1h trend filter, "
            "0.05% taker fee",
        ),
        DemoCase(
            "crypto-5m-sma-cross",
            SmaCross,
            {"fast": 12, "slow": 48},
            ("ETH-BTC", "LTC-BTC", "XMR-BTC", "DASH-BTC"),
            1.0,
            0.001,
            "one SMA(12,48) cross per pair on four crypto-5m pairs in one BTC account, 0.1% fee",
        ),
    ]


def run_demo_case(case: DemoCase, out_dir: Path, progress: Progress | None = None) -> BacktestOutcome:
    series = [load_sample(name) for name in case.data]
    instruments = {s.symbol: sample_instrument(s.symbol) for s in series}
    if len(series) == 1:
        strategies: list[Strategy] = [case.strategy(**case.params)]
        symbols = None
    else:
        strategies = []
        symbols = {}
        for s in series:
            strat = case.strategy(**case.params).named(f"{case.strategy.__name__}[{s.symbol}]")
            strategies.append(strat)
            symbols[strat._name] = [s.symbol]
    result = run_backtest(
        strategies,
        series,
        cash=case.cash,
        commission=case.commission,
        instruments=instruments,
        symbols=symbols,
        progress=progress,
    )
    files = write_outputs(result, out_dir / case.slug, case.what, report=True)
    return BacktestOutcome(case.what, result, files)
