"""A real Dask scheduler and two worker processes on 127.0.0.1 run a sweep and a walk-forward; the results are
identical to the local ones."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from tradeforge.data import load_sample
from tradeforge.research import DaskExecutor, sweep
from tradeforge.research.library import sma_cross
from tradeforge.research.walkforward import walk_forward

GRID = {"fast": range(5, 51, 5), "slow": range(20, 201, 20)}


def fast_lt_slow(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    return fast < slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
        worker_dashboard_address=None,
    ) as c:  # fmt: skip
        yield c


def test_sweep_on_a_dask_cluster_equals_the_local_run(cluster: LocalCluster) -> None:
    data = load_sample("BTC-PERP")
    local = sweep(
        sma_cross, data, GRID, constraint=fast_lt_slow, fees=0.001, split=0.6, lot_size=0.0, executor="serial"
    )
    remote = sweep(
        sma_cross, data, GRID, constraint=fast_lt_slow, fees=0.001, split=0.6, lot_size=0.0,
        executor=cluster.scheduler_address, chunk_size=10,
    )  # fmt: skip
    assert remote.executor.startswith("DaskExecutor('tcp://127.0.0.1:")
    assert "workers=2" in remote.executor
    pd.testing.assert_frame_equal(local.stats, remote.stats)
    assert local.best == remote.best
    assert local.overfitting == pytest.approx(remote.overfitting)


def test_walk_forward_with_a_client(cluster: LocalCluster) -> None:
    data = load_sample("GOOG")
    kwargs = {"train": 500, "test": 250, "constraint": fast_lt_slow, "fees": 0.002}
    local = walk_forward(sma_cross, data, GRID, executor="serial", **kwargs)
    with Client(cluster.scheduler_address) as client:
        remote = walk_forward(sma_cross, data, GRID, executor=DaskExecutor(client), **kwargs)
    pd.testing.assert_series_equal(local.equity, remote.equity)
    assert [f.params for f in local.folds] == [f.params for f in remote.folds]
