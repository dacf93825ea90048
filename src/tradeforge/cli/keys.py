"""`tradeforge keys ...`: exchange API keys for live trading, kept in an encrypted file.

Secrets are only ever prompted for (hidden) or read from the environment, never taken as options, and never
printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tradeforge.cli.common import console, fail
from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.service import keys as service

keys_app = typer.Typer(
    no_args_is_help=True,
    help="Exchange API keys for live trading: stored encrypted, or read from TRADEFORGE_<EXCHANGE>_API_KEY/_SECRET.",
)
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help=f"encrypted key file (default: ${service.KEY_FILE_ENV}, else the user's data folder/tradeforge/keys.enc)",
    ),
]
DebugOpt = Annotated[bool, typer.Option(help="show full tracebacks")]


def say(text: str) -> None:
    """One plain line: paths and exchange ids are not Rich markup, and long paths are not wrapped."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _key_file(key_file: Path | None) -> Path:
    return service.default_key_file() if key_file is None else key_file.expanduser()


def _passphrase(*, confirm: bool) -> str:
    """$TRADEFORGE_KEY_PASSPHRASE when set, else a hidden prompt (repeated for confirmation when ``confirm``)."""
    from_env = os.environ.get(service.PASSPHRASE_ENV)
    if from_env:
        return from_env
    return str(typer.prompt("Key file passphrase", hide_input=True, confirmation_prompt=confirm))


@keys_app.command("set")
def set_keys(
    exchange: Annotated[str, typer.Argument(help="ccxt exchange id, e.g. binance")],
    key_file: KeyFileOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Store (or replace) an exchange's API key, secret and optional password in the encrypted key file."""
    path = _key_file(key_file)
    try:
        name = service.exchange_id(exchange)
        api_key = str(typer.prompt(f"{name} API key", hide_input=True)).strip()
        secret = str(typer.prompt(f"{name} secret", hide_input=True)).strip()
        password = str(
            typer.prompt(
                f"{name} password (press Enter if the exchange needs none)",
                default="",
                show_default=False,
                hide_input=True,
            )
        ).strip()
        # A new file gets its passphrase typed twice; an existing one proves it by decrypting.
        passphrase = _passphrase(confirm=not path.exists())
        keys = service.ApiKeys(name, api_key, secret, password or None, source=f"key file {path}")
        written = service.save_api_keys(keys, passphrase, path)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    say(f"stored API key {keys.masked_key} for {name} in {written}")


@keys_app.command("list")
def list_keys(key_file: KeyFileOpt = None, debug: DebugOpt = False) -> None:
    """The exchanges with keys in the encrypted key file."""
    path = _key_file(key_file)
    if not path.exists():
        say(f"no key file at {path}; add keys with `tradeforge keys set EXCHANGE`")
        return
    try:
        exchanges = service.list_key_exchanges(_passphrase(confirm=False), path)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    if not exchanges:
        say(f"{path} holds no keys; add some with `tradeforge keys set EXCHANGE`")
        return
    say(f"{path}:")
    for name in exchanges:
        say(f"  {name}")


@keys_app.command("remove")
def remove_keys(
    exchange: Annotated[str, typer.Argument(help="ccxt exchange id")],
    key_file: KeyFileOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Delete an exchange's keys from the encrypted key file."""
    path = _key_file(key_file)
    try:
        if not path.exists():
            raise ConfigError(f"there is no key file at {path}; nothing to remove")
        written = service.remove_api_keys(exchange, _passphrase(confirm=False), path)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    say(f"removed the keys for {service.exchange_id(exchange)} from {written}")


@keys_app.command("check")
def check_keys(
    exchange: Annotated[str, typer.Argument(help="ccxt exchange id")],
    key_file: KeyFileOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Load the keys as live trading would (environment, then key file) and say where they came from."""
    try:
        keys = service.load_api_keys(exchange, key_file=key_file)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    extra = ", with a password" if keys.password else ""
    say(f"{keys.exchange}: API key {keys.masked_key}{extra}, from {keys.source}")
