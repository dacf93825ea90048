"""HistoricalFeed: bars of one or many symbols on one timeline (union of timestamps; gaps allowed)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.core.events import Bar

IntArray = npt.NDArray[np.int64]


class SimulatedClock:
    """A clock that only moves when told to: the replay path's stand-in for wall-clock time."""

    def __init__(self, start: int = 0) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def advance_to(self, ts: int) -> None:
        if ts < self._now:
            raise ConfigError(f"the simulated clock cannot go back from {self._now} to {ts}")
        self._now = ts


class HistoricalFeed:
    def __init__(self, series: Sequence[BarSeries]) -> None:
        if not series:
            raise ConfigError("a feed needs at least one bar series")
        names = [s.symbol for s in series]
        if len(set(names)) != len(names):
            raise ConfigError(f"the same symbol appears twice in the data: {names}")
        base_tf = series[0].timeframe
        for s in series:
            if s.timeframe != base_tf:
                raise ConfigError(
                    f"{s.symbol} has a different time frame from {series[0].symbol}; run one base time frame "
                    "and ask for longer ones with data_for(symbol, '1h')"
                )
        self.series = list(series)
        self.timeframe = base_tf
        if len(series) == 1:
            self.step_ts: IntArray = series[0].ts
            self.bar_index: dict[str, IntArray | None] = {series[0].symbol: None}
            return
        self.step_ts = np.unique(np.concatenate([s.ts for s in series]))
        self.bar_index = {}
        for s in series:
            if s.ts.shape == self.step_ts.shape:
                self.bar_index[s.symbol] = None
                continue
            idx = np.full(self.step_ts.shape[0], -1, dtype=np.int64)
            idx[np.searchsorted(self.step_ts, s.ts)] = np.arange(len(s), dtype=np.int64)
            self.bar_index[s.symbol] = idx

    def __len__(self) -> int:
        return int(self.step_ts.shape[0])

    def groups(self) -> Iterator[tuple[int, list[Bar]]]:
        """(timestamp, the bars of every symbol that has one then), in time order."""
        group: list[Bar] = []
        for bar in self.bars():
            if group and bar.ts != group[0].ts:
                yield group[0].ts, group
                group = []
            group.append(bar)
        if group:
            yield group[0].ts, group

    def bars(self) -> Iterator[Bar]:
        """Every bar as an event, in time order (symbols in the order given at equal times)."""
        pointers = [0] * len(self.series)
        for ts in self.step_ts.tolist():
            for slot, s in enumerate(self.series):
                p = pointers[slot]
                if p < len(s) and int(s.ts[p]) == ts:
                    pointers[slot] = p + 1
                    yield Bar(
                        s.symbol,
                        ts,
                        float(s.open[p]),
                        float(s.high[p]),
                        float(s.low[p]),
                        float(s.close[p]),
                        float(s.volume[p]),
                        s.timeframe,
                    )
