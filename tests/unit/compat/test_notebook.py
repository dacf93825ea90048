"""Charts in Jupyter: Backtest.plot() and lib.plot_heatmaps() without a filename show the chart inline (plotly's
renderer) and write no file, as Backtesting.py does there; set_bokeh_output() switches it like Backtesting.py's.
A script a notebook starts, and a kernel whose plotly cannot render (no nbformat), write the file."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.basedatatypes
import pytest

import tradeforge.compat as compat
from tradeforge.compat import Backtest, Strategy, set_bokeh_output
from tradeforge.compat.lib import crossover, plot_heatmaps
from tradeforge.compat.notebook import NOTEBOOK_ENV, in_notebook
from tradeforge.compat.test import GOOG, SMA


class SmaCross(Strategy):
    def init(self) -> None:
        self.fast = self.I(SMA, self.data.Close, 10)
        self.slow = self.I(SMA, self.data.Close, 20)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell()


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[Any, dict[str, Any]]]:
    """Figures passed to plotly's show() (the call that renders in a notebook), in a clean working folder."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(plotly.basedatatypes.BaseFigure, "show", lambda fig, **kw: calls.append((fig, kw)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(NOTEBOOK_ENV, "")  # restored after the test although set_bokeh_output() writes it
    for name in ("JPY_PARENT_PID", "MPLBACKEND"):
        monkeypatch.delenv(name, raising=False)
    return calls


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """An IPython kernel running in this process, as get_ipython() shows it inside JupyterLab, VS Code or Colab."""
    shell = types.SimpleNamespace(config={"IPKernelApp": {"connection_file": "kernel-1.json"}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def _run() -> Backtest:
    bt = Backtest(GOOG.iloc[:300], SmaCross, commission=0.002)
    bt.run()
    return bt


def test_in_a_jupyter_kernel_plot_shows_inline_and_writes_no_file(
    shown: list[tuple[Any, dict[str, Any]]], kernel: None, tmp_path: Path
) -> None:
    bt = _run()
    assert bt.plot() is None
    assert list(tmp_path.iterdir()) == []
    assert len(shown) == 1
    fig, kwargs = shown[0]
    assert kwargs["config"]["displaylogo"] is False
    kinds = [trace.type for trace in fig.data]
    assert "candlestick" in kinds
    names = {trace.name for trace in fig.data}
    assert {"SMA(C,10)", "SMA(C,20)"} <= names
    candles = next(trace for trace in fig.data if trace.type == "candlestick")
    assert np.allclose(np.asarray(candles.close, dtype=float), GOOG["Close"].iloc[:300].to_numpy())


def test_a_filename_still_writes_the_file_in_a_notebook(
    shown: list[tuple[Any, dict[str, Any]]], kernel: None, tmp_path: Path
) -> None:
    path = _run().plot(filename="chart")
    assert path == tmp_path / "chart.html" and path.stat().st_size > 100_000
    assert shown == []


def test_set_bokeh_output_overrides_the_detection(
    shown: list[tuple[Any, dict[str, Any]]], kernel: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert in_notebook()
    set_bokeh_output(notebook=False)  # as in Backtesting.py: files even inside Jupyter
    assert os.environ[NOTEBOOK_ENV] == "0" and not in_notebook()
    path = _run().plot()
    assert path == tmp_path / "SmaCross.html" and path.exists() and shown == []

    monkeypatch.delitem(sys.modules, "IPython")
    set_bokeh_output(np.True_)  # inline although no notebook is detected (any true value, as Backtesting.py)
    assert in_notebook()
    assert _run().plot() is None and len(shown) == 1
    set_bokeh_output(0)
    assert not in_notebook()
    assert compat.set_bokeh_output is set_bokeh_output


def test_a_script_started_from_a_notebook_writes_files(
    shown: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`!python script.py` inherits the kernel's JPY_PARENT_PID and MPLBACKEND but has no notebook to draw in."""
    monkeypatch.setenv("JPY_PARENT_PID", "12345")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    assert not in_notebook()
    assert _run().plot() == tmp_path / "SmaCross.html" and shown == []


def test_without_nbformat_the_chart_is_written_to_a_file_with_a_warning(
    kernel: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_nbformat(fig: Any, **kwargs: Any) -> None:  # what plotly raises in a kernel without nbformat
        raise ValueError("Mime type rendering requires nbformat>=4.2.0 but it is not installed")

    monkeypatch.setattr(plotly.basedatatypes.BaseFigure, "show", no_nbformat)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match=r"could not show the chart in the notebook \(Mime type rendering requires"):
        path = _run().plot()
    assert path == tmp_path / "SmaCross.html" and path.stat().st_size > 100_000


def test_outside_a_notebook_the_default_file_is_written(
    shown: list[tuple[Any, dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not in_notebook()
    bt = _run()
    assert bt.plot(filename="") == tmp_path / "SmaCross.html"  # Backtesting.py's default filename is ''
    assert bt.plot() == tmp_path / "SmaCross.html" and shown == []
    monkeypatch.setenv(NOTEBOOK_ENV, "maybe")
    with pytest.raises(ValueError, match="TRADEFORGE_PLOT_NOTEBOOK='maybe'"):
        bt.plot()


def test_a_running_ipython_kernel_is_recognised(
    shown: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # what IPython.get_ipython() returns inside a kernel (JupyterLab, VS Code, Colab) and in the terminal
    kernel = types.SimpleNamespace(config={"IPKernelApp": {"connection_file": "kernel-1.json"}})
    terminal = types.SimpleNamespace(config={"TerminalIPythonApp": {}})
    shell: Any = kernel
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert in_notebook()
    shell = terminal  # the IPython terminal: charts go to files
    assert not in_notebook()
    shell = None
    assert not in_notebook()


def test_plot_heatmaps_inline_in_a_notebook(
    shown: list[tuple[Any, dict[str, Any]]], kernel: None, tmp_path: Path
) -> None:
    index = pd.MultiIndex.from_product([[5, 10], [20, 30, 40]], names=["n1", "n2"])
    heatmap = pd.Series(np.arange(6.0), index=index, name="Equity Final [$]")
    assert plot_heatmaps(heatmap) is None and list(tmp_path.iterdir()) == []
    ((fig, _),) = shown
    assert [trace.type for trace in fig.data] == ["heatmap"]
    assert np.array_equal(np.asarray(fig.data[0].z, dtype=float), [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]])
    path = plot_heatmaps(heatmap, filename="grid")
    assert path == tmp_path / "grid.html" and path.exists() and len(shown) == 1
