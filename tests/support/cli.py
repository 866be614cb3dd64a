"""Running the `campaign` CLI in tests: an environment of its own (data and campaigns under a temp folder, no
Redis or database URL inherited from the machine) and Click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, credentials: dict[str, str]) -> dict[str, str]:
    """Point the CLI at tmp_path (data in var/, campaigns in campaigns/) with these platform credentials."""
    values = {
        "CAMPAIGN_DATA_DIR": str(tmp_path / "var"),
        "CAMPAIGN_CAMPAIGNS_DIR": str(tmp_path / "campaigns"),
        **credentials,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CAMPAIGN_REDIS_URL", raising=False)
    monkeypatch.delenv("CAMPAIGN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return values


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output
