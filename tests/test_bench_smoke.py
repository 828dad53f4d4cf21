"""The benchmark harness still runs: one tiny scenario against our server for a few seconds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "smoke"], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"reach (\d+\.\d+)%", result.stdout)
    assert summary is not None, result.stdout
    assert float(summary.group(1)) == 100.0
