from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.report import equity_frame, fills_frame, orders_frame, trades_frame
from tradeforge.report.frames import ORDER_COLUMNS, TRADE_COLUMNS, drawdown_pct
from tradeforge.sim.result import Result, StrategyResult


def test_trades_frame_columns_and_values(result: Result) -> None:
    frame = trades_frame(result)
    assert tuple(frame.columns) == TRADE_COLUMNS
    closed, open_ = frame.iloc[0], frame.iloc[1]
    assert closed["side"] == "long" and open_["side"] == "short"
    assert closed["pnl"] == pytest.approx(10 * (115.0 - 104.5) - 2.5)  # 102.5
    assert closed["return_pct"] == pytest.approx(((115.0 / 104.5 - 1) - 2.5 / 1045.0) * 100)
    assert closed["fees"] == pytest.approx(2.5)
    assert closed["duration"] == pd.Timedelta(days=10)
    assert closed["entry_time"] == pd.Timestamp("2024-01-06", tz="UTC")
    assert closed["exit_bar"] == 15 and not closed["is_open"]
    # open short marked at the last close (149): -5 * (149 - 139.5) - entry fee 0.5
    assert open_["pnl"] == pytest.approx(-48.0)
    assert open_["return_pct"] == pytest.approx(-48.0 / (5 * 139.5) * 100)
    assert open_["is_open"]
    assert pd.isna(open_["exit_time"]) and pd.isna(open_["duration"]) and pd.isna(open_["exit_bar"])
    assert math.isnan(open_["exit_price"])
    assert str(frame["entry_time"].dt.tz) == "UTC"


def test_open_trade_without_bars_has_nan_pnl(result: Result) -> None:
    result.bars = {}
    assert math.isnan(trades_frame(result)["pnl"].iloc[1])


def test_orders_frame(result: Result) -> None:
    frame = orders_frame(result)
    assert tuple(frame.columns) == ORDER_COLUMNS
    assert list(frame["side"]) == ["buy", "sell", "sell", "buy"]
    assert list(frame["type"]) == ["market", "limit", "market", "stop"]
    assert list(frame["status"]) == ["filled", "filled", "filled", "new"]
    assert frame["limit"].iloc[1] == 115.0 and math.isnan(frame["limit"].iloc[0])
    assert frame["stop"].iloc[3] == 160.0
    assert frame["avg_fill_price"].iloc[0] == 104.5
    assert frame["parent_id"].iloc[3] == 3 and pd.isna(frame["parent_id"].iloc[0])
    assert frame["trade_id"].iloc[1] == 1
    assert pd.isna(frame["updated_time"].iloc[3])  # never changed status
    assert frame["updated_time"].iloc[1] == pd.Timestamp("2024-01-16", tz="UTC")
    assert frame["role"].iloc[3] == "stop_loss"
    assert frame["tag"].iloc[0] == "go long"


def test_fills_frame(result: Result) -> None:
    frame = fills_frame(result)
    assert list(frame["order_id"]) == [1, 2, 3]
    assert list(frame["liquidity"]) == ["taker", "maker", "taker"]
    assert frame["value"].iloc[0] == pytest.approx(1045.0)
    assert frame["time"].iloc[0] == pd.Timestamp("2024-01-06", tz="UTC")


def test_equity_frame_drawdown_by_hand(result: Result) -> None:
    frame = equity_frame(result)
    assert list(frame.columns) == ["equity", "cash", "drawdown_pct"]
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    expected = [0.0, 0.0, (1005 / 1010 - 1) * 100, 0.0, (1002 / 1020 - 1) * 100, 0.0]
    assert frame["drawdown_pct"].iloc[:6].tolist() == pytest.approx(expected)
    assert frame["equity"].tolist() == result.equity.tolist()


def test_equity_frame_adds_a_column_per_strategy_when_several(result: Result) -> None:
    other = StrategyResult("rsi", {"period": 14}, 500.0, result.equity / 2, {})
    result.strategies["rsi"] = other
    frame = equity_frame(result)
    assert list(frame.columns) == ["equity", "cash", "drawdown_pct", "equity_sma", "equity_rsi"]
    assert frame["equity_rsi"].iloc[1] == 505.0


def test_equity_frame_refuses_mismatched_lengths(result: Result) -> None:
    result.cash = result.cash[:-1]
    with pytest.raises(ConfigError, match="cash"):
        equity_frame(result)


def test_drawdown_is_nan_without_a_positive_peak() -> None:
    out = drawdown_pct(np.array([-5.0, -10.0, 10.0, 5.0]))
    assert np.isnan(out[:2]).all()
    assert out[2:].tolist() == pytest.approx([0.0, -50.0])


def test_empty_result_gives_empty_frames(result: Result) -> None:
    result.trades, result.orders, result.fills = [], [], []
    assert trades_frame(result).empty and tuple(trades_frame(result).columns) == TRADE_COLUMNS
    assert orders_frame(result).empty
    assert fills_frame(result).empty
