"""The websocket side of the simulator: binance's kline streams (``<symbol>@kline_<interval>``).

Every message leaves through one outbox, in the order the state changed: items are appended with the simulator's
lock held and sent by a single task, so a subscriber never sees a stale forming candle after the closed one (which
ccxt's cache, keyed by open time, would take as an update). Like binance, the forming candle is pushed again every
``push_interval`` seconds of wall time (binance: 2 s) besides when the clock moves; a watcher that was not waiting
when a bar closed thus hears of it soon after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tradeforge.live.simulator import wire
from tradeforge.live.simulator.book import Book
from tradeforge.live.simulator.errors import ApiError
from tradeforge.live.simulator.tape import BINANCE_INTERVALS

DROP = "drop"  # an outbox item that cuts every stream connection instead of sending


@dataclass(eq=False)
class StreamConn:
    """One websocket client and the kline intervals it subscribed to."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    intervals: set[str] = field(default_factory=set)

    def drop(self) -> None:
        """Cut the connection without a close frame, as a network failure would."""
        if self.transport is not None:
            self.transport.abort()


# (interval or DROP or "" for a direct message, JSON payload, the one connection it is for or None for all)
Item = tuple[str, Any, StreamConn | None]


class StreamHub:
    """Websocket connections, their subscriptions, and the outbox. The caller's lock guards all of it."""

    def __init__(self, book: Book, lock: threading.RLock, push_interval: float | None) -> None:
        self.book = book
        self.lock = lock
        self.push_interval = push_interval
        self.conns: set[StreamConn] = set()
        self.connects = 0
        self._outbox: list[tuple[list[Item], threading.Event | None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def attach(self) -> None:
        """Start the sender (and the periodic push) on the running loop; once, they outlive server restarts."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._tasks.append(self._loop.create_task(self._sender()))
        if self.push_interval is not None:
            self._tasks.append(self._loop.create_task(self._pusher(self.push_interval)))

    async def detach(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.drop_all()

    def drop_all(self) -> None:
        with self.lock:
            conns = list(self.conns)
            self.conns.clear()
        for conn in conns:
            conn.drop()

    # -------------------------------------------------------------------------------------------------- outbox
    def post(self, items: list[Item], done: threading.Event | None = None) -> bool:
        """Queue items to send, after everything queued before (call with the lock held to keep the order).
        Returns False when nothing runs to send them (the simulator is not serving)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return False
        with self.lock:
            self._outbox.append((items, done))
        loop.call_soon_threadsafe(wake.set)
        return True

    async def _sender(self) -> None:
        wake = self._wake
        if wake is None:
            return
        while True:
            await wake.wait()
            wake.clear()
            with self.lock:
                batch, self._outbox = self._outbox, []
            for items, done in batch:
                try:
                    await self._send(items)
                finally:
                    if done is not None:
                        done.set()

    async def _send(self, items: list[Item]) -> None:
        for interval, payload, target in items:
            with self.lock:
                conns = [target] if target is not None else list(self.conns)
            if interval == DROP:
                for conn in conns:
                    conn.drop()
                continue
            text = json.dumps(payload)
            for conn in conns:
                if (target is not None or interval in conn.intervals) and not conn.ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await conn.ws.send_str(text)

    async def _pusher(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            with self.lock:
                items: list[Item] = []
                for interval in sorted(self.subscribed_intervals()):
                    event = self.forming_event(interval)
                    if event is not None:
                        items.append((interval, event, None))
                if items:
                    self.post(items)

    # ----------------------------------------------------------------------------------------------- state
    def subscribed_intervals(self) -> set[str]:
        return {i for conn in self.conns for i in conn.intervals}

    def forming_event(self, interval: str) -> dict[str, Any] | None:
        tape = self.book.tape
        candle = tape.forming(tape.check_interval(interval))
        if candle is None:
            return None
        return wire.kline_event(self.book.market.id, interval, candle, False, tape.now_ms)

    # ------------------------------------------------------------------------------------------- websocket
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET /ws, /ws/<n> (ccxt) or /ws/<stream>[/<stream>...] (subscribed by the URL)."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = StreamConn(ws, request.transport)
        with self.lock:
            self.conns.add(conn)
            self.connects += 1
        try:
            in_path = [s for s in request.match_info.get("streams", "").split("/") if "@" in s]
            if in_path:
                self._subscribe(conn, in_path, None)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_message(conn, msg.data)
        finally:
            with self.lock:
                self.conns.discard(conn)
        return ws

    def _on_message(self, conn: StreamConn, data: str) -> None:
        try:
            msg = json.loads(data)
            method, params, req_id = msg.get("method"), msg.get("params", []), msg.get("id")
        except (ValueError, AttributeError):
            self.post([("", {"error": {"code": 3, "msg": "Invalid JSON: expected a JSON object"}}, conn)])
            return
        if method == "SUBSCRIBE":
            self._subscribe(conn, list(params), req_id)
        elif method == "UNSUBSCRIBE":
            with self.lock:
                for stream in params:
                    conn.intervals.discard(str(stream).rsplit("_", 1)[-1])
                self.post([("", {"result": None, "id": req_id}, conn)])
        elif method == "LIST_SUBSCRIPTIONS":
            streams = [f"{self.book.market.id.lower()}@kline_{i}" for i in sorted(conn.intervals)]
            self.post([("", {"result": streams, "id": req_id}, conn)])
        else:
            error = {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}
            self.post([("", {"error": error, "id": req_id}, conn)])

    def _subscribe(self, conn: StreamConn, streams: list[Any], req_id: Any) -> None:
        """Subscribe, answer, and send the forming candle at once (binance's first push comes within 2 s)."""
        prefix = f"{self.book.market.id.lower()}@kline_"
        with self.lock:
            intervals = []
            for stream in streams:
                name = str(stream)
                interval = name[len(prefix) :] if name.startswith(prefix) else ""
                try:
                    if interval not in BINANCE_INTERVALS:
                        raise ApiError(400, 2, f"unknown stream {name!r} (the simulator streams {prefix}<interval>)")
                    self.book.tape.check_interval(interval)
                except ApiError as err:
                    self.post([("", {"error": {"code": 2, "msg": f"Invalid request: {err.msg}"}, "id": req_id}, conn)])
                    return
                intervals.append(interval)
            conn.intervals.update(intervals)
            items: list[Item] = [] if req_id is None else [("", {"result": None, "id": req_id}, conn)]
            for interval in intervals:
                event = self.forming_event(interval)
                if event is not None:
                    items.append((interval, event, conn))
            self.post(items)
