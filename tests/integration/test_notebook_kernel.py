"""In a real Jupyter kernel (ipykernel, driven by nbclient on 127.0.0.1), Backtest.plot() and plot_heatmaps()
without a filename display the chart as cell output, through plotly's renderer, and write no file; with a
filename they write it and display nothing."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat

SETUP = """
import warnings
warnings.simplefilter("ignore")
from tradeforge.compat import Backtest, Strategy
from tradeforge.compat.lib import crossover, plot_heatmaps
from tradeforge.compat.test import GOOG, SMA

class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.a = self.I(SMA, self.data.Close, self.n1)
        self.b = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.a, self.b):
            self.position.close()
            self.buy()
        elif crossover(self.b, self.a):
            self.position.close()
            self.sell()

bt = Backtest(GOOG.iloc[:400], SmaCross, commission=.002)
stats = bt.run()
"""


def _figures(outputs: list[dict]) -> list[dict]:
    """The plotly figures a cell displayed (plotly's mimetype bundle)."""
    return [o["data"]["application/vnd.plotly.v1+json"] for o in outputs if o.get("output_type") == "display_data"]


def test_charts_show_inline_in_a_jupyter_kernel(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell("print(bt.plot())"),
        nbformat.v4.new_code_cell(
            "heatmap = bt.optimize(n1=[5, 10], n2=[20, 30], return_heatmap=True, workers=1)[1]\n"
            "print(plot_heatmaps(heatmap))"
        ),
        nbformat.v4.new_code_cell("print(bt.plot(filename='chart').name)"),
    ]
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    setup, chart, heatmaps, to_file = (cell["outputs"] for cell in nb.cells)
    assert [o for o in setup if o.get("output_type") == "error"] == []

    (figure,) = _figures(chart)
    kinds = [trace["type"] for trace in figure["data"]]
    assert "candlestick" in kinds
    assert {"SMA(C,10)", "SMA(C,20)"} <= {trace.get("name") for trace in figure["data"]}
    assert "None" in "".join(o.get("text", "") for o in chart)

    (grid,) = _figures(heatmaps)
    assert [trace["type"] for trace in grid["data"]] == ["heatmap"]

    assert _figures(to_file) == []
    assert "chart.html" in "".join(o.get("text", "") for o in to_file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.html"]  # the inline charts wrote nothing
