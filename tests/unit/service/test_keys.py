"""Exchange API keys (tradeforge.service.keys and `tradeforge keys ...`): environment variables first, then the
encrypted key file; secrets never leave through repr, output or the file's bytes."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeforge.cli import app
from tradeforge.core.errors import ConfigError
from tradeforge.service import keys
from tradeforge.service.keys import (
    ApiKeys,
    default_key_file,
    list_key_exchanges,
    load_api_keys,
    remove_api_keys,
    save_api_keys,
)

REAL_SCRYPT_N = keys.SCRYPT_N
PASS = "correct horse battery"
KEY = "AKIAkey0123456789wxyz"
SECRET = "s3cr3t-VALUE-never-shown-9f8e7d"
PASSWORD = "trading-pw-42"


def plain(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No TRADEFORGE_* variable of the developer's shell leaks in; the user data folder is temporary; the KDF is
    cheap (the file stores n, so reading follows it) except where a test restores the real cost."""
    for name in list(os.environ):
        if name.startswith("TRADEFORGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(keys, "SCRYPT_N", 2**10)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "keys.enc"


def file_env(key_file: Path, passphrase: str = PASS) -> dict[str, str]:
    return {"TRADEFORGE_KEY_FILE": str(key_file), "TRADEFORGE_KEY_PASSPHRASE": passphrase}


# --- environment variables ------------------------------------------------------------------------------------


def test_environment_variables_are_used_first_even_with_a_key_file(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", "file-key-1234", "file-secret"), PASS, key_file)
    env = {
        **file_env(key_file),
        "TRADEFORGE_BINANCE_API_KEY": KEY,
        "TRADEFORGE_BINANCE_SECRET": SECRET,
        "TRADEFORGE_BINANCE_PASSWORD": PASSWORD,
    }
    got = load_api_keys("binance", env=env)
    assert (got.exchange, got.api_key, got.secret, got.password) == ("binance", KEY, SECRET, PASSWORD)
    assert got.source == "environment (TRADEFORGE_BINANCE_API_KEY)"
    assert got.ccxt_config() == {"apiKey": KEY, "secret": SECRET, "password": PASSWORD}


def test_environment_names_upper_case_the_exchange_and_replace_other_characters() -> None:
    env = {"TRADEFORGE_GATE_IO_API_KEY": KEY, "TRADEFORGE_GATE_IO_SECRET": SECRET}
    got = load_api_keys("Gate.io", env=env)
    assert (got.exchange, got.api_key, got.secret, got.password) == ("gate.io", KEY, SECRET, None)
    assert got.ccxt_config() == {"apiKey": KEY, "secret": SECRET}
    assert keys.env_prefix("binance-us") == "TRADEFORGE_BINANCE_US"


def test_environment_is_read_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEFORGE_KRAKEN_API_KEY", KEY)
    monkeypatch.setenv("TRADEFORGE_KRAKEN_SECRET", SECRET)
    assert load_api_keys("kraken").secret == SECRET


def test_only_the_key_in_the_environment_names_the_missing_secret() -> None:
    with pytest.raises(ConfigError) as info:
        load_api_keys("binance", env={"TRADEFORGE_BINANCE_API_KEY": KEY})
    assert str(info.value) == (
        "TRADEFORGE_BINANCE_API_KEY is set but TRADEFORGE_BINANCE_SECRET is not; set both (or neither, to use the "
        "key file)"
    )


def test_only_the_secret_in_the_environment_names_the_missing_key() -> None:
    with pytest.raises(ConfigError, match="TRADEFORGE_OKX_SECRET is set but TRADEFORGE_OKX_API_KEY is not") as info:
        load_api_keys("okx", env={"TRADEFORGE_OKX_SECRET": SECRET})
    assert SECRET not in str(info.value)


def test_only_the_password_in_the_environment_is_an_error() -> None:
    with pytest.raises(ConfigError, match="TRADEFORGE_OKX_PASSWORD is set but TRADEFORGE_OKX_API_KEY"):
        load_api_keys("okx", env={"TRADEFORGE_OKX_PASSWORD": PASSWORD})


# --- the encrypted file ---------------------------------------------------------------------------------------


def test_file_round_trip(key_file: Path) -> None:
    written = save_api_keys(ApiKeys("okx", KEY, SECRET, PASSWORD), PASS, key_file)
    assert written == key_file
    got = load_api_keys("okx", key_file=key_file, env={"TRADEFORGE_KEY_PASSPHRASE": PASS})
    assert (got.exchange, got.api_key, got.secret, got.password) == ("okx", KEY, SECRET, PASSWORD)
    assert got.source == f"key file {key_file}"
    assert got.ccxt_config() == {"apiKey": KEY, "secret": SECRET, "password": PASSWORD}


def test_key_file_comes_from_the_environment_variable(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    got = load_api_keys("BINANCE", env=file_env(key_file))
    assert (got.api_key, got.secret, got.password, got.source) == (KEY, SECRET, None, f"key file {key_file}")


def test_default_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_key_file() == tmp_path / "xdg" / "tradeforge" / "keys.enc"
    assert default_key_file({"TRADEFORGE_KEY_FILE": "/elsewhere/k.enc"}) == Path("/elsewhere/k.enc")
    monkeypatch.setenv("TRADEFORGE_KEY_FILE", str(tmp_path / "mine.enc"))
    assert default_key_file() == tmp_path / "mine.enc"
    save_api_keys(ApiKeys("kraken", KEY, SECRET), PASS)
    assert (tmp_path / "mine.enc").is_file()


def test_file_format_with_the_real_scrypt_cost(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert REAL_SCRYPT_N == 2**15
    monkeypatch.setattr(keys, "SCRYPT_N", REAL_SCRYPT_N)
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    doc = json.loads(key_file.read_text())
    assert set(doc) == {"version", "kdf", "salt", "n", "r", "p", "token"}
    assert (doc["version"], doc["kdf"], doc["n"], doc["r"], doc["p"]) == (1, "scrypt", 2**15, 8, 1)
    assert len(base64.b64decode(doc["salt"])) == 16
    plain_json = keys._derive(PASS, base64.b64decode(doc["salt"]), 2**15, 8, 1).decrypt(doc["token"].encode())
    assert json.loads(plain_json) == {"binance": {"apiKey": KEY, "secret": SECRET}}


def test_plaintext_never_appears_in_the_file(key_file: Path) -> None:
    save_api_keys(ApiKeys("okx", KEY, SECRET, PASSWORD), PASS, key_file)
    data = key_file.read_bytes()
    for plaintext in (KEY, SECRET, PASSWORD, PASS):
        assert plaintext.encode() not in data
        assert base64.b64encode(plaintext.encode()) not in data


def test_file_is_private_and_written_atomically(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.chmod(0o644)
    salt_before = json.loads(key_file.read_text())["salt"]
    save_api_keys(ApiKeys("kraken", KEY, SECRET), PASS, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert json.loads(key_file.read_text())["salt"] != salt_before  # every write re-encrypts under a fresh salt
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["keys.enc"]  # no temporary file left behind


def test_wrong_passphrase(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    with pytest.raises(ConfigError) as info:
        load_api_keys("binance", env=file_env(key_file, "not the passphrase"))
    assert str(info.value) == (
        f"cannot decrypt {key_file}: wrong passphrase (TRADEFORGE_KEY_PASSPHRASE) or the file is damaged"
    )
    with pytest.raises(ConfigError, match="cannot decrypt"):
        list_key_exchanges("not the passphrase", key_file)


def test_saving_with_another_passphrase_is_refused_and_changes_nothing(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    before = key_file.read_bytes()
    with pytest.raises(ConfigError, match="wrong passphrase"):
        save_api_keys(ApiKeys("kraken", KEY, SECRET), "another passphrase", key_file)
    assert key_file.read_bytes() == before


def test_a_new_file_needs_a_passphrase_of_8_characters(key_file: Path) -> None:
    with pytest.raises(ConfigError, match="at least 8 characters"):
        save_api_keys(ApiKeys("binance", KEY, SECRET), "1234567", key_file)
    assert not key_file.exists()
    save_api_keys(ApiKeys("binance", KEY, SECRET), "12345678", key_file)
    assert list_key_exchanges("12345678", key_file) == ["binance"]


def test_empty_key_or_secret_is_refused(key_file: Path) -> None:
    with pytest.raises(ConfigError, match="both the API key and the secret"):
        save_api_keys(ApiKeys("binance", KEY, ""), PASS, key_file)
    assert not key_file.exists()


def test_two_exchanges_are_kept_and_one_can_be_replaced(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", "binance-key-0001", "binance-secret"), PASS, key_file)
    save_api_keys(ApiKeys("kraken", "kraken-key-0002", "kraken-secret"), PASS, key_file)
    assert list_key_exchanges(PASS, key_file) == ["binance", "kraken"]
    save_api_keys(ApiKeys("Binance", "binance-key-0003", "binance-secret-2", "pw"), PASS, key_file)
    env = file_env(key_file)
    binance, kraken = load_api_keys("binance", env=env), load_api_keys("kraken", env=env)
    assert (binance.api_key, binance.secret, binance.password) == ("binance-key-0003", "binance-secret-2", "pw")
    assert (kraken.api_key, kraken.secret, kraken.password) == ("kraken-key-0002", "kraken-secret", None)


def test_remove(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    save_api_keys(ApiKeys("kraken", KEY, SECRET), PASS, key_file)
    assert remove_api_keys("binance", PASS, key_file) == key_file
    assert list_key_exchanges(PASS, key_file) == ["kraken"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match=r"no API keys for binance in .* \(it holds: kraken\)"):
        remove_api_keys("binance", PASS, key_file)
    remove_api_keys("kraken", PASS, key_file)
    assert list_key_exchanges(PASS, key_file) == []


def test_remove_without_a_file(key_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"there is no key file at .*; nothing to remove"):
        remove_api_keys("binance", PASS, key_file)


def test_list_without_a_file_is_empty(key_file: Path) -> None:
    assert list_key_exchanges(PASS, key_file) == []


def test_exchange_missing_from_the_file_lists_what_is_there_and_how_to_add(key_file: Path) -> None:
    save_api_keys(ApiKeys("kraken", KEY, SECRET), PASS, key_file)
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    with pytest.raises(ConfigError) as info:
        load_api_keys("okx", env=file_env(key_file))
    assert str(info.value) == (
        f"no API keys for okx in {key_file} (it holds: binance, kraken); add them with `tradeforge keys set okx` "
        "or set TRADEFORGE_OKX_API_KEY and TRADEFORGE_OKX_SECRET"
    )


def test_nothing_anywhere_explains_both_ways(key_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_api_keys("binance", key_file=key_file, env={})
    assert str(info.value) == (
        "no API keys for binance: set TRADEFORGE_BINANCE_API_KEY and TRADEFORGE_BINANCE_SECRET (and "
        "TRADEFORGE_BINANCE_PASSWORD if the exchange needs one), or store them encrypted with `tradeforge keys set "
        f"binance` (key file {key_file} does not exist)"
    )


def test_a_file_without_the_passphrase_variable_says_to_set_it(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    with pytest.raises(ConfigError) as info:
        load_api_keys("binance", env={"TRADEFORGE_KEY_FILE": str(key_file)})
    assert str(info.value) == (
        f"no API keys for binance in the environment, and the key file {key_file} exists but "
        "TRADEFORGE_KEY_PASSPHRASE is not set; set it to the file's passphrase"
    )


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"version": 2, "kdf": "scrypt"}', "unknown version 2"),
        (b'{"version": 1, "kdf": "scrypt", "salt": "AAAA", "n": 3, "r": 8, "p": 1, "token": "x"}', "out of range"),
        (b'{"version": 1, "kdf": "scrypt", "salt": "AAAA", "n": 1024, "r": 8, "p": 1, "token": 5}', "must be str"),
    ],
)
def test_a_damaged_file_is_reported(key_file: Path, content: bytes, why: str) -> None:
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(content)
    with pytest.raises(ConfigError, match=f"{re.escape(str(key_file))} is not a readable tradeforge key file .*{why}"):
        load_api_keys("binance", env=file_env(key_file))


def test_a_tampered_token_reads_as_wrong_passphrase_or_damage(key_file: Path) -> None:
    save_api_keys(ApiKeys("binance", KEY, SECRET), PASS, key_file)
    doc = json.loads(key_file.read_text())
    doc["token"] = doc["token"][:-8] + ("A" * 8 if not doc["token"].endswith("A" * 8) else "B" * 8)
    key_file.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=r"wrong passphrase .* or the file is damaged"):
        load_api_keys("binance", env=file_env(key_file))


def test_repr_never_shows_the_secret() -> None:
    k = ApiKeys("okx", KEY, SECRET, PASSWORD, source="environment (TRADEFORGE_OKX_API_KEY)")
    for text in (repr(k), str(k), f"{k}", f"{k!r}", repr([k])):
        assert SECRET not in text
        assert PASSWORD not in text
        assert KEY not in text
    assert repr(k) == (
        "ApiKeys(exchange='okx', api_key='****wxyz', secret='****', password='****', "
        "source='environment (TRADEFORGE_OKX_API_KEY)')"
    )
    assert k.masked_key == "****wxyz"
    assert ApiKeys("okx", "short", SECRET).masked_key == "****"  # too short to show any of it
    assert "password=None" in repr(ApiKeys("okx", KEY, SECRET))


# --- the command line -----------------------------------------------------------------------------------------


def test_keys_commands_never_take_secrets_as_options() -> None:
    from tradeforge.cli.keys import keys_app

    for command in keys_app.registered_commands:
        assert command.callback is not None
        names = set(command.callback.__code__.co_varnames[: command.callback.__code__.co_argcount])
        assert names <= {"exchange", "key_file", "debug"}, names
    result = CliRunner().invoke(app, ["keys", "set", "binance", "--secret", SECRET])
    assert result.exit_code == 2
    assert "No such option" in plain(result.output)


def test_cli_set_list_check_remove(key_file: Path) -> None:
    runner = CliRunner()
    env = {"TRADEFORGE_KEY_PASSPHRASE": PASS}
    kf = ["--key-file", str(key_file)]

    result = runner.invoke(app, ["keys", "set", "binance", *kf], input=f"{KEY}\n{SECRET}\n\n", env=env)
    assert result.exit_code == 0, result.output
    assert f"stored API key ****wxyz for binance in {key_file}" in plain(result.output)
    result = runner.invoke(app, ["keys", "set", "OKX", *kf], input=f"okx-key-5678\n{SECRET}\n{PASSWORD}\n", env=env)
    assert result.exit_code == 0, result.output
    assert SECRET not in key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    result = runner.invoke(app, ["keys", "list", *kf], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.split() == [f"{key_file}:", "binance", "okx"]

    result = runner.invoke(app, ["keys", "check", "okx", *kf], env=env)
    assert result.exit_code == 0, result.output
    assert plain(result.output).strip() == f"okx: API key ****5678, with a password, from key file {key_file}"

    result = runner.invoke(
        app,
        ["keys", "check", "binance"],
        env={"TRADEFORGE_BINANCE_API_KEY": "env-key-9999", "TRADEFORGE_BINANCE_SECRET": SECRET},
    )
    assert result.exit_code == 0, result.output
    assert plain(result.output).strip() == "binance: API key ****9999, from environment (TRADEFORGE_BINANCE_API_KEY)"

    result = runner.invoke(app, ["keys", "remove", "binance", *kf], env=env)
    assert result.exit_code == 0, result.output
    assert f"removed the keys for binance from {key_file}" in plain(result.output)
    assert list_key_exchanges(PASS, key_file) == ["okx"]

    all_output = ""
    for args in (["keys", "list", *kf], ["keys", "check", "okx", *kf]):
        all_output += runner.invoke(app, args, env=env).output
    assert SECRET not in all_output
    assert PASSWORD not in all_output


def test_cli_set_prompts_for_the_passphrase_with_confirmation(key_file: Path) -> None:
    runner = CliRunner()
    kf = ["--key-file", str(key_file)]
    typed = f"{KEY}\n{SECRET}\n\n{PASS}\n{PASS}\n"
    result = runner.invoke(app, ["keys", "set", "kraken", *kf], input=typed)
    assert result.exit_code == 0, result.output
    for plaintext in (KEY, SECRET, PASS):
        assert plaintext not in result.output  # hidden prompts do not echo
    assert list_key_exchanges(PASS, key_file) == ["kraken"]
    got = load_api_keys("kraken", env=file_env(key_file))
    assert (got.api_key, got.secret, got.password) == (KEY, SECRET, None)

    # An existing file: the passphrase is asked once and must open the file.
    result = runner.invoke(app, ["keys", "set", "okx", *kf], input="k-okx-0000\ns-okx\n\nwrong passphrase\n")
    assert result.exit_code == 1
    assert "cannot decrypt" in plain(result.output)
    result = runner.invoke(app, ["keys", "list", *kf], input=f"{PASS}\n")
    assert result.exit_code == 0, result.output
    assert result.output.split()[-2:] == [f"{key_file}:", "kraken"]


def test_cli_errors_are_one_line(key_file: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "check", "binance", "--key-file", str(key_file)])
    assert result.exit_code == 1
    text = plain(result.output)
    assert text.startswith("error: no API keys for binance: set TRADEFORGE_BINANCE_API_KEY")
    assert "tradeforge keys set binance" in text

    result = runner.invoke(app, ["keys", "check", "binance"], env={"TRADEFORGE_BINANCE_API_KEY": KEY})
    assert result.exit_code == 1
    assert "TRADEFORGE_BINANCE_SECRET is not" in plain(result.output)

    result = runner.invoke(app, ["keys", "remove", "binance", "--key-file", str(key_file)])
    assert result.exit_code == 1
    assert "there is no key file" in plain(result.output)

    result = runner.invoke(app, ["keys", "list", "--key-file", str(key_file)])
    assert result.exit_code == 0
    assert "no key file at" in plain(result.output)

    result = runner.invoke(
        app, ["keys", "set", "binance", "--key-file", str(key_file)], input=f"{KEY}\n{SECRET}\n\nshort\nshort\n"
    )
    assert result.exit_code == 1
    assert "at least 8 characters" in plain(result.output)
    assert not key_file.exists()
