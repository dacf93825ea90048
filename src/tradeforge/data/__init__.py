"""Market data at the edge: bundled samples, bar files, the Parquet bar store, sources, validation, resampling."""

from tradeforge.data.files import SUPPORTED_SUFFIXES, default_symbol, read_bars, write_bars
from tradeforge.data.frames import frame_to_series, series_to_frame
from tradeforge.data.gaps import Gap, find_gaps
from tradeforge.data.samples import (
    SampleInfo,
    list_samples,
    load_group,
    load_sample,
    load_sample_frame,
    sample_instrument,
    sample_path,
)
from tradeforge.data.timeframes import MONTH_NS, infer_timeframe, timeframe_ns

__all__ = [
    "MONTH_NS",
    "SUPPORTED_SUFFIXES",
    "Gap",
    "SampleInfo",
    "default_symbol",
    "find_gaps",
    "frame_to_series",
    "infer_timeframe",
    "list_samples",
    "load_group",
    "load_sample",
    "load_sample_frame",
    "read_bars",
    "sample_instrument",
    "sample_path",
    "series_to_frame",
    "timeframe_ns",
    "write_bars",
]

from tradeforge.data.store import BarStore, StoreEntry

__all__ += ["BarStore", "StoreEntry"]
from tradeforge.data.resample import Resampled, Session, resample  # noqa: E402

__all__ += ["Resampled", "Session", "resample"]
from tradeforge.data.names import StoreRef, load_bars, parse_store_ref  # noqa: E402
from tradeforge.data.validate import Check, check_file, check_series  # noqa: E402

__all__ += ["Check", "StoreRef", "check_file", "check_series", "load_bars", "parse_store_ref"]
