"""`tradeforge live` from a deployment file: refused without `live = true` or without API keys (which never come
from the command line); in its own process against the local exchange simulator: trades, `tradeforge kill` cancels,
flattens (the account's BTC back to what it held before) and stops; a killed deployment does not trade again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_paper_cli import Paper, cli_app, wait_until_bar
from typer.testing import CliRunner

pytest.importorskip("ccxt")

from tradeforge.data import load_sample
from tradeforge.live.simulator import ExchangeSimulator
from tradeforge.persistence import SqlUnitOfWorkFactory, make_engine

START, LIVE = 1000, 60
SYM = "BTC/USDT"
FILE = """name = "btc-live"
strategy = "sma_cross_long"
data = ["binance:BTC/USDT@1m"]
cash = 5000
warmup = 50
reconcile_every = 5
{live}
[params]
fast = 3
slow = 8
[risk]
max_orders_per_minute = 10
max_daily_loss = 2000
"""


def live(args: list[str], env: dict[str, str]) -> Paper:
    return Paper(args, env, command="live")


@pytest.fixture
def sim() -> Iterator[ExchangeSimulator]:
    balances = {"USDT": 8_000.0, "BTC": 0.25}
    with ExchangeSimulator(load_sample("BTC-PERP"), start=START, balances=balances, push_interval=0.2) as s:
        yield s


def write(tmp_path: Path, live: str) -> Path:
    path = tmp_path / "live.toml"
    path.write_text(FILE.format(live=live))
    return path


def test_live_needs_an_explicit_opt_in_and_keys_from_the_environment_or_the_key_file(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "300", "TRADEFORGE_KEY_FILE": str(tmp_path / "none.enc")})
    db = ["--db", f"sqlite:///{tmp_path / 't.db'}", "--store", str(tmp_path / "bars")]
    no_opt_in = runner.invoke(cli_app(), ["live", "-c", str(write(tmp_path, "")), *db])
    assert no_opt_in.exit_code == 1 and "live = true" in no_opt_in.output
    no_keys = runner.invoke(cli_app(), ["live", "-c", str(write(tmp_path, "live = true")), *db])
    assert no_keys.exit_code == 1
    assert "TRADEFORGE_BINANCE_API_KEY" in no_keys.output and "tradeforge keys set" in no_keys.output
    on_cli = runner.invoke(cli_app(), ["live", "-c", str(write(tmp_path, "live = true")), "--api-key", "x", *db])
    assert on_cli.exit_code == 2  # no such option: keys never come from the command line
    keys_in_file = tmp_path / "keys.toml"
    keys_in_file.write_text(FILE.format(live='live = true\nsecret = "abc"'))
    refused = runner.invoke(cli_app(), ["live", "-c", str(keys_in_file), *db])
    assert refused.exit_code == 1 and "unknown setting(s) ['secret']" in refused.output
    bad_flag = runner.invoke(cli_app(), ["live", "-c", str(write(tmp_path, 'live = true\nnative_stops = "yes"')), *db])
    assert bad_flag.exit_code == 1 and "native_stops must be true or false" in bad_flag.output


def test_live_on_the_simulator_trades_and_the_kill_switch_flattens_the_account(
    sim: ExchangeSimulator, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'trading.db'}"
    control = str(tmp_path / "control")
    args = ["-c", str(write(tmp_path, "live = true")), "--db", db, "--store", str(tmp_path / "bars"),
            "--control-dir", control, "--simulator-port", str(sim.port), "--poll", "0.1"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    btc = load_sample("BTC-PERP")
    bot = live(args, env)
    try:
        bot.wait_for("reconciliation (start of live trading)")
        for k in range(LIVE):
            sim.advance()
            wait_until_bar(db, int(btc.ts[START + k]))  # a live bot trades each bar as it closes
        runner = CliRunner(env={"COLUMNS": "300"})
        shown = runner.invoke(cli_app(), ["orders", "--db", db, "--name", "btc-live", "--limit", "500"])
        assert shown.exit_code == 0 and "Orders" in shown.output  # (the table's width depends on the terminal)
        killed = runner.invoke(cli_app(), ["kill", "btc-live", "--db", db, "--control-dir", control, "--wait", "0"])
        assert killed.exit_code == 0, killed.output
        bot.wait_for("kill switch")
        sim.advance()  # the flattening market order fills at the next bar's open
        code, out = bot.finish()
        log = "".join(bot.log) + "".join(bot.lines.queue)
        assert code == 0 and "live run" in out and "stopped (kill switch" in out, log
    finally:
        bot.kill()
    held = sim.balance("BTC")
    assert held.free + held.locked == pytest.approx(0.25, abs=1e-9)  # flat: what the account held before the bot
    assert not [o for o in sim.orders() if o.is_open]
    uows = SqlUnitOfWorkFactory(make_engine(db))
    with uows.reader() as uow:
        dep = uow.deployments.by_name("btc-live")
        stored = uow.orders.list(deployment_id=dep.id if dep else None)
        still_open = uow.trades.open_trades(deployment_id=dep.id if dep else None)
    assert dep is not None and not dep.enabled
    assert sorted(o.client_order_id for o in stored if o.exchange_order_id) == sorted(
        o.client_order_id for o in sim.orders()
    )
    assert not still_open and all(o.status.value == "filled" for o in stored if o.role == "kill_switch")
    assert sum(1 for o in stored if o.status.value == "filled") >= 6
    again = live(args, env)
    code, _ = again.finish()
    assert code == 1 and "was killed" in "".join(again.lines.queue)
