"""Where Backtest.plot() and lib.plot_heatmaps() draw when no filename is given: inline in a Jupyter notebook
(as Backtesting.py shows its charts there), otherwise into an HTML file.

A notebook is an IPython kernel running in this process (JupyterLab, classic Jupyter, VS Code, Colab): a script
started from a notebook (``!python script.py``, subprocess) inherits the kernel's environment variables but has no
notebook to draw in, so it writes files. ``set_bokeh_output(notebook=...)`` (Backtesting.py's name, kept so
scripts run with only the import changed) overrides the detection for the rest of the process through the
TRADEFORGE_PLOT_NOTEBOOK environment variable ("1" inline, "0" files), which can also be set before Python starts.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

NOTEBOOK_ENV = "TRADEFORGE_PLOT_NOTEBOOK"


def set_bokeh_output(notebook: Any = False) -> None:
    """Draw charts inline in the notebook (true) or write them to HTML files (false), whatever is detected.

    Backtesting.py's ``backtesting.set_bokeh_output``; the charts are plotly's here, the switch is the same."""
    os.environ[NOTEBOOK_ENV] = "1" if bool(notebook) else "0"


def in_notebook() -> bool:
    """Whether charts without a filename are shown inline (see the module docstring)."""
    forced = os.environ.get(NOTEBOOK_ENV, "").strip()
    if forced:
        if forced not in ("0", "1"):
            raise ValueError(f"{NOTEBOOK_ENV}={forced!r}: set it to 1 (charts inline in notebooks) or 0 (HTML files)")
        return forced == "1"
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def show_inline(fig: Any, config: dict[str, Any]) -> bool:
    """Display a plotly figure in the notebook with plotly's own renderer for the front end it runs in.

    False (with a warning saying why) when plotly cannot render here, e.g. without the nbformat package that its
    notebook output needs: the caller then writes the HTML file instead."""
    try:
        fig.show(config=config)
    except ValueError as exc:  # plotly: "Mime type rendering requires nbformat>=4.2.0 but it is not installed"
        warnings.warn(
            f"could not show the chart in the notebook ({exc}); writing it to an HTML file instead. "
            "pip install nbformat to see charts inline",
            UserWarning,
            stacklevel=3,
        )
        return False
    return True
