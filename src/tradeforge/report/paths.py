"""Checks on the folders and files a report writes to; bad targets raise ConfigError naming the path."""

from __future__ import annotations

import os
from pathlib import Path

from tradeforge.core.errors import ConfigError


def ensure_folder(folder: str | os.PathLike[str], purpose: str = "write exports into") -> Path:
    """Create `folder` (and its parents) if needed; refuse an existing file or a folder we cannot write."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"cannot {purpose} {str(path)!r}: it is an existing file, not a folder; pass a folder")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"cannot {purpose} {str(path)!r}: {str(parent)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot {purpose} {str(path)!r}: creating the folder failed: {exc}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot {purpose} {str(path)!r}: the folder is not writable; choose another folder")
    return path


def ensure_file_target(target: str | os.PathLike[str]) -> Path:
    """Validate a file path to (over)write: not a folder; its parent folder is created when missing."""
    path = Path(target)
    if path.is_dir():
        raise ConfigError(
            f"cannot write the report to {str(path)!r}: it is a folder; pass a file path such as report.html"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot overwrite {str(path)!r}: the file is not writable; choose another path")
    ensure_folder(path.parent, purpose=f"write {path.name!r} into")
    return path
