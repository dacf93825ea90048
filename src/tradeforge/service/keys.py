"""Exchange API keys for live trading: from environment variables or from an encrypted key file.

Keys never come from the command line (it ends up in shell history and process lists). Lookup order:

1. ``TRADEFORGE_<EXCHANGE>_API_KEY`` and ``TRADEFORGE_<EXCHANGE>_SECRET`` (plus ``TRADEFORGE_<EXCHANGE>_PASSWORD``
   for exchanges that need one), EXCHANGE upper-cased with every other character than A-Z and 0-9 made ``_``;
2. the key file (``$TRADEFORGE_KEY_FILE``, else ``<user data folder>/keys.enc``), decrypted with the passphrase in
   ``TRADEFORGE_KEY_PASSPHRASE``.

The key file is JSON ``{"version": 1, "kdf": "scrypt", "salt", "n", "r", "p", "token"}``: ``token`` is a Fernet
token under a key derived from the passphrase by Scrypt with the stored salt and cost parameters; it decrypts to
JSON ``{exchange_id: {"apiKey": ..., "secret": ..., "password": ...}}``. Every write is atomic, mode 0600, with a
fresh salt.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tradeforge.core.errors import ConfigError
from tradeforge.service.data import user_data_dir

KEY_FILE_ENV = "TRADEFORGE_KEY_FILE"
PASSPHRASE_ENV = "TRADEFORGE_KEY_PASSPHRASE"
FILE_VERSION = 1
MIN_PASSPHRASE = 8
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
# Upper bounds on the cost parameters read from a file, so a tampered file cannot make us allocate gigabytes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


def _mask(value: str) -> str:
    """All but the last 4 characters hidden; short values hidden entirely."""
    return "****" + value[-4:] if len(value) > 8 else "****"


@dataclass(frozen=True, repr=False)
class ApiKeys:
    """One exchange's credentials and where they came from. ``repr`` never shows the secret or password."""

    exchange: str
    api_key: str
    secret: str
    password: str | None = None
    source: str = ""

    @property
    def masked_key(self) -> str:
        return _mask(self.api_key)

    def ccxt_config(self) -> dict[str, str]:
        """The credentials as ccxt expects them in an exchange's config."""
        config = {"apiKey": self.api_key, "secret": self.secret}
        if self.password is not None:
            config["password"] = self.password
        return config

    def __repr__(self) -> str:
        password = "None" if self.password is None else "'****'"
        return (
            f"ApiKeys(exchange={self.exchange!r}, api_key={self.masked_key!r}, secret='****', "
            f"password={password}, source={self.source!r})"
        )

    __str__ = __repr__


def exchange_id(exchange: str) -> str:
    """The exchange id as stored: stripped and lower-cased (ccxt ids are lower case)."""
    name = exchange.strip().lower()
    if not name:
        raise ConfigError("the exchange id is empty; give a ccxt exchange id such as binance or kraken")
    return name


def env_prefix(exchange: str) -> str:
    """``binance`` -> ``TRADEFORGE_BINANCE``; ``gate.io`` -> ``TRADEFORGE_GATE_IO``."""
    return "TRADEFORGE_" + re.sub(r"[^A-Z0-9]", "_", exchange_id(exchange).upper())


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    """``$TRADEFORGE_KEY_FILE``, else ``<user data folder>/keys.enc``."""
    explicit = (os.environ if env is None else env).get(KEY_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return user_data_dir() / "keys.enc"


# --- the encrypted file ---------------------------------------------------------------------------------------


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> Fernet:
    key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


def _damaged(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path} is not a readable tradeforge key file ({why}); restore it from a backup, or move it away and "
        "store the keys again with `tradeforge keys set <exchange>`"
    )


def _read(path: Path, passphrase: str) -> dict[str, dict[str, str]]:
    """Decrypt the key file into {exchange: {"apiKey", "secret", ["password"]}}."""
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise _damaged(path, "not JSON") from None
    if not isinstance(doc, dict):
        raise _damaged(path, "not a JSON object")
    if doc.get("version") != FILE_VERSION or doc.get("kdf") != "scrypt":
        raise _damaged(path, f"unknown version {doc.get('version')!r} / kdf {doc.get('kdf')!r}")
    n, r, p = doc.get("n"), doc.get("r"), doc.get("p")
    if not (isinstance(n, int) and isinstance(r, int) and isinstance(p, int)) or any(
        isinstance(v, bool) for v in (n, r, p)
    ):
        raise _damaged(path, "scrypt parameters n, r, p must be integers")
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        raise _damaged(path, f"scrypt parameters out of range (n={n}, r={r}, p={p})")
    token = doc.get("token")
    if not isinstance(doc.get("salt"), str) or not isinstance(token, str):
        raise _damaged(path, "salt and token must be strings")
    try:
        salt = base64.b64decode(doc["salt"], validate=True)
    except (ValueError, binascii.Error):
        raise _damaged(path, "salt is not base64") from None
    try:
        plain = _derive(passphrase, salt, n, r, p).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError, ValueError):
        raise ConfigError(
            f"cannot decrypt {path}: wrong passphrase ({PASSPHRASE_ENV}) or the file is damaged"
        ) from None
    try:
        entries = json.loads(plain)
    except (ValueError, UnicodeDecodeError):
        raise _damaged(path, "the decrypted content is not JSON") from None
    if not isinstance(entries, dict) or not all(
        isinstance(k, str)
        and isinstance(v, dict)
        and isinstance(v.get("apiKey"), str)
        and isinstance(v.get("secret"), str)
        and isinstance(v.get("password", ""), str)
        for k, v in entries.items()
    ):
        raise _damaged(path, "the decrypted content is not {exchange: {apiKey, secret[, password]}}")
    return entries


def _write(path: Path, passphrase: str, entries: Mapping[str, Mapping[str, str]]) -> None:
    """Encrypt ``entries`` under a fresh salt and replace ``path`` atomically; the file is mode 0600."""
    salt = os.urandom(SALT_BYTES)
    token = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).encrypt(
        json.dumps(entries, sort_keys=True).encode("utf-8")
    )
    doc: dict[str, Any] = {
        "version": FILE_VERSION,
        "kdf": "scrypt",
        "salt": base64.b64encode(salt).decode("ascii"),
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "token": token.decode("ascii"),
    }
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    except OSError as exc:
        raise ConfigError(f"cannot write the key file {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.chmod(tmp, 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot write the key file {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _entries_or_new(path: Path, passphrase: str) -> dict[str, dict[str, str]]:
    """The current entries (the passphrase must open the file), or {} for a new file (passphrase long enough)."""
    if path.exists():
        return _read(path, passphrase)
    if len(passphrase) < MIN_PASSPHRASE:
        raise ConfigError(f"the passphrase for a new key file must have at least {MIN_PASSPHRASE} characters")
    return {}


# --- public use cases -----------------------------------------------------------------------------------------


def load_api_keys(exchange: str, *, key_file: Path | None = None, env: Mapping[str, str] | None = None) -> ApiKeys:
    """The API keys for ``exchange``: from the environment if set there, else from the encrypted key file."""
    env = os.environ if env is None else env
    name = exchange_id(exchange)
    prefix = env_prefix(name)
    key_var, secret_var, password_var = f"{prefix}_API_KEY", f"{prefix}_SECRET", f"{prefix}_PASSWORD"
    api_key, secret, password = env.get(key_var) or "", env.get(secret_var) or "", env.get(password_var) or None
    if api_key and secret:
        return ApiKeys(name, api_key, secret, password, source=f"environment ({key_var})")
    if api_key or secret:
        have, missing = (key_var, secret_var) if api_key else (secret_var, key_var)
        raise ConfigError(f"{have} is set but {missing} is not; set both (or neither, to use the key file)")
    if password:
        raise ConfigError(f"{password_var} is set but {key_var} and {secret_var} are not; set all of them")

    path = default_key_file(env) if key_file is None else Path(key_file).expanduser()
    how_to_set = (
        f"set {key_var} and {secret_var} (and {password_var} if the exchange needs one), or store them "
        f"encrypted with `tradeforge keys set {name}`"
    )
    if not path.exists():
        raise ConfigError(f"no API keys for {name}: {how_to_set} (key file {path} does not exist)")
    passphrase = env.get(PASSPHRASE_ENV)
    if not passphrase:
        raise ConfigError(
            f"no API keys for {name} in the environment, and the key file {path} exists but {PASSPHRASE_ENV} "
            "is not set; set it to the file's passphrase"
        )
    entries = _read(path, passphrase)
    if name not in entries:
        present = ", ".join(sorted(entries)) or "none"
        raise ConfigError(
            f"no API keys for {name} in {path} (it holds: {present}); add them with `tradeforge keys set {name}` "
            f"or set {key_var} and {secret_var}"
        )
    entry = entries[name]
    return ApiKeys(name, entry["apiKey"], entry["secret"], entry.get("password") or None, source=f"key file {path}")


def save_api_keys(keys: ApiKeys, passphrase: str, key_file: Path | None = None) -> Path:
    """Add or replace one exchange's keys in the key file, keeping the others. Returns the file's path."""
    name = exchange_id(keys.exchange)
    if not keys.api_key or not keys.secret:
        raise ConfigError(f"both the API key and the secret for {name} are needed; one of them is empty")
    path = default_key_file() if key_file is None else Path(key_file).expanduser()
    entries = _entries_or_new(path, passphrase)
    entry = {"apiKey": keys.api_key, "secret": keys.secret}
    if keys.password:
        entry["password"] = keys.password
    entries[name] = entry
    _write(path, passphrase, entries)
    return path


def remove_api_keys(exchange: str, passphrase: str, key_file: Path | None = None) -> Path:
    """Delete one exchange's keys from the key file. Returns the file's path."""
    name = exchange_id(exchange)
    path = default_key_file() if key_file is None else Path(key_file).expanduser()
    if not path.exists():
        raise ConfigError(f"there is no key file at {path}; nothing to remove")
    entries = _read(path, passphrase)
    if name not in entries:
        present = ", ".join(sorted(entries)) or "none"
        raise ConfigError(f"no API keys for {name} in {path} (it holds: {present})")
    del entries[name]
    _write(path, passphrase, entries)
    return path


def list_key_exchanges(passphrase: str, key_file: Path | None = None) -> list[str]:
    """The exchanges with keys in the key file, sorted; [] when there is no file."""
    path = default_key_file() if key_file is None else Path(key_file).expanduser()
    if not path.exists():
        return []
    return sorted(_read(path, passphrase))
