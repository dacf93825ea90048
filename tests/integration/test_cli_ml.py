"""`tradeforge ml grid | automl | check-lookahead | models` from the command line, on bundled real data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeforge.cli import app

LEAKY = """
import pandas as pd

from tradeforge.ml.features import FeatureSet, Returns


def features(bars, datasetinputs, granularity):
    frame = FeatureSet([Returns(datasetinputs, granularity)]).compute(bars)
    close = pd.Series(bars.close, index=frame.index)
    frame["peek"] = close.shift(-1) / close - 1  # next bar's move: look-ahead
    return frame


def honest(bars, datasetinputs):
    return FeatureSet([Returns(datasetinputs)]).compute(bars)
"""


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, terminal_width=250, env=env)
    return result.exit_code, result.output


def run(*args: str, env: dict[str, str] | None = None) -> str:
    code, output = invoke(*args, env=env)
    assert code == 0, output
    return output


def test_grid_writes_a_resumable_leaderboard(tmp_path: Path) -> None:
    args = ("ml", "grid", "-d", "ETH-BTC", "-d", "LTC-BTC", "-g", "3", "-g", "12", "-i", "2", "-w", "800",
            "-m", "Naive Bayes", "-m", "lda", "-m", "Decision Tree", "-p", "Decision Tree.max_depth=3,6",
            "--step", "400", "--workers", "1", "-o", str(tmp_path))  # fmt: skip
    out = run(*args)
    assert "Best 15 of 16 cells by sortino (out of sample)" in out
    assert "16 cells computed, 0 already in the leaderboard, 0 failed" in out
    with (tmp_path / "leaderboard.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16 and {r["symbol"] for r in rows} == {"ETH-BTC", "LTC-BTC"}
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["params"] for r in rows if r["model"] == "Decision Tree"} == {'{"max_depth": 3}', '{"max_depth": 6}'}
    assert all(float(r["fees_paid"]) >= 0 and r["dsr"] for r in rows)
    assert (tmp_path / "leaderboard.sqlite").is_file()
    chart = (tmp_path / "leaderboard.html").read_text()
    assert "Naive Bayes" in chart and "Decision Tree" in chart and "<script src=" not in chart
    again = run(*args)
    assert "0 cells computed, 16 already in the leaderboard" in again


def test_grid_records_failing_cells_and_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    out = run("ml", "grid", "-d", "ETH-BTC", "-g", "3", "-i", "2", "-w", "800", "-w", "99999", "-m", "naive_bayes",
              "--step", "400", "--workers", "1", "-o", str(tmp_path))  # fmt: skip
    assert "1 cells computed" not in out and "2 cells computed" in out and "1 failed" in out
    assert "training window of 99999 bars" in out
    code, out = invoke("ml", "grid", "-d", "ETH-BTC", "-m", "Random Forrest", "-o", str(tmp_path / "x"))
    assert code == 1 and "unknown model 'Random Forrest'" in out and "Traceback" not in out
    code, out = invoke("ml", "grid", "-d", "ETH-BTC", "-p", "knn.n_neighbors", "-o", str(tmp_path / "x"))
    assert code == 1 and "MODEL.PARAMETER=A,B,C" in out


def test_automl_saves_the_best_model_and_models_lists_it(tmp_path: Path) -> None:
    registry = tmp_path / "models"
    out = run("ml", "automl", "-d", "ETH-BTC", "--trials", "4", "--registry", str(registry), "--name", "eth",
              "-m", "Naive Bayes", "-m", "lda", "-g", "12", "-i", "2", "-i", "3", "-w", "600", "--features", "returns",
              "--step", "500", "--fitness", "sharpe", "-o", str(tmp_path / "automl"))  # fmt: skip
    assert "Best 4 of 4 trials by sharpe" in out and "saved as" in out and "eth@1" in out
    assert "deflated Sharpe ratio" in out
    with (tmp_path / "automl" / "trials.csv").open() as fh:
        trials = list(csv.DictReader(fh))
    assert len(trials) == 4 and trials[0]["state"] == "COMPLETE"
    summary = json.loads((tmp_path / "automl" / "summary.json").read_text())
    assert summary["model"] == "eth@1" and summary["fitness"] == "sharpe"
    assert float(trials[0]["value"]) == pytest.approx(summary["best_value"])
    listing = run("ml", "models", "--registry", str(registry))
    assert "eth@1" in listing and "ETH-BTC" in listing and "returns" in listing and "g=12" in listing
    # the registry folder from the environment, as for the bar store
    assert "eth@1" in run("ml", "models", env={"TRADEFORGE_MODELS": str(registry)})
    assert "no models in" in run("ml", "models", "--registry", str(tmp_path / "empty"))


def test_check_lookahead_passes_clean_features_and_names_a_planted_leak(tmp_path: Path) -> None:
    out = run("ml", "check-lookahead", "-d", "ETH-BTC", "--features", "default", "-i", "3", "-g", "2")
    assert "no look-ahead found" in out and "clean" in out
    script = tmp_path / "leaky.py"
    script.write_text(LEAKY)
    code, out = invoke("ml", "check-lookahead", "-d", "ETH-BTC", "--features", f"{script}:features")
    assert code == 1, out
    assert "look-ahead: peek" in out and "1 column(s) use later bars" in out
    assert "ret1_" not in out.split("look-ahead:")[1]  # only the leaking column is named
    assert "clean" in run("ml", "check-lookahead", "-d", "ETH-BTC", "--features", f"{script}:honest", "-i", "4")
    code, out = invoke("ml", "check-lookahead", "-d", "ETH-BTC", "--features", f"{script}:nothing")
    assert code == 1 and "has no 'nothing'" in out and "features" in out and "Traceback" not in out


def test_a_custom_feature_function_drives_the_grid(tmp_path: Path) -> None:
    script = tmp_path / "mine.py"
    script.write_text(LEAKY)
    out = run("ml", "grid", "-d", "ETH-BTC", "-g", "3", "-i", "2", "-w", "800", "-m", "naive_bayes", "--step", "400",
              "--features", f"{script}:honest", "--workers", "1", "-o", str(tmp_path / "g"))  # fmt: skip
    assert "1 cells computed" in out and "0 failed" in out
    with (tmp_path / "g" / "leaderboard.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["features"].startswith("mine.py:honest@")


def test_serve_refuses_a_bad_port_before_starting(tmp_path: Path) -> None:
    code, out = invoke("ml", "serve", "--registry", str(tmp_path), "--port", "70000")
    assert code == 1 and "between 1 and 65535" in out and "serving" not in out
