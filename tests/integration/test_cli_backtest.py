"""The `tradeforge backtest` command on user files: a strategy .py, CSV/Parquet bars, bad data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tradeforge.data import load_sample_frame

STRATEGY = """
import talib
from tradeforge import Strategy, crossover

class Momentum(Strategy):
    period = 30

    def on_start(self):
        self.roc = self.I(talib.ROC, self.data.close, timeperiod=self.period)

    def on_bar(self):
        if crossover(self.roc, 0.0):
            self.buy(fraction=0.9, sl=self.data.close[-1] * 0.95)
        elif crossover(0.0, self.roc) and self.position():
            self.close()
"""


def tradeforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradeforge.cli", *args], capture_output=True, text=True)


def test_strategy_file_on_a_parquet_file(tmp_path: Path) -> None:
    (tmp_path / "momentum.py").write_text(STRATEGY)
    frame = load_sample_frame("AAPL")
    frame.to_parquet(tmp_path / "AAPL.parquet")
    out = tradeforge(
        "backtest",
        "-s",
        str(tmp_path / "momentum.py"),
        "-d",
        str(tmp_path / "AAPL.parquet"),
        "-p",
        "period=20",
        "--commission",
        "0.001",
        "--out",
        str(tmp_path / "out"),
    )
    assert out.returncode == 0, out.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    trades = pd.read_csv(tmp_path / "out" / "trades.csv")
    assert stats["# Trades"] == int((~trades["is_open"]).sum()) > 0
    assert stats["strategies"]["Momentum"]["params"] == {"period": 20}
    assert (tmp_path / "out" / "report.html").exists()
    assert "Momentum(period=20) on AAPL" in out.stdout


def test_unsorted_csv_gives_one_line_naming_file_and_row(tmp_path: Path) -> None:
    frame = load_sample_frame("GOOG").iloc[:50].reset_index()
    frame.iloc[[10, 11]] = frame.iloc[[11, 10]].to_numpy()
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    out = tradeforge("backtest", "-s", "sma_cross", "-d", str(path), "--out", str(tmp_path / "out"))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "bad.csv" in out.stderr and "row 11" in out.stderr and "unsorted" in out.stderr


def test_strategy_that_raises_names_strategy_and_bar(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(
        "from tradeforge import Strategy\n"
        "class Broken(Strategy):\n"
        "    def on_bar(self):\n"
        "        if len(self.data.close) == 5:\n"
        "            raise ValueError('boom')\n"
    )
    out = tradeforge("backtest", "-s", str(tmp_path / "broken.py"), "-d", "GOOG", "--out", str(tmp_path / "o"))
    assert out.returncode == 1
    assert "'Broken' raised in on_bar at bar 2004-08-25T00:00:00Z: ValueError: boom" in out.stderr.replace("\n", "")
    debug = tradeforge(
        "backtest", "-s", str(tmp_path / "broken.py"), "-d", "GOOG", "--debug", "--out", str(tmp_path / "o")
    )
    assert "Traceback" in debug.stderr


def test_samples_lists_bundled_data() -> None:
    out = tradeforge("samples")
    assert out.returncode == 0
    for name in ("GOOG", "BTC-PERP", "ETH-BTC", "6EH4", "EURUSD"):
        assert name in out.stdout


def test_several_data_run_one_instance_per_symbol_unless_together(tmp_path: Path) -> None:
    args = ["backtest", "-s", "sma_cross", "-d", "ETH-BTC", "-d", "LTC-BTC", "--cash", "1", "--no-report"]
    out = tradeforge(*args, "--out", str(tmp_path / "each"))
    assert out.returncode == 0, out.stderr
    trades = pd.read_csv(tmp_path / "each" / "trades.csv")
    assert sorted(set(zip(trades["strategy"], trades["symbol"], strict=True))) == [
        ("SmaCross[ETH-BTC]", "ETH-BTC"),
        ("SmaCross[LTC-BTC]", "LTC-BTC"),
    ]
    out = tradeforge(*args, "--together", "--out", str(tmp_path / "together"))
    assert out.returncode == 0, out.stderr
    trades = pd.read_csv(tmp_path / "together" / "trades.csv")
    assert set(trades["strategy"]) == {"SmaCross"}  # one instance; SmaCross trades its first symbol


def test_rejected_orders_are_pointed_out(tmp_path: Path) -> None:
    frame = load_sample_frame("BTC-PERP").iloc[:3000]  # about 46,000 a coin: 10,000 cash buys no whole coin
    path = tmp_path / "BTC.csv"
    frame.to_csv(path)
    out = tradeforge("backtest", "-s", "sma_cross", "-d", str(path), "--no-report", "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "orders were rejected" in text and "insufficient margin: not enough to buy one lot of BTC" in text
    assert "Raise --cash" in text


def test_ml_strategy_with_retraining_from_the_command_line(tmp_path: Path) -> None:
    frame = load_sample_frame("ETH-BTC").iloc[:6000]
    path = tmp_path / "ETH-BTC.csv"
    frame.to_csv(path)
    out = tradeforge(
        "backtest", "-s", "ml", "-d", str(path), "--cash", "10", "--commission", "0.001",
        "-p", "model='Naive Bayes'", "-p", "horizon=12", "-p", "train_window=2000", "-p", "warmup=2000",
        "-p", "retrain_every=500", "-p", "fee_rate=0.001", "--no-report", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["strategies"]["MLStrategy"]["params"]["model"] == "Naive Bayes"
    trades = pd.read_csv(tmp_path / "out" / "trades.csv")
    assert len(trades) > 0
    first_entry = pd.Timestamp(trades["entry_time"].min())
    assert first_entry > pd.Timestamp(frame.index[2000])  # nothing is traded during the warm-up
