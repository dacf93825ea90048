from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.report import write_exports
from tradeforge.report.frames import TRADE_COLUMNS
from tradeforge.sim.result import Result


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_write_exports_writes_every_file(result: Result, tmp_path: Path) -> None:
    folder = tmp_path / "nested" / "run1"
    paths = write_exports(result, folder)
    assert set(paths) == {"trades", "orders", "fills", "equity", "stats"}
    assert {p.name for p in paths.values()} == {
        "trades.csv",
        "orders.csv",
        "fills.csv",
        "equity.csv",
        "stats.json",
    }
    assert all(p.parent == folder and p.is_file() for p in paths.values())


def test_trades_csv(result: Result, tmp_path: Path) -> None:
    path = write_exports(result, tmp_path)["trades"]
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    assert tuple(header) == TRADE_COLUMNS
    closed, open_ = read_csv(path)
    assert float(closed["pnl"]) == pytest.approx(102.5)
    assert closed["entry_time"] == "2024-01-06T00:00:00Z"
    assert closed["exit_time"] == "2024-01-16T00:00:00Z"
    assert closed["side"] == "long" and closed["is_open"] == "False"
    assert float(open_["pnl"]) == pytest.approx(-48.0)
    assert open_["side"] == "short" and open_["is_open"] == "True"
    assert open_["exit_time"] == "" and open_["exit_price"] == "" and open_["exit_bar"] == ""


def test_orders_and_fills_csv(result: Result, tmp_path: Path) -> None:
    paths = write_exports(result, tmp_path)
    orders = read_csv(paths["orders"])
    assert [o["status"] for o in orders] == ["filled", "filled", "filled", "new"]
    assert orders[0]["created_time"] == "2024-01-05T00:00:00Z"
    assert orders[3]["updated_time"] == "" and orders[3]["parent_id"] == "3"
    fills = read_csv(paths["fills"])
    assert [float(f["price"]) for f in fills] == [104.5, 115.0, 139.5]
    assert fills[1]["time"] == "2024-01-16T00:00:00Z"


def test_equity_csv_drawdown_by_hand(result: Result, tmp_path: Path) -> None:
    rows = read_csv(write_exports(result, tmp_path)["equity"])
    assert len(rows) == 50
    assert list(rows[0]) == ["timestamp", "equity", "cash", "drawdown_pct"]
    assert rows[0]["timestamp"] == "2024-01-01T00:00:00Z"
    drawdowns = [float(r["drawdown_pct"]) for r in rows[:6]]
    assert drawdowns == pytest.approx([0.0, 0.0, -0.4950495049504950, 0.0, -1.7647058823529411, 0.0])


def test_stats_json(result: Result, tmp_path: Path) -> None:
    text = write_exports(result, tmp_path)["stats"].read_text(encoding="utf-8")
    assert "NaN" not in text
    stats = json.loads(text)
    assert stats["Sharpe Ratio"] is None
    assert stats["Start"] == "2024-01-01T00:00:00Z"
    assert stats["Duration"] == "49 days 00:00:00"
    assert stats["Return [%]"] == pytest.approx(3.0123456789)
    assert stats["# Trades"] == 1
    assert list(stats)[:3] == ["Start", "End", "Duration"]  # order kept
    assert stats["strategies"] == {
        "sma": {"params": {"fast": 10, "slow": 30}, "initial_capital": 1000.0, "stats": {"Return [%]": 3.0}}
    }


def test_sub_second_timestamps_keep_their_digits(result: Result, tmp_path: Path) -> None:
    result.timestamps = result.timestamps + 1_500_000  # +1.5 ms
    rows = read_csv(write_exports(result, tmp_path)["equity"])
    assert rows[0]["timestamp"] == "2024-01-01T00:00:00.0015Z"


def test_existing_file_as_folder_raises(result: Result, tmp_path: Path) -> None:
    target = tmp_path / "exports"
    target.write_text("not a folder")
    with pytest.raises(ConfigError, match="existing file") as info:
        write_exports(result, target)
    assert str(target) in str(info.value)


def test_folder_under_a_file_raises(result: Result, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="blocker"):
        write_exports(result, blocker / "sub")


def test_unwritable_folder_raises(result: Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root can write anywhere, so the permission answer is simulated at the os.access boundary
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    with pytest.raises(ConfigError, match="not writable"):
        write_exports(result, locked)
