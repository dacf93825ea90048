"""The Python examples in docs/*.md run and print what the text says they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_ml_ensemble_example(tmp_path: Path) -> None:
    text = (DOCS / "ML.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "from_pytrader" in b)
    script = tmp_path / "ensemble.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.splitlines() == ["3 {-1: 0, 0: 2711, 1: 49}", "17 9.1539 [3000, 4000, 5000]"]
