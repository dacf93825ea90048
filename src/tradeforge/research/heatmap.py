"""Sweep heatmaps: a statistic over two parameters, as a plotly figure or a self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tradeforge.core.errors import ConfigError

if TYPE_CHECKING:
    from tradeforge.research.sweep import SweepResult


def sweep_heatmap(
    result: SweepResult, x: str, y: str, *, path: str | Path | None = None, value: str = "objective"
) -> Any:
    """``value`` (default: the objective) over parameters x and y; where other parameters vary, the best
    value over them is shown (the max when maximizing, else the min). Empty cells: combinations not run."""
    import plotly.graph_objects as go

    frame = result.stats
    for name in (x, y):
        if name not in result.params:
            raise ConfigError(f"{name!r} is not a swept parameter; choose from {', '.join(result.params)}")
    if x == y:
        raise ConfigError("x and y must be two different parameters")
    if value not in frame.columns:
        raise ConfigError(f"unknown value {value!r}; choose a statistics column such as sharpe, total_return")
    agg: Literal["max", "min"] = "max" if result.maximize or value != "objective" else "min"
    table = frame.pivot_table(index=y, columns=x, values=value, aggfunc=agg)
    best = result.best
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(dtype=np.float64),
            x=[str(c) for c in table.columns],
            y=[str(i) for i in table.index],
            colorscale="RdYlGn" if result.maximize or value != "objective" else "RdYlGn_r",
            colorbar={"title": value},
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{value}=%{{z:.4g}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[str(best[x])], y=[str(best[y])], mode="markers", name="best",
            marker={"symbol": "star", "size": 16, "color": "black"},
        )
    )  # fmt: skip
    o = result.overfitting
    note = (
        f"deflated Sharpe {o['deflated_sharpe']:.3f}, PBO {o['pbo']:.3f} over {len(frame):,} combinations"
        if o
        else f"{len(frame):,} combinations"
    )
    fig.update_layout(
        title=f"{value} by {x} and {y} (best {', '.join(f'{k}={v}' for k, v in best.items())}; {note})",
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
    )
    if path is not None:
        out = Path(path)
        if not out.parent.is_dir():
            raise ConfigError(f"cannot write {out}: folder {out.parent} does not exist")
        fig.write_html(out, include_plotlyjs=True, full_html=True)
    return fig
