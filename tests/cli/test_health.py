"""`campaign health`: one line and exit 0 while the scheduler checked the schedule within the last minute, exit 1
otherwise (never started, or stopped), so cron, systemd or a container's health check can raise the alarm. And
the compose file uses it as beat's health check."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from scheduler import heartbeat
from scheduler.api import Api, load_settings
from tests.support.cli import cli_env, invoke

ROOT = Path(__file__).resolve().parents[2]


def store_of(tmp_path: Path) -> Api:
    return Api.from_settings(load_settings(start=tmp_path), create_store=True)


def test_health_says_not_running_until_the_scheduler_checks_and_again_once_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env(monkeypatch, tmp_path, {})
    app = store_of(tmp_path)
    code, output = invoke("health")
    assert code == 1
    assert output.strip().startswith("NOT RUNNING: the scheduler has never checked this schedule")
    assert len(output.strip().splitlines()) == 1

    heartbeat.beat(app.wiring.store, datetime.now(UTC) - timedelta(seconds=3), tick_seconds=5, by="beat@host:1")
    code, output = invoke("health")
    assert code == 0, output
    assert re.fullmatch(r"OK: the scheduler checked the schedule \d+ seconds ago \(beat@host:1\)\.", output.strip())

    heartbeat.beat(app.wiring.store, datetime.now(UTC) - timedelta(minutes=5), tick_seconds=5, by="beat@host:1")
    code, output = invoke("health")
    assert code == 1
    assert output.strip().startswith("NOT RUNNING: the scheduler last checked the schedule 5 minutes ago (")
    assert "Start it with `campaign run`" in output
    code, output = invoke("health", "--json")
    assert code == 1 and json.loads(output)["ok"] is False


def test_health_as_its_own_process_exits_by_the_heartbeat(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update(CAMPAIGN_DATA_DIR=str(tmp_path / "var"), CAMPAIGN_CAMPAIGNS_DIR=str(tmp_path / "campaigns"))
    app = Api.from_settings(load_settings(env, start=tmp_path), create_store=True)

    def health() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", "health"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    assert health().returncode == 1
    heartbeat.beat(app.wiring.store, datetime.now(UTC), tick_seconds=5, by="beat@host:1")
    answer = health()
    assert answer.returncode == 0 and answer.stdout.startswith("OK: "), answer.stderr


def test_health_refuses_in_one_line_where_there_is_no_schedule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_env(monkeypatch, tmp_path, {})
    code, output = invoke("health")
    assert code == 1 and "Traceback" not in output


def test_the_compose_beat_service_is_health_checked_by_campaign_health() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    check = compose["services"]["beat"]["healthcheck"]
    assert check["test"] == ["CMD", "campaign", "health"]
