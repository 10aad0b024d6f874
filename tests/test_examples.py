"""CI smoke test: every program in examples/ runs against the lab and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
EXPECT = {
    "play_vod.py": "decode_errors=0",
    "events.py": "ended at",
    "clearkey.py": "errors=0",
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert EXPECT.get(path.name, "") in result.stdout
