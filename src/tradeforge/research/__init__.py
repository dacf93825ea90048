"""Research on the fast path: parameter sweeps, walk-forward optimization, executors (local processes or a
Dask cluster) and the strategies they find, runnable in the event engine."""

from tradeforge.research.executors import DaskExecutor, Executor, LocalExecutor, SerialExecutor, make_executor
from tradeforge.research.grid import Grid, make_grid
from tradeforge.research.signals import Bars, Signals
from tradeforge.research.sweep import SweepResult, sweep

__all__ = [
    "Bars",
    "DaskExecutor",
    "Executor",
    "Grid",
    "LocalExecutor",
    "SerialExecutor",
    "Signals",
    "SweepResult",
    "make_executor",
    "make_grid",
    "sweep",
]
