"""run_backtest: wire engine, simulated broker and feed; run in batch or bar-by-bar replay; build a Result."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.engine import Engine
from tradeforge.core.equity import on_grid, rebuild
from tradeforge.core.errors import ConfigError
from tradeforge.core.fees import FeeModel, make_fee_model
from tradeforge.core.fills import FillModel
from tradeforge.core.portfolio import Portfolio
from tradeforge.core.risk import RiskEngine, RiskLimits
from tradeforge.core.strategy import Strategy
from tradeforge.core.types import FillTiming, Instrument, PositionMode
from tradeforge.metrics import compute_stats
from tradeforge.sim.broker import SimulatedBroker
from tradeforge.sim.feed import HistoricalFeed, SimulatedClock
from tradeforge.sim.result import Result, StrategyResult

DataArg = BarSeries | Sequence[BarSeries] | Mapping[str, BarSeries]
StrategyArg = Strategy | type[Strategy] | Sequence[Strategy | type[Strategy]]


def _series_list(data: DataArg) -> list[BarSeries]:
    if isinstance(data, BarSeries):
        return [data]
    if isinstance(data, Mapping):
        return list(data.values())
    if isinstance(data, Sequence) and all(isinstance(s, BarSeries) for s in data):
        return list(data)
    raise ConfigError(
        "data must be a BarSeries, a list of them or a dict symbol -> BarSeries "
        "(load one with tradeforge.data.load_sample('GOOG') or read_bars('file.csv'))"
    )


def _strategy_list(strategies: StrategyArg) -> list[Strategy]:
    items = strategies if isinstance(strategies, Sequence) else [strategies]
    out: list[Strategy] = []
    for item in items:
        if isinstance(item, type) and issubclass(item, Strategy):
            out.append(item())
        elif isinstance(item, Strategy):
            out.append(item)
        else:
            raise ConfigError(f"{item!r} is not a Strategy subclass or instance")
    if not out:
        raise ConfigError("no strategy given")
    return out


def _unique_names(strategies: list[Strategy]) -> list[str]:
    """The names the engine will give the strategies (a repeated name gets #2, #3, ...)."""
    names: list[str] = []
    for strat in strategies:
        name, index = strat.name, 2
        while name in names:
            name = f"{strat.name}#{index}"
            index += 1
        names.append(name)
    return names


def run_backtest(
    strategies: StrategyArg,
    data: DataArg,
    *,
    cash: float = 10_000.0,
    commission: float | tuple[float, float] | FeeModel | Callable[[float, float], float] = 0.0,
    slippage: float = 0.0,
    spread: float = 0.0,
    fill_timing: FillTiming | str = FillTiming.NEXT_OPEN,
    max_volume_fraction: float | None = None,
    position_mode: PositionMode | str = PositionMode.NETTING,
    leverage: float = 1.0,
    risk: RiskLimits | None = None,
    instruments: Mapping[str, Instrument] | None = None,
    symbols: Mapping[str, Sequence[str]] | None = None,
    capital: Mapping[str, float] | None = None,
    replay: bool = False,
    finalize: Callable[[Engine], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Backtest one or several strategies on one or several symbols in one account.

    commission: rate (0.002 = 0.2% of value per fill), (fixed, rate), a FeeModel or f(qty, price).
    fill_timing: "next_open" (default) or "close" for market orders. replay=True pushes bars one at a time
    through the streaming path that paper and live trading use (slower; gives identical results).
    symbols: strategy name -> the symbols it trades (default: all). capital: strategy name -> its capital
    (default: cash split equally). progress(done, total) reports how many steps have run.
    """
    series = _series_list(data)
    strats = _strategy_list(strategies)
    try:
        timing = FillTiming(fill_timing) if isinstance(fill_timing, str) else fill_timing
        mode = PositionMode(position_mode) if isinstance(position_mode, str) else position_mode
    except ValueError as exc:
        raise ConfigError(f"{exc}: fill_timing is next_open or close; position_mode netting or hedging") from exc
    insts = {s.symbol: Instrument(s.symbol) for s in series}
    for sym, inst in (instruments or {}).items():
        insts[sym] = inst
    feed = HistoricalFeed(series)
    portfolio = Portfolio(float(cash), insts, mode=mode, leverage=leverage)
    broker = SimulatedBroker(FillModel(timing, slippage, spread, max_volume_fraction), make_fee_model(commission))
    engine = Engine(portfolio, broker, RiskEngine(risk))
    for s in series:
        arrays = (
            None
            if replay
            else {
                "ts": s.ts,
                "open": s.open,
                "high": s.high,
                "low": s.low,
                "close": s.close,
                "volume": s.volume,
            }
        )
        engine.add_stream(s.symbol, s.timeframe, arrays)
    names = _unique_names(strats)
    for label, mapping in (("symbols", symbols), ("capital", capital)):
        unknown = sorted(set(mapping or {}) - set(names))
        if unknown:
            raise ConfigError(f"{label} names unknown strategies {unknown}; the strategies are {names}")
    for name, syms in (symbols or {}).items():
        if isinstance(syms, str) or not all(isinstance(x, str) for x in syms):
            raise ConfigError(f"symbols[{name!r}] must be a list of symbols such as ['ETH-BTC'], got {syms!r}")
    shares = {k: float(v) for k, v in (capital or {}).items()}
    if any(not (v > 0) for v in shares.values()):
        raise ConfigError(f"capital amounts must be positive, got {shares}")
    rest = [n for n in names if n not in shares]
    left = float(cash) - sum(shares.values())
    if left < -1e-9 * float(cash) or (rest and left <= 0):
        raise ConfigError(
            f"capital {shares} adds up to more than the account's cash {cash:,.2f}"
            + (f" and leaves nothing for {rest}" if rest else "")
        )
    for name in rest:
        shares[name] = left / len(rest)
    for strat, name in zip(strats, names, strict=True):
        engine.add_strategy(strat, (symbols or {}).get(name), shares[name])
    if replay:
        # the live path: each bar arrives when the clock reaches its close, and the engine runs a step once
        # the clock has passed the close of the bars it gathered
        clock = SimulatedClock(int(feed.step_ts[0]))
        total = len(feed)
        for done, (ts, group) in enumerate(feed.groups(), start=1):
            clock.advance_to(ts + feed.timeframe)  # the bars of ts close now ...
            for bar in group:
                engine.push_bar(bar)  # ... arrive one at a time ...
            engine.advance(clock.now())  # ... and the step runs because the clock has passed their close
            if progress is not None and done % 4096 == 0:
                progress(done, total)
        engine.flush()
        if progress is not None:
            progress(total, total)
    else:
        engine.run_batch(feed.step_ts, feed.bar_index, progress)
    if finalize is not None:
        finalize(engine)
    engine.stop()
    return build_result(engine, series, feed.step_ts)


def build_result(engine: Engine, series: list[BarSeries], step_ts: np.ndarray) -> Result:
    portfolio = engine.portfolio
    n = int(step_ts.shape[0])
    closes = {}
    for s in series:
        steps = engine.bar_steps[s.symbol]
        closes[s.symbol] = s.close if steps is None else on_grid(n, np.asarray(steps, dtype=np.int64), s.close)
    mult = {sym: inst.multiplier for sym, inst in portfolio.instruments.items()}
    equity, cash = rebuild(
        n,
        portfolio.initial_cash,
        portfolio.ledger_step,
        portfolio.ledger_cash,
        portfolio.ledger_symbol,
        portfolio.ledger_qty,
        closes,
        mult,
    )
    trades = portfolio.all_trades()
    benchmark = closes[series[0].symbol].copy()
    missing = np.isnan(benchmark)
    if missing.any():  # the first symbol starts after the others: hold its first close flat before that
        benchmark[missing] = benchmark[int(np.flatnonzero(~missing)[0])]
    warmup = 0
    for s in series:  # the step at which the slowest indicator of a base stream first has a value
        first = engine.base[s.symbol].warmup()
        steps = engine.bar_steps[s.symbol]
        if first:
            step = first if steps is None else (int(steps[first]) if first < len(steps) else n - 1)
            warmup = max(warmup, min(step, n - 1))
    stats = compute_stats(
        equity,
        step_ts,
        trades,
        benchmark_close=benchmark,
        fees_paid=portfolio.fees,
        turnover=portfolio.turnover,
        warmup_bars=warmup,
    )
    per: dict[str, StrategyResult] = {}
    for name, book in portfolio.books.items():
        rows = [k for k, b in enumerate(portfolio.ledger_book) if b == name]
        b_equity, _ = rebuild(
            n,
            book.capital,
            [portfolio.ledger_step[k] for k in rows],
            [portfolio.ledger_book_cash[k] for k in rows],
            [portfolio.ledger_symbol[k] for k in rows],
            [portfolio.ledger_book_qty[k] for k in rows],
            closes,
            mult,
        )
        b_trades = [t for t in trades if t.strategy == name]
        b_stats = (
            stats
            if len(portfolio.books) == 1
            else compute_stats(
                b_equity,
                step_ts,
                b_trades,
                benchmark_close=benchmark,
                fees_paid=book.fees,
                turnover=book.turnover,
                warmup_bars=warmup,
            )
        )
        strategy = next(s for s in engine.strategies if s.name == name)
        per[name] = StrategyResult(name, dict(strategy.params), book.capital, b_equity, b_stats)
    return Result(
        orders=list(engine.orders),
        fills=list(engine.fills),
        trades=trades,
        timestamps=step_ts,
        equity=equity,
        cash=cash,
        bars={s.symbol: s for s in series},
        stats=stats,
        initial_cash=portfolio.initial_cash,
        strategies=per,
        fees_paid=portfolio.fees,
        turnover=portfolio.turnover,
    )
