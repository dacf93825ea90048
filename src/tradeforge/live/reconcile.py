"""Reconciliation: the exchange's open orders and balances against what the bot has stored and booked.

Run when live bars begin and every few live bars after (``Reconciler.check``):

1. every order the bot has working is looked up: what the exchange filled and the bot has not booked yet counts
   in the positions below (the gateway books it before the next step's bars, where a replay books it too);
2. open orders on the exchange for the deployment's symbols that no run placed are adopted as external orders:
   stored (role ``external``, status as the exchange says) and listed by ``tradeforge orders``, never touched;
3. the balance of each traded base asset must equal the deployment's baseline (what the account held before the
   bot's first order) plus the bot's net position, within two lots and what fees charged in the base asset can
   explain. A difference that remains means someone else traded the asset on this account, or a fill is missing:
   the bot refuses to go on (``ReconcileError`` with both figures and what to do), rather than trade on a wrong
   position.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tradeforge.core.engine import Engine
from tradeforge.core.errors import GatewayError
from tradeforge.core.ports import Clock
from tradeforge.core.types import OrderStatus, OrderType, Side
from tradeforge.live.recorder import EXTERNAL_ROLE
from tradeforge.live.venue import VenueGateway
from tradeforge.persistence import OrderRecord, RunRecord, UnitOfWorkFactory

log = logging.getLogger("tradeforge.live.reconcile")
NS_PER_MS = 1_000_000
_CID_SAFE = re.compile(r"[^A-Za-z0-9._:/-]")


class ReconcileError(GatewayError):
    """The exchange and the bot's records differ in a way the bot cannot resolve: it refuses to trade."""


@dataclass
class ReconcileReport:
    synced: int = 0  # working orders checked
    adopted: list[str] | None = None  # exchange ids of external orders adopted this time
    balances: dict[str, tuple[float, float]] | None = None  # asset -> (expected, on the exchange)


def fetch_totals(gateway: VenueGateway, assets: list[str]) -> dict[str, float]:
    ex = gateway.exchange
    balance = gateway.bridge.call("fetch balance", lambda: ex.fetch_balance())
    totals = balance.get("total") or {}
    return {a: float(totals.get(a) or 0.0) for a in assets}


def base_assets(gateway: VenueGateway, symbols: list[str]) -> dict[str, list[str]]:
    """base asset -> the traded symbols that have it as base."""
    out: dict[str, list[str]] = {}
    for symbol in symbols:
        out.setdefault(str(gateway.exchange.market(symbol)["base"]), []).append(symbol)
    return out


class Reconciler:
    def __init__(
        self,
        uows: UnitOfWorkFactory,
        run: RunRecord,
        engine: Engine,
        gateway: VenueGateway,
        baseline: Mapping[str, float],
        *,
        clock: Clock,
        max_fee_rate: float = 0.0,
        attempts: int = 3,
        settle: float = 0.5,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.uows = uows
        self.run = run
        self.engine = engine
        self.gateway = gateway
        self.baseline = dict(baseline)
        self.clock = clock
        self.max_fee_rate = max_fee_rate
        self.symbols = list(engine.base)
        self.checks = 0
        self.attempts = attempts  # a difference must persist this many looks (a fill may land between questions)
        self.settle = settle
        self.pause = pause

    def check(self, *, when: str) -> ReconcileReport:
        """One reconciliation (see the module doc); ReconcileError when the difference cannot be resolved."""
        self.checks += 1
        gw = self.gateway
        unbooked = gw.unbooked()  # filled on the exchange, booked before the next step
        report = ReconcileReport(synced=len(gw.working), adopted=[], balances={})
        known = gw.known_client_ids()
        for row in gw.open_orders_on_exchange(self.symbols):
            if row.get("clientOrderId") in known:
                continue
            adopted = self._adopt(row)
            if adopted is not None:
                assert report.adopted is not None
                report.adopted.append(adopted)
        assets = base_assets(gw, self.symbols)
        problems: list[str] = []
        for attempt in range(self.attempts):
            if attempt:  # a fill landed between the two questions: ask both again
                self.pause(self.settle * attempt)
                unbooked = gw.unbooked()
            problems = self._compare(assets, fetch_totals(gw, list(assets)), unbooked, report)
            if not problems:
                break
            log.info("reconciliation (%s): %s; asking again", when, "; ".join(problems))
        if problems:
            raise ReconcileError(
                f"reconciliation ({when}) found differences it cannot resolve: {'; '.join(problems)}. Someone else "
                "traded on this account, or a fill is missing. The bot does not trade on a position it cannot "
                "account for: bring the balance back by hand (or move other holdings to another account) and start "
                "it again, or start a new deployment (another name), which takes the balances as they are then"
            )
        log.info(
            "reconciliation (%s): %d working order(s) checked, %d external adopted, balances %s",
            when,
            report.synced,
            len(report.adopted or []),
            ", ".join(f"{a} {e:g}" for a, (e, _) in (report.balances or {}).items()),
        )
        return report

    def _compare(
        self, assets: dict[str, list[str]], totals: dict[str, float], unbooked: dict[str, float],
        report: ReconcileReport,
    ) -> list[str]:  # fmt: skip
        problems = []
        for asset, symbols in assets.items():
            position = sum(self.engine.portfolio.net_qty.get(s, 0.0) + unbooked.get(s, 0.0) for s in symbols)
            expected = self.baseline.get(asset, 0.0) + position
            actual = totals[asset]
            lots = max(self.engine.instruments[s].lot_size for s in symbols)
            traded = sum(f.qty for f in self.engine.fills if f.symbol in symbols)
            slack = 2 * lots + traded * self.max_fee_rate + 1e-9 * max(abs(expected), 1.0)
            assert report.balances is not None
            report.balances[asset] = (expected, actual)
            if abs(actual - expected) > slack:
                before = self.baseline.get(asset, 0.0)
                problems.append(
                    f"the exchange holds {actual:g} {asset}, the bot's records leave {expected:g} ({before:g} before "
                    f"its first order plus its net position {position:g} in {', '.join(symbols)})"
                )
        return problems

    def _adopt(self, row: dict[str, Any]) -> str | None:
        """Store an open order no run placed as external (once); its exchange id, or None if known already."""
        exid = str(row.get("id"))
        cid_raw = str(row.get("clientOrderId") or "")
        now = self.clock.now()
        with self.uows() as uow:
            if uow.orders.by_exchange_id(exid) is not None:
                return None
            if cid_raw and uow.orders.find(cid_raw) is not None:
                mine = uow.orders.get(cid_raw)
                if mine.role != EXTERNAL_ROLE:
                    raise ReconcileError(
                        f"order {cid_raw} (exchange id {exid}) is open on the exchange; the bot stored it as "
                        f"{mine.status.value} and does not track it: cancel it on the exchange by hand, then restart"
                    )
                return None
            cid = f"x{_CID_SAFE.sub('-', exid)}"[:36]
            side = Side.BUY if row.get("side") == "buy" else Side.SELL
            kind = OrderType.LIMIT if row.get("price") else OrderType.MARKET
            qty = float(row.get("amount") or 0.0) or None
            created = int(row.get("timestamp") or now // NS_PER_MS) * NS_PER_MS
            record = OrderRecord(
                cid, self.run.id or 0, EXTERNAL_ROLE, str(row.get("symbol")), side, kind, qty, created,
                fraction=None if qty else 1.0, limit=float(row["price"]) if row.get("price") else None,
                role=EXTERNAL_ROLE, tag=cid_raw[:64],
            )  # fmt: skip
            uow.orders.add(record, raw=row)
            uow.orders.update_status(cid, OrderStatus.SUBMITTED, ts=now)
            uow.orders.update_status(cid, OrderStatus.ACCEPTED, ts=now, raw=row, exchange_order_id=exid)
            uow.commit()
        log.warning(
            "adopted an order no run placed as external: %s %s %s %s @ %s (exchange id %s, client id %r); the bot "
            "leaves it alone",
            row.get("symbol"), row.get("side"), row.get("amount"), row.get("type"), row.get("price"), exid, cid_raw,
        )  # fmt: skip
        return exid
