"""`tradeforge db status` and `tradeforge db upgrade` on a SQLite file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tradeforge.cli import app
from tradeforge.persistence.migrate import head_revision


def test_status_and_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "tf.db"
    runner = CliRunner()
    first = runner.invoke(app, ["db", "status", "--url", str(db)])
    assert first.exit_code == 0 and "schema empty (revision none" in " ".join(first.output.split())
    old = runner.invoke(app, ["db", "upgrade", "--url", str(db), "--revision", "0001"])
    assert old.exit_code == 0 and "revision none -> 0001 (behind)" in " ".join(old.output.split())
    new = runner.invoke(app, ["db", "upgrade", "--url", str(db)])
    assert new.exit_code == 0 and f"revision 0001 -> {head_revision()} (current)" in " ".join(new.output.split())
    bad = runner.invoke(app, ["db", "upgrade", "--url", str(db), "--revision", "9999"])
    assert bad.exit_code == 1 and "9999" in bad.output and "Traceback" not in bad.output
