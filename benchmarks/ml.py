"""ML experiment speed on 45,031 BTC-PERP 1-minute bars: per model, the fit on one training window and the
prediction of one test block, and one whole grid cell (features, labels, walk-forward over the out-of-sample part,
scores and the fee-aware backtest) at the default grid's settings; then the default grid (the nine pytrader
classifiers x granularity 5, 15, 60 x datasetinputs 2, 5, 10; window 5,000, step 2,500) end to end on local
worker processes, which must finish in under 10 minutes on 2 cores.

Prints seconds per model and cell; with --json PATH writes rows {"case", "library", "seconds", "per_second",
"peak_mb", "trades", "equity"}: per_second counts training rows for fits, predicted bars for predictions and
cells, cells for the grid; trades and equity are the cell's backtest (0 for fit/predict rows).

    python benchmarks/ml.py [--workers 2] [--models "RBF SVM" ...] [--skip-grid] [--json bench.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from threadpoolctl import threadpool_limits

from common import measure, row, write_json
from tradeforge.data import load_sample
from tradeforge.ml.experiments import ExperimentGrid, evaluate_cell, grid_cells, run_grid
from tradeforge.ml.experiments_cell import CellData, OOSPlan, prepare_cell, walk_forward_folds
from tradeforge.ml.models import PYTRADER_NAMES, make_model

GRANULARITY = 15
INPUTS = 5


def time_model(
    name: str, params: dict[str, Any], cell: CellData, train: np.ndarray, test: np.ndarray, repeat: int = 3
) -> tuple[float, float]:
    """Median seconds to fit on one training window and to predict one test block, one BLAS thread (as a cell)."""
    fits, predictions = [], []
    with threadpool_limits(limits=1):
        for _ in range(repeat):
            model = make_model(name, calibrate=False, **params)
            fits.append(measure(lambda m=model: m.fit(cell.X[train], cell.labels.label[train]))[1])
            predictions.append(measure(lambda m=model: m.predict(cell.X[test]))[1])
    return statistics.median(fits), statistics.median(predictions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="local processes for the default grid")
    parser.add_argument("--models", nargs="*", default=list(PYTRADER_NAMES), help="models to time per cell")
    parser.add_argument("--skip-grid", action="store_true", help="time the models only, not the default grid")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()

    bars = load_sample("BTC-PERP")
    grid = ExperimentGrid(models=tuple(args.models))
    print(f"{len(bars):,} bars of {bars.symbol}; window {grid.windows[0]}, step {grid.block}, fees {grid.fees}")
    rows: list[dict[str, Any]] = []
    cells = [
        c for c in grid_cells({"BTC-PERP": bars}, grid) if c.granularity == GRANULARITY and c.datasetinputs == INPUTS
    ]
    cell_data = prepare_cell(bars, "returns", INPUTS, GRANULARITY, fees=grid.fees)
    print(f"{'model':<34}{'fit (window)':>14}{'predict (block)':>17}{'cell':>10}{'folds':>7}{'trades':>8}{'return':>9}")
    for config in cells:
        plan = OOSPlan(config.oos_first, config.oos_stop, config.step)
        train, test = next(iter(walk_forward_folds(cell_data, config.window, plan)))
        fit_s, predict_s = time_model(config.model, dict(config.params), cell_data, train, test)
        (cell_row, _), cell_s, peak = measure(lambda c=config: evaluate_cell(c, bars, "returns"))
        if cell_row["status"] != "ok":
            raise SystemExit(f"{config.model}: the cell failed: {cell_row['error']}")
        equity = 10_000.0 * (1.0 + cell_row["total_return"])
        name = config.model
        rows.append(row(f"ml fit {name} ({config.window} rows)", "tradeforge", fit_s, len(train), None, 0, 0.0))
        rows.append(row(f"ml predict {name} ({len(test)} rows)", "tradeforge", predict_s, len(test), None, 0, 0.0))
        rows.append(row(f"ml cell {name} (g{GRANULARITY} i{INPUTS} w{config.window})", "tradeforge", cell_s,
                        cell_row["n_oos"], peak, cell_row["n_trades"], equity))  # fmt: skip
        print(f"{name:<34}{fit_s:>12.3f} s{predict_s:>15.3f} s{cell_s:>8.2f} s{cell_row['n_folds']:>7}"
              f"{cell_row['n_trades']:>8,}{cell_row['total_return']:>9.1%}")  # fmt: skip

    if not args.skip_grid:
        default = ExperimentGrid()
        with tempfile.TemporaryDirectory() as tmp:
            result, seconds, peak = measure(lambda: run_grid({"BTC-PERP": bars}, default, tmp, executor=args.workers))
        frame = result.frame
        per_model = frame.groupby("model")["seconds"].agg(["mean", "max"])
        print(f"\ndefault grid: {result.cells} cells in {seconds:.1f} s on {result.executor} "
              f"({result.failed} failed); seconds per cell by model:")  # fmt: skip
        for model, stats in per_model.iterrows():
            print(f"  {model:<34} mean {stats['mean']:7.2f} s   max {stats['max']:7.2f} s")
        best = frame.sort_values("sortino", ascending=False).iloc[0]
        print(f"best cell by Sortino: {best['model']} g={best['granularity']} i={best['datasetinputs']}: "
              f"return {best['total_return']:.2%} vs buy & hold {best['buy_hold_return']:.2%}, "
              f"deflated Sharpe {best['dsr']:.3f}")  # fmt: skip
        verdict = "OK" if seconds < 600 else "TOO SLOW"
        print(f"target: under 600 s on 2 cores -> {verdict}")
        rows.append(row(f"ml default grid ({result.cells} cells, {args.workers} workers)", "tradeforge", seconds,
                        result.cells, peak, int(frame["n_trades"].sum()), 0.0))  # fmt: skip
    write_json(rows, args.json_path)


if __name__ == "__main__":
    main()
