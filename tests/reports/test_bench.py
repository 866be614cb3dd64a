"""The benchmarks run end to end at a tiny size, so they cannot rot (their figures are not asserted: they are
measurements, printed by bench/ingest.py and bench/report.py at full size)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    finished = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=240,
                              check=False)  # fmt: skip
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout


def test_ingest_bench_runs() -> None:
    output = run("bench/ingest.py", "--mentions", "2000", "--duplicates", "25", "--batch", "500")
    offered = int(re.search(r"mentions offered:\s+([\d,]+)", output).group(1).replace(",", ""))  # type: ignore[union-attr]
    counts = re.search(r"stored: ([\d,]+), duplicates: ([\d,]+), ignored .*: ([\d,]+)", output)
    assert counts and offered == 2500
    assert sum(int(n.replace(",", "")) for n in counts.groups()) == offered
    assert re.search(r"ratio \(ours / raw\): \d+\.\d\d", output)


def test_report_bench_runs() -> None:
    output = run("bench/report.py", "--mentions", "3000", "--small", "1000", "--campaign-mentions", "3000",
                 "--campaign-small", "300", "--weeks", "3")  # fmt: skip
    assert re.search(r"ratio at 3,000 \(report / plain GROUP BY\): \d+\.\d\d cold", output)
    assert re.search(r"memory as mentions grow x3: peak Python [\d.]+ -> [\d.]+ MB", output)
    assert re.search(r"campaign ratio at 3,000 \(report / plain GROUP BY\): \d+\.\d\d cold", output)
    assert re.search(r"campaign memory as mentions grow x10: peak Python [\d.]+ -> [\d.]+ MB", output)
