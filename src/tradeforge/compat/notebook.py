"""Where Backtest.plot() and lib.plot_heatmaps() draw when no filename is given: inline in a Jupyter notebook
(as Backtesting.py shows its charts there), otherwise into an HTML file.

A notebook is recognised the way Backtesting.py does it (the JPY_PARENT_PID environment variable a Jupyter kernel
sets, or matplotlib's inline backend) and also by the running IPython kernel itself (JupyterLab, VS Code, Colab).
``set_bokeh_output(notebook=...)`` (Backtesting.py's name, kept so scripts run with only the import changed)
overrides the detection for the rest of the process through the TRADEFORGE_PLOT_NOTEBOOK environment variable
("1" inline, "0" files), which can also be set before Python starts.
"""

from __future__ import annotations

import os
import sys
from typing import Any

NOTEBOOK_ENV = "TRADEFORGE_PLOT_NOTEBOOK"


def set_bokeh_output(notebook: bool = False) -> None:
    """Draw charts inline in the notebook (True) or write them to HTML files (False), whatever is detected.

    Backtesting.py's ``backtesting.set_bokeh_output``; the charts are plotly's here, the switch is the same."""
    if not isinstance(notebook, bool):
        raise TypeError(f"set_bokeh_output(notebook=...) takes True or False, not {notebook!r}")
    os.environ[NOTEBOOK_ENV] = "1" if notebook else "0"


def in_notebook() -> bool:
    """Whether charts without a filename are shown inline (see the module docstring)."""
    forced = os.environ.get(NOTEBOOK_ENV, "").strip()
    if forced:
        if forced not in ("0", "1"):
            raise ValueError(f"{NOTEBOOK_ENV}={forced!r}: set it to 1 (charts inline in notebooks) or 0 (HTML files)")
        return forced == "1"
    if "JPY_PARENT_PID" in os.environ or "inline" in os.environ.get("MPLBACKEND", ""):
        return True
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def show_inline(fig: Any, config: dict[str, Any]) -> None:
    """Display a plotly figure in the notebook with plotly's own renderer for the front end it runs in."""
    fig.show(config=config)
