"""`tradeforge sweep` and `tradeforge walkforward` from the command line, on bundled data."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from tradeforge.cli import app


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_sweep_command_writes_stats_heatmap_and_summary(tmp_path: Path) -> None:
    out = run(
        "sweep", "-s", "sma_cross", "-d", "GOOG", "-p", "fast=5:50:5", "-p", "slow=20:200:20",
        "--constraint", "fast < slow", "--fees", "0.002", "--split", "0.7", "--workers", "1", "-o", str(tmp_path),
    )  # fmt: skip
    assert "Best 10 of 90 by sharpe" in out
    assert "deflated Sharpe ratio" in out and "probability of backtest overfitting" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["best"]) == {"fast", "slow"}
    assert summary["best"]["fast"] < summary["best"]["slow"]
    stats = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(stats) == 91 and stats[0].startswith("fast,slow,total_return")
    assert (tmp_path / "heatmap.html").stat().st_size > 100_000
    assert re.search(rf"fast=\s*{summary['best']['fast']}, slow=\s*{summary['best']['slow']}", out)


def test_sweep_with_a_signal_function_from_a_file(tmp_path: Path) -> None:
    script = tmp_path / "mine.py"
    script.write_text(
        "import numpy as np\n"
        "from tradeforge.research import Signals\n"
        "def momentum(bars, lookback):\n"
        "    c = bars.close[:, None]\n"
        "    past = np.full((len(c), len(lookback)), np.nan)\n"
        "    for j, n in enumerate(lookback):\n"
        "        past[n:, j] = c[:-n, 0]\n"
        "    up = c > past\n"
        "    return Signals(entries=up, exits=~up & ~np.isnan(past))\n"
    )
    out = run("sweep", "-s", f"{script}:momentum", "-d", "AAPL", "-p", "lookback=5,10,20,50", "--workers", "1",
              "--objective", "return", "-o", str(tmp_path / "o"))  # fmt: skip
    assert "Best 4 of 4 by total_return" in out


def test_sweep_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sweep", "-s", "sma_cross", "-d", "GOOG", "-p", "fast=5:50", "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert "START:STOP:STEP" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        app, ["sweep", "-s", "sma_cross", "-d", "GOOG", "-p", "fast=5,10", "--constraint", "fast < slowest"]
    )
    assert result.exit_code == 1 and "slowest" in result.output


def test_walkforward_command(tmp_path: Path) -> None:
    out = run(
        "walkforward", "-s", "sma_cross", "-d", "GOOG", "-p", "fast=5:25:5", "-p", "slow=20:100:20",
        "--constraint", "fast < slow", "--train", "500", "--test", "250", "--fees", "0.002", "--workers", "1",
        "-o", str(tmp_path),
    )  # fmt: skip
    assert "Walk-forward, 6 folds (rolling)" in out
    assert "In-sample (mean of folds)" in out
    assert (tmp_path / "walkforward.html").exists()
    assert len((tmp_path / "folds.csv").read_text().splitlines()) == 7
