"""Every read command's `--json` against docs/json.md: its standard output parses, and it has the keys the page's
example has, at every level, with values of the same type. The examples are read from the page itself, so the
page and the program cannot drift apart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.cli.test_status import beat_and_work, core, next_minute, write_thread_calendar
from tests.support.cli import cli_env
from tests.support.engine import write_campaign

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"
COMMANDS = (
    "campaign status --json",
    "campaign schedule --json",
    "campaign calendar validate --json",
    "campaign calendar show --json",
    "campaign accounts check --json",
    "campaign collect --json",
    "campaign report weekly --json",
    "campaign outbox --json",
    "campaign rehearse --json",
)
# Maps from a name (a state, an action, a platform) to a value: their keys are whatever occurs.
MAPS = {"counts", "post_counts", "part_changes", "parts"}


def documented() -> dict[str, Any]:
    """The example of each command on the page, by its heading; for JSON lines, the first line."""
    pieces = re.split(r"^## `([^`]+)`$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    examples = {}
    for heading, body in zip(pieces[1::2], pieces[2::2], strict=True):
        found = re.search(r"```json\n(.*?)\n```", body, re.DOTALL)
        assert found, f"docs/json.md: `{heading}` has no example"
        text = found.group(1)
        examples[heading] = json.loads(text.splitlines()[0] if heading.endswith("outbox --json") else text)
    return examples


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "list", dict: "object"}.get(type(value), type(value).__name__)


def shape_problems(actual: Any, example: Any, where: str = "$") -> list[str]:
    """How `actual` differs from `example` in keys and types (a null on either side matches anything)."""
    if actual is None or example is None:
        return []
    if _kind(actual) != _kind(example):
        return [f"{where}: a {_kind(actual)}, documented as a {_kind(example)}"]
    problems: list[str] = []
    if isinstance(example, dict):
        if where.rsplit(".", 1)[-1] in MAPS:
            sample = next(iter(example.values()), None)
            for key, value in actual.items():
                problems += shape_problems(value, sample, f"{where}.{key}")
            return problems
        problems += [f"{where}.{key}: documented, not printed" for key in example.keys() - actual.keys()]
        problems += [f"{where}.{key}: printed, not documented" for key in actual.keys() - example.keys()]
        for key in example.keys() & actual.keys():
            problems += shape_problems(actual[key], example[key], f"{where}.{key}")
    elif isinstance(example, list) and example:
        for number, item in enumerate(actual):
            problems += shape_problems(item, example[0], f"{where}[{number}]")
    return problems


def test_the_shape_check_finds_a_missing_key_an_extra_key_and_a_wrong_type() -> None:
    example = {"posts": [{"id": "a", "at": "t", "parts": {"bluesky": [{"part": 0}]}}], "paused": False}
    assert shape_problems({"posts": [{"id": "b", "at": None, "parts": {"mastodon": [{"part": 1}]}}],
                           "paused": True}, example) == []  # fmt: skip
    assert shape_problems({"posts": [{"id": "b", "parts": {}}], "paused": False}, example) == [
        "$.posts[0].at: documented, not printed"
    ]
    assert shape_problems({"posts": [], "paused": False, "new": 1}, example) == ["$.new: printed, not documented"]
    found = shape_problems({"posts": [{"id": 3, "at": "t", "parts": {"mastodon": [{"part": "0"}]}}],
                            "paused": 0}, example)  # fmt: skip
    assert sorted(found) == sorted(
        [
            "$.posts[0].id: a number, documented as a string",
            "$.posts[0].parts.mastodon[0].part: a string, documented as a number",
            "$.paused: a number, documented as a boolean",
        ]
    )


def test_the_page_documents_every_read_command() -> None:
    assert sorted(documented()) == sorted(COMMANDS)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    no_credentials = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")
    return cli_env(monkeypatch, tmp_path, dict.fromkeys(no_credentials, ""))


def stdout_of(*args: str, code: int = 0) -> str:
    """What the command printed on standard output alone (notices for people go to standard error)."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.stdout


def test_every_json_output_parses_and_has_the_documented_keys(env: dict[str, str], tmp_path: Path) -> None:
    examples = documented()
    folder = write_campaign(tmp_path / "campaigns")
    at = next_minute()
    calendar = write_thread_calendar(folder, at)
    broken = folder / "calendars" / "broken.yaml"
    broken.write_text("campaign: demo\ntimezone: Europe/London\nposts:\n  - id: nothing\n    at: 2027-02-01 09:00\n"
                      "    text: ''\n", encoding="utf-8")  # fmt: skip
    outputs: dict[str, Any] = {
        "campaign calendar validate --json": json.loads(stdout_of("calendar", "validate", "--json", str(broken),
                                                                  code=1)),
        "campaign calendar show --json": json.loads(stdout_of("calendar", "show", "--json", str(calendar))),
    }  # fmt: skip
    broken.unlink()
    outputs["campaign schedule --json"] = json.loads(stdout_of("schedule", "--json", str(calendar)))
    with core(at) as (app, _clock):
        beat_and_work(app)  # the thread goes out (to the outbox: no credentials)
    outputs["campaign status --json"] = json.loads(stdout_of("status", "--json"))
    outputs["campaign accounts check --json"] = json.loads(stdout_of("accounts", "check", "--json"))
    outputs["campaign collect --json"] = json.loads(stdout_of("collect", "--json"))
    week = at.strftime("%G-W%V")  # the week that holds the posts (a week not begun is refused)
    outputs["campaign report weekly --json"] = json.loads(stdout_of("report", "weekly", "--json", "--week", week))
    lines = stdout_of("outbox", "--json", "--tail", "0").splitlines()
    assert len(lines) == 6  # three parts on two platforms
    outbox = [json.loads(line) for line in lines]
    outputs["campaign outbox --json"] = outbox[0]
    outputs["campaign rehearse --json"] = json.loads(stdout_of("rehearse", "--json", "--speed", "1e6", str(calendar)))

    assert sorted(outputs) == sorted(COMMANDS)
    for command, output in outputs.items():
        assert shape_problems(output, examples[command]) == [], command
    for line in outbox[1:]:
        assert shape_problems(line, examples["campaign outbox --json"]) == []

    # The outputs say what they should, not only in the right shape.
    status = outputs["campaign status --json"]
    assert [(p["post_id"], p["status"]) for p in status["posts"]] == [("single", "scheduled"), ("appeal", "published")]
    assert status["scheduler"]["state"] == "running" and status["post_counts"] == {"scheduled": 1, "published": 1}
    schedule = outputs["campaign schedule --json"]
    assert schedule["campaigns"][0]["post_counts"] == {"added": 2, "changed": 0, "unchanged": 0, "cancelled": 0}
    assert schedule["campaigns"][0]["next_post"]["post_id"] == "appeal" and schedule["part_changes"] == {"added": 8}
    assert [p["code"] for p in outputs["campaign calendar validate --json"]] == ["empty-text"]
    shown = outputs["campaign calendar show --json"]
    assert [p["id"] for p in shown["posts"]] == ["appeal", "single"] and len(shown["posts"][0]["parts"]["bluesky"]) == 3
    assert [c["platform"] for c in outputs["campaign accounts check --json"]] == ["bluesky", "mastodon"]
    report = outputs["campaign report weekly --json"]
    assert report["week"] == week and all(Path(f).is_file() for r in report["reports"] for f in r["files"])
    assert {(o["kind"], o["platform"]) for o in outputs["campaign collect --json"]["outcomes"]} >= {
        ("mentions", "bluesky"),
        ("mentions", "mastodon"),
    }
