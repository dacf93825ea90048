"""README examples run as tests: the Python blocks that are whole programs are executed and their output checked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_first_backtest_example_prints_the_reference_numbers(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "class SmaCross(Strategy)" in b)
    script = tmp_path / "example.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    first_line = out.stdout.splitlines()[0]
    assert first_line == "93 56263.52"


def test_multi_symbol_example_runs_one_book_per_pair(tmp_path: Path) -> None:
    first = next(b for b in python_blocks() if "class SmaCross(Strategy)" in b)
    multi = next(b for b in python_blocks() if 'load_group("crypto-5m")' in b)
    script = tmp_path / "multi.py"
    script.write_text(
        first.split("result = run_backtest")[0] + multi + "\nprint(sorted(result.strategies))\n"
        "print(len(result.timestamps))\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    lines = out.stdout.splitlines()
    names = eval(lines[-2])  # a printed list of strategy names
    assert len(names) == 10 and "sma[ETH-BTC]" in names
    assert int(lines[-1]) >= 5760  # the union of the ten pairs' timestamps


def test_streaming_example_trades_bar_by_bar(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "engine.push_bar(bar)" in b)
    script = tmp_path / "stream.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    fills = int(out.stdout.split()[0])
    assert fills > 50  # SMA(10,20) crosses on 2,000 one-minute bars: dozens of round trips


def test_cli_demo_writes_reports(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tradeforge.cli", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "56263.51934" in out.stdout  # the GOOG reference equity in the summary table
    # the two losing crypto runs compound to about -100% a year: their Sharpe Ratios explode and a note says why
    note = " ".join(out.stdout[out.stdout.index("note:") :].split())
    assert note.startswith("note: btc-perp-breakout, crypto-5m-sma-cross: the Sharpe Ratio is Backtesting.py's")
    for slug in ("goog-sma-cross", "btc-perp-breakout", "crypto-5m-sma-cross"):
        report = tmp_path / slug / "report.html"
        assert report.stat().st_size > 100_000
        assert (tmp_path / slug / "trades.csv").read_text().count("\n") > 10


def test_cli_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradeforge.cli",
            "backtest",
            "-s",
            "sma_cross",
            "-d",
            "GOOG",
            "-p",
            "fsat=3",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "SmaCross has no parameter 'fsat'" in out.stderr
    assert "fast=10" in out.stderr


def test_backtesting_py_compat_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "from tradeforge.compat import Backtest, Strategy" in b)
    script = tmp_path / "compat_example.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert lines[0] == "93 56263.52"
    assert lines[1].startswith("SmaCross(n1=") and lines[1].endswith(" 50")  # 50 admissible combinations
    assert (tmp_path / "sma_cross.html").stat().st_size > 100_000


def test_multi_asset_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "class TopRoc(Strategy)" in b)
    script = tmp_path / "multi_asset.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    first = out.stdout.splitlines()[0].split()
    assert int(first[1]) > 20  # trades
    for symbol in ("AAPL", "IBM", "KO", "MSFT"):
        assert symbol in out.stdout
    assert (tmp_path / "top_roc.html").stat().st_size > 100_000


def test_bar_store_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "BarStore(" in b)
    script = tmp_path / "store.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.splitlines() == ["True", "[('BTC-PERP', '1m', 45031)]", "10080"]  # 7 days x 1,440 minutes
    assert (tmp_path / "bars" / "sample" / "BTC-PERP" / "1m.g000001.parquet").exists()


def test_resample_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if 'resample(load_sample("BTC-PERP"), "1h")' in b)
    script = tmp_path / "resample.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    count, complete = out.stdout.split()
    assert int(count) == 751 and complete == "False"


def test_data_commands_example(tmp_path: Path) -> None:
    text = README.read_text()
    block = re.search(r"```bash\n(export TRADEFORGE_STORE=\./bars\n.*?)```", text, flags=re.S)
    assert block is not None
    script = (
        block.group(1)
        .replace("./bars", str(tmp_path / "bars"))
        .replace("tradeforge ", f"{sys.executable} -m tradeforge.cli ")
    )
    script = script.replace(" -s sma_cross ", f" -s sma_cross -o {tmp_path / 'bt'} --no-report ")
    out = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, cwd=README.parent)
    assert out.returncode == 0, out.stderr
    assert "stored 45,031 bar(s) as ftx:BTC-PERP@1m" in out.stdout
    assert "ftx:BTC-PERP@1h" in out.stdout
    assert "GOOG 1d, 2,148 bars" in out.stdout
    assert "Return [%]" in out.stdout


def test_load_bars_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if 'load_bars("ftx:BTC-PERP@1m"' in b)
    script = tmp_path / "names.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert lines[0] == "1440 2148"
    assert lines[1].startswith("gaps: ") and "hole(s)" in lines[1]


def test_sweep_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "result = sweep(" in b)
    script = tmp_path / "sweep.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.startswith("{'fast_n': ")
    assert "deflated Sharpe ratio: " in out.stdout and "verdict: " in out.stdout
    assert (tmp_path / "heatmap.html").stat().st_size > 100_000


def test_walk_forward_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "wf = walk_forward(" in b)
    script = tmp_path / "wf.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "oos_sharpe" in out.stdout
    assert (tmp_path / "walkforward.html").exists()


def test_signal_strategy_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "strategy = signal_strategy(sma_cross" in b)
    script = tmp_path / "engine.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["93", "56263.52"]


def test_ml_features_example(tmp_path: Path) -> None:
    block = next(b for b in python_blocks() if "default_feature_set(datasetinputs=5)" in b)
    script = tmp_path / "ml.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert lines[0] == "32 {-1: 2051, 0: 1437, 1: 2260}"  # 32 feature columns; sell, hold, buy counts
    assert lines[1] == "True"


def test_sharpe_note_names_only_the_runs_whose_sharpe_exploded() -> None:
    from tradeforge.cli.app import sharpe_note

    assert sharpe_note([("a", {"Sharpe Ratio": 0.6}), ("b", {"Sharpe Ratio": -3.0})]) is None
    assert sharpe_note([("a", {"Sharpe Ratio": float("nan")}), ("b", {})]) is None
    note = sharpe_note([("a", {"Sharpe Ratio": -4963.0}), ("b", {"Sharpe Ratio": 1.2}), ("c", {"Sharpe Ratio": -11})])
    assert note is not None and note.startswith("a, c: the Sharpe Ratio is Backtesting.py's")
