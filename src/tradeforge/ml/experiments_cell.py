"""One experiment: features and labels of one symbol, out-of-sample predictions by walk-forward, and what they
are worth: classification scores AND a fee-aware backtest of trading them. Shared by the grid and AutoML.

Walk-forward: the out-of-sample (OOS) bars are cut into blocks of `step` bars; each block is predicted by a model
trained on the `window` labelled bars before it, minus a gap of the label horizon so no training label reaches
into the block (tradeforge.ml.splitters.WalkForward, given the labels' spans). Every experiment on one symbol uses
the same OOS bars (an `OOSPlan`), so their scores and backtests compare like with like.

Trading the predictions (tradeforge.fast.simulate, the event engine's fill rules): a signal at bar t fills at the
open of bar t + 1 and pays `fees` of the traded value per fill, all cash in, fractional units.
  buy  -> be long (a short is reversed);
  sell -> be short (sell="short", default) or flat (sell="flat": long only);
  hold -> keep the position (hold="keep", default: no strong view is no reason to pay fees) or go flat
          (hold="flat").
The backtest starts flat with `cash` at the first OOS bar and marks any position still open at the last one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, precision_recall_fscore_support

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.fast import simulate
from tradeforge.fast.colstats import STAT_NAMES, TRADE_STAT_NAMES, equity_stats_nb, trade_stats_nb
from tradeforge.fast.records import EXIT_END
from tradeforge.metrics.overfitting import sharpe_moments
from tradeforge.ml.experiments_features import FeatureSource, compute_features, first_complete_row
from tradeforge.ml.labels import Labels, horizon_labels, round_trip_threshold
from tradeforge.ml.models import Model
from tradeforge.ml.splitters import WalkForward
from tradeforge.research.sweep import periods_per_year

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int8Array = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]

CLASSES = (-1, 0, 1)
CLASS_NAMES = {-1: "sell", 0: "hold", 1: "buy"}
SELL_MODES = ("short", "flat")
HOLD_MODES = ("keep", "flat")


@dataclass(frozen=True)
class TradeSettings:
    """How predictions are traded (see the module docstring)."""

    fees: float = 0.001
    sell: str = "short"
    hold: str = "keep"
    cash: float = 10_000.0

    def __post_init__(self) -> None:
        if self.sell not in SELL_MODES:
            raise ConfigError(f"sell must be 'short' (sell -> short) or 'flat' (long only), got {self.sell!r}")
        if self.hold not in HOLD_MODES:
            raise ConfigError(f"hold must be 'keep' (keep the position) or 'flat' (close it), got {self.hold!r}")
        if isinstance(self.fees, bool) or not isinstance(self.fees, int | float) or not 0.0 <= self.fees < 0.1:
            raise ConfigError(f"fees must be a fraction of traded value in [0, 0.1), e.g. 0.001, got {self.fees!r}")
        if not self.cash > 0:
            raise ConfigError(f"cash must be positive, got {self.cash!r}")


@dataclass(frozen=True, eq=False)
class CellData:
    """Features and labels of one symbol for one (features, datasetinputs, granularity) choice."""

    bars: BarSeries
    X: FloatArray
    columns: tuple[str, ...]
    labels: Labels
    first_valid: int  # first bar with every feature defined
    horizon: int
    threshold: float


def prepare_cell(
    bars: BarSeries,
    features: FeatureSource,
    datasetinputs: int,
    granularity: int,
    *,
    fees: float = 0.001,
    threshold: float | None = None,
) -> CellData:
    """Compute the features and the horizon labels (buy/sell/hold over `granularity` bars; the threshold covers
    the round-trip fees, 2 * fees, unless given)."""
    for name, value in (("datasetinputs", datasetinputs), ("granularity", granularity)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    X, columns = compute_features(features, bars, int(datasetinputs), int(granularity))
    what = f"{bars.symbol}, datasetinputs={datasetinputs}, granularity={granularity}"
    first = first_complete_row(X, columns, bars, what)
    thr = round_trip_threshold(fees) if threshold is None else float(threshold)
    labels = horizon_labels(bars, int(granularity), fee_rate=fees, threshold=thr)
    return CellData(bars, X, columns, labels, first, int(granularity), thr)


@dataclass(frozen=True)
class OOSPlan:
    """The out-of-sample bars [start, stop) of one symbol, predicted in n_folds blocks of `step` bars."""

    start: int
    stop: int
    step: int

    @property
    def n_folds(self) -> int:
        return (self.stop - self.start) // self.step


def plan_oos(bars: BarSeries, earliest: int, last: int, step: int) -> OOSPlan:
    """Blocks of `step` bars from `earliest` (or a little later: the remainder is dropped at the start so the
    blocks are whole) to `last` (inclusive)."""
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 1:
        raise ConfigError(f"step (bars per walk-forward test block) must be a whole number >= 1, got {step!r}")
    length = last - earliest + 1
    if earliest < 0 or length < step:
        raise ConfigError(
            f"{bars.symbol}: the out-of-sample part would run from bar {earliest} to bar {last} of {len(bars)}, "
            f"less than one test block of {step} bars: use a shorter training window, a smaller step or more data"
        )
    return OOSPlan(earliest + length % step, last + 1, int(step))


def walk_forward_folds(cell: CellData, window: int, plan: OOSPlan) -> Iterator[tuple[IntArray, IntArray]]:
    """(train bars, test bars) of each fold: rolling windows of `window` labelled bars before each test block,
    separated from it by the label horizon, from tradeforge.ml.splitters.WalkForward over the labels' spans."""
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 2:
        raise ConfigError(f"the training window must be a whole number of bars >= 2, got {window!r}")
    bars, h = cell.bars, cell.horizon
    s0 = plan.start - h - int(window)
    if s0 < cell.first_valid:
        available = max(0, plan.start - h - cell.first_valid)
        when = iso(int(bars.ts[min(plan.start, len(bars) - 1)]))
        raise ConfigError(
            f"{bars.symbol}: a training window of {window} bars before the first out-of-sample bar "
            f"{plan.start} ({when}) would start at bar {s0}, before the "
            f"features are defined (bar {cell.first_valid}): only {available} bars are available; use a window of "
            f"at most {available} bars or more history"
        )
    if not cell.labels.labelled[plan.stop - 1]:
        raise ConfigError(f"{bars.symbol}: the out-of-sample part ends at bar {plan.stop - 1}, past the last label")
    # sample i is bar s0 + i; its label uses the prices of bars start..end
    splitter = WalkForward(
        plan.n_folds,
        label_end=cell.labels.end[s0 : plan.stop] - s0,
        label_start=cell.labels.start[s0 : plan.stop] - s0,
        window="rolling",
        train_size=int(window),
        test_size=plan.step,
    )
    for train, test in splitter.split(np.empty(plan.stop - s0)):
        yield train + s0, test + s0


def fit_predict(model: Model, cell: CellData, train: IntArray, test: IntArray, fold: str) -> Int8Array:
    """Fit `model` on the train bars (all three classes must be present) and predict the test bars."""
    try:
        model.fit(cell.X[train], cell.labels.label[train], classes=CLASSES, feature_names=cell.columns)
        return np.asarray(model.predict(cell.X[test]), dtype=np.int8)
    except (ConfigError, DataError) as exc:
        bars = cell.bars
        where = f"training bars {iso(int(bars.ts[train[0]]))} .. {iso(int(bars.ts[train[-1]]))}"
        raise type(exc)(f"{fold} ({where}): {exc}") from exc


def classification_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision / recall / support and the confusion matrix (rows: true
    sell, hold, buy; columns: predicted), as plain values."""
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    precision, recall, _, support = precision_recall_fscore_support(yt, yp, labels=list(CLASSES), zero_division=0.0)
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(yt, yp)),
        "balanced_accuracy": float(balanced_accuracy_score(yt, yp)) if yt.size else float("nan"),
    }
    for j, cls in enumerate(CLASSES):
        name = CLASS_NAMES[cls]
        out[f"precision_{name}"] = float(precision[j])
        out[f"recall_{name}"] = float(recall[j])
        out[f"support_{name}"] = int(support[j])
        out[f"predicted_{name}"] = int(np.count_nonzero(yp == cls))
    out["confusion"] = confusion_matrix(yt, yp, labels=list(CLASSES)).tolist()
    return out


def prediction_signals(
    n: int, positions: npt.ArrayLike, pred: npt.ArrayLike, sell: str, hold: str
) -> dict[str, BoolArray | None]:
    """The fast.simulate signals (entries, exits, short_entries, short_exits) of predictions `pred` at bar
    `positions` (0..n-1) of an n-bar backtest; bars without a prediction carry no signal."""
    TradeSettings(sell=sell, hold=hold)  # validates the modes
    p = np.zeros(n, dtype=np.int8)
    has = np.zeros(n, dtype=bool)
    pos = np.asarray(positions, dtype=np.int64)
    p[pos] = np.asarray(pred, dtype=np.int8)
    has[pos] = True
    buy, sells, holds = has & (p == 1), has & (p == -1), has & (p == 0)
    if sell == "short":
        flat = holds if hold == "flat" else None
        return {"entries": buy, "exits": flat, "short_entries": sells, "short_exits": flat}
    exits = sells | holds if hold == "flat" else sells
    return {"entries": buy, "exits": exits, "short_entries": None, "short_exits": None}


@dataclass(frozen=True, eq=False)
class Backtest:
    """The fee-aware backtest of one experiment's predictions: statistics, equity and the simulation."""

    stats: dict[str, float]
    equity: FloatArray
    sim: Any  # tradeforge.fast.SimulationResult


def backtest_predictions(
    bars: BarSeries, plan: OOSPlan, bar_idx: npt.ArrayLike, pred: npt.ArrayLike, settings: TradeSettings
) -> Backtest:
    """Trade predictions made at bars `bar_idx` (inside the plan) over the plan's bars [start, stop).

    stats: total_return, cagr, volatility, sharpe, sortino (annualised with bars per year measured from the time
    stamps), max_drawdown, calmar; n_trades (every trade entered, one still open at the end included),
    closed_trades, win_rate, profit_factor, expectancy, avg_trade_return (closed trades); fees_paid; exposure
    (share of bars in a position); buy_hold_return (close to close over the same bars); sharpe_bar, n_obs, skew,
    kurtosis (per-bar moments, for the deflated Sharpe ratio)."""
    a, b = plan.start, plan.stop
    n = b - a
    signals = prediction_signals(n, np.asarray(bar_idx, dtype=np.int64) - a, pred, settings.sell, settings.hold)
    sim = simulate(
        bars.open[a:b], bars.high[a:b], bars.low[a:b], bars.close[a:b], signals["entries"], signals["exits"],
        signals["short_entries"], signals["short_exits"], fees=settings.fees, init_cash=settings.cash,
        lot_size=0.0, size=1.0, fill="next_open",
    )  # fmt: skip
    equity = np.ascontiguousarray(sim.equity[:, 0])
    cash = np.array([settings.cash])
    ppy = periods_per_year(bars.ts[a:b])
    eq = equity_stats_nb(equity[None, :], cash, ppy)[0]
    trades = sim.trades
    closed = trades[trades["exit_reason"] != EXIT_END]
    tr = trade_stats_nb(
        np.zeros(closed.shape[0], dtype=np.int64), np.ascontiguousarray(closed["pnl"]),
        np.ascontiguousarray(closed["return"]), 1,
    )[0]  # fmt: skip
    stats: dict[str, float] = {name: float(eq[j]) for j, name in enumerate(STAT_NAMES)}
    stats.update({name: float(tr[j]) for j, name in enumerate(TRADE_STAT_NAMES) if name != "n_trades"})
    stats["n_trades"] = int(trades.shape[0])
    stats["closed_trades"] = int(closed.shape[0])
    stats["fees_paid"] = float(np.nansum(trades["entry_fee"]) + np.nansum(trades["exit_fee"]))
    stats["exposure"] = _exposure(trades, n)
    stats["buy_hold_return"] = float(bars.close[b - 1] / bars.close[a] - 1.0)
    returns = np.diff(np.concatenate([cash, equity])) / np.concatenate([cash, equity[:-1]])
    sr, n_obs, skew, kurt = sharpe_moments(returns)
    stats.update({"sharpe_bar": sr, "n_obs": n_obs, "skew": skew, "kurtosis": kurt})
    return Backtest(stats, equity, sim)


def _exposure(trades: np.ndarray, n: int) -> float:
    exits = np.where(trades["exit_idx"] >= 0, trades["exit_idx"], n)
    return float(np.sum(exits - trades["entry_idx"])) / n if n else 0.0
