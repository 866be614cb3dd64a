"""The report as a PDF to forward: the same HTML, printed on A4 by headless Chromium (Debian's `chromium`, the
browser the tests already use). The page's own print rules set the paper (A4), the page numbers ("Page 1 of 4",
CSS page-margin boxes), rows and charts that never split across pages and table headings repeated on each page.

The page allows no script (its Content-Security-Policy), loads nothing from the network (every picture is
embedded) and is printed from a private temporary folder with a throwaway browser profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from scheduler.errors import Refused

PRINT_TIMEOUT_S = 120
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)  # fmt: skip


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_pdf(html: str, target: Path, *, browser: str | None = None) -> Path:
    """Print `html` to `target` (written atomically). Refused, naming what to do, when Chromium is missing or
    fails."""
    binary = browser or chromium()
    if binary is None:
        raise Refused(
            f"{target.name}: a PDF report is printed by Chromium, which is not installed here. Install Debian's "
            "chromium package (scripts/bootstrap does), or ask for --format html."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="campaign-pdf-") as folder:
        page, printed = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        command = [binary, *FLAGS, f"--user-data-dir={Path(folder) / 'profile'}", f"--print-to-pdf={printed}",
                   page.as_uri()]  # fmt: skip
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise Refused(f"{target.name}: Chromium took over {PRINT_TIMEOUT_S} s to print the report.") from None
        if finished.returncode != 0 or not printed.is_file() or printed.stat().st_size == 0:
            last = (finished.stderr.strip().splitlines() or ["no message"])[-1][:300]
            raise Refused(f"{target.name}: Chromium could not print the report ({last}).")
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(handle)
        try:
            shutil.copyfile(printed, temporary)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return target
