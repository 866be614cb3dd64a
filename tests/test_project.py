"""Project-level promises: the shipped calendars validate clean, the deployment file is coherent, README's
two commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from content_calendar.validate import check_calendar

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p for p in (ROOT / "campaigns").glob("*/calendars/*") if p.suffix in {".yaml", ".yml", ".csv"})


def test_both_campaigns_ship_calendars() -> None:
    assert {p.parent.parent.name for p in SHIPPED} == {"act-on-iicsa", "sasvaw-week"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_shipped_calendar_validates_clean(path: Path) -> None:
    result = check_calendar(path, campaigns_roots=[ROOT / "campaigns"])
    assert result.ok, "\n".join(p.format() for p in result.problems)
    assert not result.warnings, "\n".join(p.format() for p in result.warnings)
    assert result.calendar is not None and result.calendar.posts


def test_the_act_on_iicsa_calendar_is_as_promised() -> None:
    result = check_calendar(
        ROOT / "campaigns/act-on-iicsa/calendars/jan-mar-2027.yaml", campaigns_roots=[ROOT / "campaigns"]
    )
    assert result.calendar is not None
    posts = result.calendar.posts
    assert len(posts) >= 30
    assert sum(1 for p in posts if p.thread) >= 3 and sum(1 for p in posts if p.images) >= 3
    assert sum(1 for p in posts if p.link) >= 3
    assert all(image.alt.strip() for p in posts for image in p.images)
    assert min(p.at for p in posts).date().isoformat() >= "2027-01-01"
    assert max(p.at for p in posts).date().isoformat() <= "2027-03-31"


def test_the_awareness_week_runs_monday_to_sunday_with_a_theme_a_day() -> None:
    roots = [ROOT / "campaigns"]
    posts = []
    for path in (ROOT / "campaigns/sasvaw-week/calendars").iterdir():
        result = check_calendar(path, campaigns_roots=roots)
        assert result.calendar is not None
        posts.extend(result.calendar.posts)
    days = {p.at.date().isoformat() for p in posts}
    assert days == {f"2027-02-0{d}" for d in range(1, 8)}
    per_day = [sum(1 for p in posts if p.at.day == d) for d in range(1, 8)]
    assert all(2 <= n <= 3 for n in per_day), per_day


def test_docker_compose_runs_redis_worker_beat_and_flower_with_the_database_on_a_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "worker", "collector", "beat", "flower", "postgres"} <= set(services)
    assert services["worker"]["entrypoint"][:6] == ["celery", "-A", "workers.app", "worker", "-Q", "publish"]
    assert services["collector"]["entrypoint"][:6] == ["celery", "-A", "workers.app", "worker", "-Q", "collect"]
    assert services["beat"]["entrypoint"][:4] == ["celery", "-A", "workers.app", "beat"]
    assert "noeviction" in services["redis"]["command"] and "--appendonly" in services["redis"]["command"]
    assert any(v.startswith("postgres-data:") for v in services["postgres"]["volumes"])
    assert set(compose["volumes"]) >= {"postgres-data", "redis-data", "campaign-data"}
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert not any("ports" in services[name] for name in ("redis", "postgres", "worker", "collector", "beat"))
    worker_env = services["worker"]["environment"]
    assert worker_env["CAMPAIGN_REDIS_URL"].startswith("redis://redis:")
    assert worker_env["CAMPAIGN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert (ROOT / "Dockerfile").is_file()


def test_ci_runs_exactly_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in quick_start.splitlines() if line.startswith("    ")]
    assert commands == ["./scripts/run", "./scripts/test"]
    assert "exec ./scripts/test" in (ROOT / ".ci/run").read_text()


def test_docker_compose_serves_the_web_workspace_on_this_machine_only_behind_the_same_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    assert web["entrypoint"][:4] == ["campaign", "serve", "--host", "0.0.0.0"]
    assert all(port.startswith("127.0.0.1:") for port in web["ports"]) and web["ports"]
    for key in ("image", "env_file", "environment", "volumes", "depends_on"):
        assert web[key] == worker[key], key  # the same image, settings, database and data folder as the workers
