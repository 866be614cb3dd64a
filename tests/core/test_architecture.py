"""The house rules a reader can rely on: one settings source, the campaign's own zone, modules a reader keeps in
mind. (The floors themselves are import-linter's contracts in pyproject.toml, run by scripts/test.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("content_calendar", "platforms", "scheduler", "workers", "cli", "web")
MAX_LINES = 500


def product_files() -> list[Path]:
    return sorted(p for package in PRODUCT for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def test_the_environment_is_read_only_by_the_settings() -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in product_files()
        if path != ROOT / "scheduler" / "settings.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bos\.(environ|getenv)\b", line)
    ]
    assert readers == []


def test_no_zone_is_hard_coded_outside_the_format_default() -> None:
    """Times are shown and weeks cut in the campaign's own zone; the default for a campaign that names none is
    written once (content_calendar.model.DEFAULT_TIMEZONE). Messages may cite it as an example."""
    written = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in product_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "Europe/London" in line and "such as Europe/London" not in line and "DEFAULT_TIMEZONE =" not in line
    ]
    assert written == []


def test_product_modules_stay_small_enough_to_keep_in_mind() -> None:
    long = {str(p.relative_to(ROOT)): n for p in product_files() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_platform_names_are_one_constant() -> None:
    """The platform names are content_calendar.model.PLATFORMS; nothing spells the pair out again."""
    spelled = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in product_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"""[\[(]\s*["']bluesky["'],\s*["']mastodon["']\s*[\])]""", line) and "PLATFORMS" not in line
    ]
    assert spelled == []


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [("platforms/outbox.py", "from scheduler.settings import Settings"), ("cli/common.py", "import scheduler.db")],
)
def test_an_upward_or_inward_import_breaks_the_contracts(tmp_path: Path, module: str, forbidden: str) -> None:
    """The contracts can fail: a copy of the tree with one bad import is refused by lint-imports."""
    copy = tmp_path / "tree"
    for package in PRODUCT:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    target = copy / module
    target.write_text(f"{forbidden}  # noqa\n" + target.read_text())
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout.upper()


def test_starting_a_worker_or_a_command_loads_no_bluesky_sdk_and_hashes_no_password() -> None:
    """Every worker, beat, `campaign` command and shell-completion TAB starts a process: the atproto SDK and the
    stream decoder (about 1.5 s of CPU) are loaded by the processes that post or listen, when they do; the
    dummy password hash (an argon2 hash) is made by the first sign-in check."""
    probe = (
        "import sys, workers.app, cli.main, scheduler.users as users\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('atproto', 'libipld')})\n"
        "print(heavy, users._dummy_hash.cache_info().currsize)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["[]", "0"], done.stdout + done.stderr
