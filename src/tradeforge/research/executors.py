"""Where sweep chunks run: in this process, in local worker processes (the default), or on a Dask cluster.

Every executor runs the same task function on the same chunks and returns the results in chunk order, so a
sweep's results are identical whichever executor ran it. The payload (bars, grid, signal function, settings)
is sent to each worker once; tasks carry only a chunk's row range.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from tradeforge.core.errors import ConfigError

Task = Callable[[Any, tuple[int, int]], Any]
Done = Callable[[int], None]
"""done(number of combinations finished in the chunk that just completed)."""


class Executor(Protocol):
    """Runs task(payload, chunk) for every chunk; returns the results in chunk order."""

    workers: int

    def run(
        self, task: Task, payload: Any, chunks: Sequence[tuple[int, int]], done: Done | None = None
    ) -> list[Any]: ...


class SerialExecutor:
    """Everything in this process, one chunk after the other."""

    workers = 1

    def run(self, task: Task, payload: Any, chunks: Sequence[tuple[int, int]], done: Done | None = None) -> list[Any]:
        out = []
        for chunk in chunks:
            out.append(task(payload, chunk))
            if done is not None:
                done(chunk[1] - chunk[0])
        return out

    def __repr__(self) -> str:
        return "SerialExecutor()"


_WORKER_STATE: dict[str, Any] = {}  # per worker process: the payload sent once by the initializer


def _init_worker(task: Task, payload: Any) -> None:
    _WORKER_STATE["task"] = task
    _WORKER_STATE["payload"] = payload


def _run_in_worker(chunk: tuple[int, int]) -> Any:
    return _WORKER_STATE["task"](_WORKER_STATE["payload"], chunk)


class LocalExecutor:
    """Worker processes on this machine (default: one per core). On Linux and macOS the workers are forked, so
    signal functions defined anywhere (lambdas, closures, notebooks) work; elsewhere they must be importable."""

    def __init__(self, workers: int | None = None) -> None:
        count = workers if workers is not None else (os.cpu_count() or 1)
        if count < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self.workers = count

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"

    def run(self, task: Task, payload: Any, chunks: Sequence[tuple[int, int]], done: Done | None = None) -> list[Any]:
        if self.workers == 1 or len(chunks) <= 1:
            return SerialExecutor().run(task, payload, chunks, done)
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        results: dict[int, Any] = {}
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(chunks)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(task, payload),
        ) as pool:
            pending: dict[Future[Any], int] = {pool.submit(_run_in_worker, c): i for i, c in enumerate(chunks)}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    i = pending.pop(future)
                    results[i] = future.result()  # a worker's exception is raised here, with its traceback
                    if done is not None:
                        done(chunks[i][1] - chunks[i][0])
        return [results[i] for i in range(len(chunks))]


class DaskExecutor:
    """A Dask distributed cluster: pass its scheduler address ('tcp://10.0.0.5:8786') or a Client. The payload
    is scattered to every worker once; results come back in chunk order."""

    def __init__(self, address: str | Any) -> None:
        try:
            dist: Any = importlib.import_module("distributed")
        except ImportError as exc:
            raise ConfigError(
                "running on a Dask cluster needs the distributed package: pip install 'tradeforge[dask]'"
            ) from exc
        if isinstance(address, str):
            if not address.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
                raise ConfigError(f"a Dask scheduler address looks like tcp://HOST:PORT, got {address!r}")
            try:
                self.client: Any = dist.Client(address, timeout="10s")
            except OSError as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {address} ({exc}); is it running?") from exc
            self._owns = True
        else:
            self.client = address
            self._owns = False
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client.scheduler.address!r}, workers={self.workers})"

    def close(self) -> None:
        if self._owns:
            self.client.close()

    def run(self, task: Task, payload: Any, chunks: Sequence[tuple[int, int]], done: Done | None = None) -> list[Any]:
        dist: Any = importlib.import_module("distributed")
        shared = self.client.scatter(payload, broadcast=True)
        futures = [self.client.submit(task, shared, c, pure=False) for c in chunks]
        index = {f.key: i for i, f in enumerate(futures)}
        results: dict[int, Any] = {}
        for future in dist.as_completed(futures):
            i = index[future.key]
            results[i] = future.result()
            if done is not None:
                done(chunks[i][1] - chunks[i][0])
        return [results[i] for i in range(len(chunks))]


def make_executor(spec: str | int | Executor | None) -> Executor:
    """None or 'local': LocalExecutor (one process per core); an int: that many local processes; 'serial':
    this process; 'tcp://HOST:PORT': DaskExecutor; an executor object is used as it is."""
    if spec is None or spec == "local":
        return LocalExecutor()
    if spec == "serial":
        return SerialExecutor()
    if isinstance(spec, bool):
        raise ConfigError(f"executor must be 'local', 'serial', a number of workers or tcp://HOST:PORT, got {spec!r}")
    if isinstance(spec, int):
        return LocalExecutor(spec)
    if isinstance(spec, str):
        if "://" in spec:
            return DaskExecutor(spec)
        raise ConfigError(f"unknown executor {spec!r}: use 'local', 'serial', a number of workers or tcp://HOST:PORT")
    if hasattr(spec, "run"):
        return spec
    raise ConfigError(f"executor must be 'local', 'serial', a number of workers or tcp://HOST:PORT, got {spec!r}")
