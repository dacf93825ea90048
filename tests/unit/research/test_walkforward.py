"""Walk-forward optimization: windows, the choice made only in-sample, the stitched out-of-sample curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradeforge import fast
from tradeforge.core.errors import ConfigError
from tradeforge.data import load_sample
from tradeforge.research import sweep
from tradeforge.research.library import sma_cross
from tradeforge.research.signals import Bars
from tradeforge.research.walkforward import walk_forward

GRID = {"fast": range(5, 30, 5), "slow": range(20, 120, 20)}


def fast_lt_slow(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    return fast < slow


@pytest.mark.parametrize("mode", ["rolling", "expanding"])
def test_folds_choose_in_sample_and_trade_the_next_window(mode: str) -> None:
    goog = load_sample("GOOG")
    result = walk_forward(
        sma_cross, goog, GRID, train=500, test=250, mode=mode, constraint=fast_lt_slow, fees=0.002, executor="serial"
    )
    assert len(result.folds) == (len(goog) - 500) // 250
    for k, fold in enumerate(result.folds):
        test_start = 500 + 250 * k
        train_start = 0 if mode == "expanding" else test_start - 500
        assert fold.train_start == goog.ts[train_start] and fold.train_stop == goog.ts[test_start - 1]
        assert fold.test_start == goog.ts[test_start] and fold.test_stop == goog.ts[test_start + 249]
        # the parameters are what a sweep of the train window alone picks
        alone = sweep(sma_cross, goog.slice(train_start, test_start), GRID, constraint=fast_lt_slow, fees=0.002,
                      executor="serial")  # fmt: skip
        assert fold.params == alone.best
        # and the test window is traded flat-to-flat with signals from the history up to each bar
        window = goog.slice(train_start, test_start + 250)
        sig = sma_cross(Bars.of(window), np.array([fold.params["fast"]]), np.array([fold.params["slow"]]))
        a = test_start - train_start
        run = fast.simulate(
            window.open[a:], window.high[a:], window.low[a:], window.close[a:], sig.entries[a:], sig.exits[a:],
            sig.short_entries[a:], sig.short_exits[a:], fees=0.002,
        )  # fmt: skip
        assert fold.out_of_sample["total_return"] == pytest.approx(run.total_return[0], rel=1e-12, abs=1e-15)
    # the stitched curve compounds the folds' returns
    total = np.prod([1 + f.out_of_sample["total_return"] for f in result.folds]) - 1
    assert result.out_of_sample["total_return"] == pytest.approx(total, rel=1e-9)
    assert result.equity.iloc[-1] == pytest.approx(10_000 * (1 + total), rel=1e-9)
    assert len(result.equity) == 250 * len(result.folds)
    assert result.equity.index.is_monotonic_increasing
    assert result.in_sample["sharpe"] == pytest.approx(np.mean([f.in_sample["sharpe"] for f in result.folds]))


def test_report_and_table(tmp_path: Path) -> None:
    result = walk_forward(sma_cross, load_sample("GOOG"), GRID, train=750, test=500, constraint=fast_lt_slow,
                          executor="serial")  # fmt: skip
    table = result.table()
    assert list(table.columns[:5]) == ["fold", "train", "test", "fast", "slow"]
    path = result.plot(tmp_path / "wf.html")
    assert "out-of-sample" in path.read_text()


def test_bad_windows() -> None:
    goog = load_sample("GOOG")
    with pytest.raises(ConfigError, match="exceed the 2148 bars"):
        walk_forward(sma_cross, goog, GRID, train=2000, test=500, executor="serial")
    with pytest.raises(ConfigError, match="mode must be"):
        walk_forward(sma_cross, goog, GRID, train=500, test=100, mode="sliding", executor="serial")
