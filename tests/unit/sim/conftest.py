"""Reuse the helpers of tests/unit/core/conftest.py (the ``tf`` fixture) without a package or sys.path edits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[1] / "core" / "conftest.py"
_spec = importlib.util.spec_from_file_location("tradeforge_tests_core_helpers", _path)
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)

tf = _helpers.tf
