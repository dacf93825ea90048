"""Writing plotly figures: one self-contained HTML page (plotly.js embedded: it opens offline) or an image
beside it. Shared by the model plots (tradeforge.ml.plots) and the result plots (tradeforge.ml.result_plots)."""

from __future__ import annotations

import html
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tradeforge.core.errors import ConfigError

__all__ = ["HTML_SUFFIXES", "IMAGE_SUFFIXES", "PathArg", "finish_figure", "image_export_available", "save_figure"]

PathArg = str | os.PathLike[str]

HTML_SUFFIXES = (".html", ".htm")
IMAGE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".webp")
_PLOTLY_CONFIG: dict[str, Any] = {"responsive": True, "displaylogo": False, "showSendToCloud": False}

# --- writing -------------------------------------------------------------------------------------------------------


def save_figure(fig: go.Figure, path: PathArg) -> list[Path]:
    """Write `fig` to `path` and return the files written.

    .html / .htm: one self-contained HTML file (plotly.js embedded: it opens offline). An image suffix (.png, .svg,
    .pdf, .jpg, .jpeg, .webp): the HTML file beside it (same name, .html), then the image through kaleido; if the
    image cannot be rendered here (kaleido >= 1 or Chrome missing) a ConfigError says so after the HTML is written.
    """
    target = Path(path).expanduser()
    suffix = target.suffix.lower()
    if suffix not in HTML_SUFFIXES + IMAGE_SUFFIXES:
        raise ConfigError(
            f"cannot tell which format to write {str(target)!r}: end the path in .html (a self-contained page) or "
            f"in one of {', '.join(IMAGE_SUFFIXES)} (an image, plus the HTML page beside it)"
        )
    _check_target(target)
    page = target if suffix in HTML_SUFFIXES else target.with_suffix(".html")
    if page != target:
        _check_target(page)
    page.write_text(_html_document(fig), encoding="utf-8")
    written = [page]
    if suffix in IMAGE_SUFFIXES:
        try:
            fig.write_image(str(target))
        except (ImportError, ValueError, RuntimeError, OSError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise ConfigError(
                f"wrote {str(page)!r} but could not render {target.name!r}: plotly exports images with the kaleido "
                f"package (>= 1) and a Chrome or Chromium browser, which this machine lacks ({detail}). Install both "
                "(pip install 'kaleido>=1', then plotly_get_chrome) or open the HTML file and use its camera button."
            ) from exc
        written.append(target)
    return written


@cache
def image_export_available() -> bool:
    """Whether plotly can render PNG here (kaleido >= 1 and a Chrome it can start). Tries a tiny figure, once."""
    try:
        go.Figure().to_image(format="png", width=10, height=10)
    except Exception:  # any failure means "no": a missing package, a missing browser, a browser that won't start
        return False
    return True


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"cannot write the plot to {str(path)!r}: it is a folder; pass a file path such as plot.html")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot overwrite {str(path)!r}: the file is not writable; choose another path")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(path)!r}: creating its folder failed: {exc}") from exc


def _html_document(fig: go.Figure) -> str:
    document = str(fig.to_html(include_plotlyjs=True, full_html=True, config=_PLOTLY_CONFIG))
    text = fig.layout.title.text or "tradeforge plot"
    title = html.escape(re.sub(r"<[^>]+>", " ", text.split("<br>")[0]).strip())
    charset = re.search(r"<meta charset=[^>]*>", document)
    if charset is not None:
        return document[: charset.end()] + f"\n<title>{title}</title>" + document[charset.end() :]
    return document.replace("<head>", f"<head>\n<title>{title}</title>", 1)


def finish_figure(fig: go.Figure, path: PathArg | None) -> go.Figure:
    """Write fig to path (see save_figure) when a path is given; return fig."""
    if path is not None:
        save_figure(fig, path)
    return fig
