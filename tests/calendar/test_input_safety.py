"""Issue 16: control characters and secrets in a calendar are refused, naming the file, the post, the field and
the YAML line or the sheet's row and column; a character is named by its code point and a secret never shown.
The refusal comes before the store: `campaign schedule` writes nothing on SQLite or PostgreSQL."""

from __future__ import annotations

import secrets as random_tokens
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from content_calendar.model import Problem
from content_calendar.validate import CheckResult, check_calendar
from scheduler.db import Store
from scheduler.models import Delivery
from tests.calendar.conftest import WriteCalendar
from tests.support.cli import cli_env, invoke
from tests.support.postgres import PostgresServer

PROJECT = Path(__file__).resolve().parents[2]
SHEET_HEADER = "id,date,time,platforms,text,bluesky_text,mastodon_text,content_warning,link,image,image_alt,status\n"
SECRET = "Kq3vX9-app-secret-Zt7w"  # what BLUESKY_APP_PASSWORD or MASTODON_ACCESS_TOKEN would hold
MASTODON_LIKE = "Zx8kQ2mN4pR7tV1wY3bC5dF6gH9jK0lL2nP4qS6uW8y"  # 43 URL-safe base64 characters
NO_CREDENTIALS = ("BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_API_BASE_URL", "MASTODON_ACCESS_TOKEN")


def _errors(result: CheckResult) -> list[Problem]:
    return [p for p in result.problems if p.severity == "error"]


def _printed(result: CheckResult) -> str:
    return "\n".join(p.format() for p in result.problems)


def _only(result: CheckResult, code: str) -> Problem:
    errors = _errors(result)
    assert [p.code for p in errors] == [code], _printed(result)
    return errors[0]


# --- control characters in a spreadsheet ---------------------------------------------------------------------


def test_nul_in_a_csv_cell_names_the_row_column_and_code_point(write_calendar: WriteCalendar) -> None:
    # The first row's text spans two lines, so the second row starts on line 4 but is row 3 of the sheet.
    path = write_calendar(
        "sheet.csv",
        'id,date,time,text\nfirst,01/02/2031,09:00,"Two\nlines #DemoCampaign"\n'
        'second,01/02/2031,10:00,"Hello\x00 world #DemoCampaign"\n',
    )
    result = check_calendar(path)
    problem = _only(result, "control-character")
    printed = problem.format()
    assert problem.post_id == "second" and problem.file == str(path)
    assert "row 3, column D (text)".lower() in printed.lower()
    assert "U+0000 (NUL)" in problem.message and "after “Hello”" in problem.message
    assert problem.fix.startswith("Remove the invisible character U+0000 (NUL) from that cell")
    assert "\x00" not in printed
    assert "second" not in {key for key in result.rendered}  # nothing shows (or sends) the text as it is


@pytest.mark.parametrize(
    ("cells", "column", "name", "hint"),
    [
        ({"id": "a\x01b"}, "column A (id)", "U+0001 (START OF HEADING)", ""),
        ({"bluesky_text": "Line\x0bbreak #DemoCampaign"}, "column F (bluesky_text)", "U+000B (VERTICAL TAB)", "Word"),
        ({"mastodon_text": "Toot\x7f #DemoCampaign"}, "column G (mastodon_text)", "U+007F (DELETE)", ""),
        ({"content_warning": "abuse\x1b[31m"}, "column H (content_warning)", "U+001B (ESCAPE)", ""),
        ({"image_alt": "It\x92s a card"}, "column K (image_alt)", "U+0092 (PRIVATE USE TWO)", "type ’ instead"),
        ({"text": "Odd \ufdd0 #DemoCampaign"}, "column E (text)", "U+FDD0 (a code Unicode reserves", ""),
    ],
)
def test_other_control_characters_in_any_cell_of_our_sheet(
    write_calendar: WriteCalendar, cells: dict[str, str], column: str, name: str, hint: str
) -> None:
    row = {
        "id": "post-1",
        "date": "01/02/2031",
        "time": "09:00",
        "text": "Plain #DemoCampaign",
        "image": "media/card.jpg",
        "image_alt": "A purple card",
        **cells,
    }
    values = [row.get(column_name, "") for column_name in SHEET_HEADER.strip().split(",")]
    path = write_calendar("sheet.csv", SHEET_HEADER + ",".join(f'"{value}"' for value in values) + "\n")
    result = check_calendar(path)
    problems = [p for p in _errors(result) if p.code == "control-character"]
    assert len(problems) == 1, _printed(result)
    printed = problems[0].format()
    assert f"row 2, {column}".lower() in printed.lower()
    assert name in printed and hint in problems[0].fix
    assert not any(char in _printed(result) for char in "\x01\x0b\x7f\x1b\x92\ufdd0")


def test_a_carriage_return_inside_a_cell_is_a_line_break(write_calendar: WriteCalendar) -> None:
    path = write_calendar("sheet.csv", b'id,date,time,text\r\nfirst,01/02/2031,09:00,"One\rtwo #DemoCampaign"\r\n')
    result = check_calendar(path)
    assert result.ok and not result.problems, _printed(result)
    assert result.calendar is not None and result.calendar.posts[0].text == "One\ntwo #DemoCampaign"


def test_hootsuite_and_sprout_sheets_name_their_own_columns(write_calendar: WriteCalendar) -> None:
    hootsuite = write_calendar("hs.csv", "01/02/2031 09:00,Hello\x00 #DemoCampaign,https://example.org/\n")
    printed = _only(check_calendar(hootsuite), "control-character").format()
    assert "row 1, column B (message)".lower() in printed.lower() and "U+0000 (NUL)" in printed
    sprout = write_calendar(
        "sp.csv", "date,time_24hr,message_text,link\n01/02/2031,09:00,Hi #DemoCampaign,https://example.org/\x07\n"
    )
    printed = _only(check_calendar(sprout), "control-character").format()
    assert "row 2, column D (link)".lower() in printed.lower() and "U+0007 (BELL)" in printed


# --- control characters in YAML ------------------------------------------------------------------------------


def test_control_characters_in_every_yaml_text_name_the_line_field_and_code_point(
    write_calendar: WriteCalendar,
) -> None:
    path = write_calendar(
        "cal.yaml",
        r"""
        campaign: demo-campaign
        posts:
          - id: launch
            at: 2031-02-01 09:00
            text: "Hello\0 world #DemoCampaign"
            content_warning: "abuse\e[31m"
            mastodon: {text: "Toot\x01 #DemoCampaign"}
            link: {url: "https://example.org/", title: "Title\a", description: "About\uFFFE"}
            images:
              - {file: media/card.jpg, alt: "A card\x02 with words"}
            thread:
              - text: "Reply\x03 one #DemoCampaign"
              - text: "Reply two #DemoCampaign"
                bluesky: {text: "Sky\x04 #DemoCampaign"}
          - id: fine
            at: 2031-02-01 10:00
            text: "Nothing wrong #DemoCampaign"
        """,
    )
    result = check_calendar(path)
    found = {(p.line, p.message.split(" has ")[0], p.message.split(", ")[1]) for p in _errors(result)}
    assert found == {
        (5, "The post's text", "U+0000 (NUL)"),
        (6, "The post's content warning", "U+001B (ESCAPE)"),
        (7, "The post's Mastodon text (`mastodon: text`)", "U+0001 (START OF HEADING)"),
        (8, "The title of the post's link", "U+0007 (BELL)"),
        (8, "The description of the post's link", "U+FFFE (a code Unicode reserves as a non-character)"),
        (10, "The alt text of image 1", "U+0002 (START OF TEXT)"),
        (12, "The text of thread reply 1", "U+0003 (END OF TEXT)"),
        (14, "Thread reply 2's Bluesky text (`bluesky: text`)", "U+0004 (END OF TRANSMISSION)"),
    }, _printed(result)
    assert {p.post_id for p in _errors(result)} == {"launch"}
    assert all(p.code == "control-character" for p in _errors(result))
    nul = next(p for p in _errors(result) if p.line == 5)
    assert "escape (\\0 or \\x00)" in nul.fix and "after “Hello”" in nul.message
    assert set(result.rendered) == {"fine"}


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ('id: "a\\0b"\n    text: "Hi #DemoCampaign"', "The post's `id`"),
        ('text: "Hi\\0 #DemoCampaign"', "The post's text"),
        ('content_warning: "cw\\0"', "The post's content warning"),
        ('bluesky: {text: "b\\0 #DemoCampaign"}', "The post's Bluesky text (`bluesky: text`)"),
        ('mastodon: {content_warning: "m\\0"}', "The post's Mastodon content warning (`mastodon: content_warning`)"),
        ('link: {url: "https://example.org/\\0"}', "The address of the post's link"),
        ('link: {url: "https://example.org/", title: "t\\0"}', "The title of the post's link"),
        ('link: {url: "https://example.org/", description: "d\\0"}', "The description of the post's link"),
        (
            'link: {url: "https://example.org/", thumbnail: {file: "media/card\\0.jpg", alt: x}}',
            "The file name of the link's thumbnail",
        ),
        ('images: [{file: "media/card\\0.jpg", alt: "x"}]', "The file name of image 1"),
        ('images: [{file: media/card.jpg, alt: "a\\0"}]', "The alt text of image 1"),
        ('thread: [{text: "r\\0"}]', "The text of thread reply 1"),
        ('thread: [{text: r, mastodon: {text: "m\\0"}}]', "Thread reply 1's Mastodon text (`mastodon: text`)"),
        (
            'thread: [{text: r, images: [{file: media/card.jpg, alt: "a\\0"}]}]',
            "The alt text of image 1 of thread reply 1",
        ),
    ],
)
def test_a_nul_in_any_one_yaml_field_is_found_on_its_own(
    write_calendar: WriteCalendar, fields: str, label: str
) -> None:
    text = "" if fields.startswith(("id:", "text:")) else '\n    text: "Hi #DemoCampaign"'
    post_id = "" if fields.startswith("id:") else "id: p\n    "
    path = write_calendar(
        "cal.yaml", f"campaign: demo-campaign\nposts:\n  - {post_id}at: 2031-02-01 09:00\n    {fields}{text}\n"
    )
    result = check_calendar(path)
    problems = [p for p in _errors(result) if p.code == "control-character"]
    assert len(problems) == 1, _printed(result)
    assert problems[0].message.startswith(f"{label} has an invisible character, U+0000 (NUL)")
    assert "render-failed" not in _printed(result) and "\x00" not in _printed(result)


def test_a_nul_in_a_sheet_image_cell_is_reported_not_a_crash(write_calendar: WriteCalendar) -> None:
    path = write_calendar("sheet.csv", "id,date,time,text,image,image_alt\np,01/02/2031,09:00,Hi,media/c\x00.jpg,alt\n")
    printed = _printed(check_calendar(path))
    assert "row 2, column E (image)".lower() in printed.lower() and "U+0000 (NUL)" in printed
    assert "\x00" not in printed and "render-failed" not in printed


def test_a_raw_control_character_in_yaml_names_line_column_post_and_key(write_calendar: WriteCalendar) -> None:
    # libyaml refuses the whole file; the message still says where, in which post, and what it is.
    path = write_calendar(
        "cal.yaml",
        "campaign: demo-campaign\nposts:\n  - id: first\n    at: 2031-02-01 09:00\n    text: Fine #DemoCampaign\n"
        "  - id: pasted\n    at: 2031-02-01 10:00\n    text: |\n      From Word\x0bwith a break #DemoCampaign\x0c\n",
    )
    result = check_calendar(path)
    problem = _only(result, "control-character")
    assert (problem.line, problem.post_id) == (9, "pasted")
    assert problem.message.startswith(
        "Line 9, column 16, in the post's `text`: an invisible character, U+000B (VERTICAL TAB), after “From Word”."
    )
    assert "1 more such character (line 9)" in problem.message
    assert "Word and PowerPoint use this one for a line break" in problem.fix
    assert "\x0b" not in problem.format() and "\x0c" not in problem.format()


def test_a_raw_noncharacter_in_yaml_and_in_campaign_yaml(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    path = write_calendar("cal.yaml", "campaign: demo-campaign\nposts:\n  - id: a\n    text: x\uffff\n")
    problem = _only(check_calendar(path), "control-character")
    assert "U+FFFF (a code Unicode reserves as a non-character)" in problem.message and problem.line == 4
    # campaign.yaml goes through the same reader: its problem names it and the line
    campaign_file = campaign_dir / "campaign.yaml"
    before = campaign_file.read_text(encoding="utf-8")
    campaign_file.write_text(before + "language: e\x00n\n", encoding="utf-8")
    good = write_calendar("good.yaml", "campaign: demo-campaign\nposts: []\n")
    problems = [(p.code, p.file, p.line) for p in check_calendar(good).problems]
    assert problems == [("control-character", str(campaign_file), before.count("\n") + 1)]


def test_a_control_character_from_campaign_yaml_refuses_the_posts_that_carry_it(
    write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    campaign_file = campaign_dir / "campaign.yaml"
    text = campaign_file.read_text(encoding="utf-8").replace('helpline: "Support:', 'helpline: "Support:\\0')
    campaign_file.write_text(text, encoding="utf-8")
    path = write_calendar(
        "cal.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: with-helpline, at: 2031-02-01 09:00, helpline: true, text: "Hi #DemoCampaign"}
          - {id: without, at: 2031-02-01 10:00, text: "Hi #DemoCampaign"}
        """,
    )
    result = check_calendar(path)
    problem = _only(result, "control-character")
    assert problem.post_id == "with-helpline" and "campaign.yaml" in problem.message
    assert set(result.rendered) == {"without"}


# --- secrets ---------------------------------------------------------------------------------------------------


def test_a_configured_secret_is_refused_and_never_repeated(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "cal.yaml",
        f"""
        campaign: demo-campaign
        posts:
          - id: oops
            at: 2031-02-01 09:00
            text: "Our password is {SECRET} #DemoCampaign"
          - id: in-a-link
            at: 2031-02-01 10:00
            text: "Read this #DemoCampaign"
            link: {{url: "htps://example.org/{SECRET}"}}
        """,
    )
    result = check_calendar(path, secrets=["", SECRET])
    codes = sorted((p.post_id, p.code, p.line) for p in _errors(result))
    # the bad link is refused as a link (its post has no link to look into), and its message masks the secret
    assert codes == [("in-a-link", "link-invalid-url", 9), ("oops", "secret-in-text", 5)], _printed(result)
    secret = next(p for p in _errors(result) if p.code == "secret-in-text")
    assert secret.message.startswith("The post's text contains one of the passwords or tokens")
    assert SECRET not in _printed(result) and "********" in _printed(result)  # the link's message masks it
    assert "oops" not in result.rendered
    without = check_calendar(path)  # not configured: just another text (the bad link is still refused)
    assert [p.code for p in _errors(without)] == ["link-invalid-url"]


def test_unconfigured_and_short_secrets_do_not_refuse_everything(write_calendar: WriteCalendar) -> None:
    path = write_calendar("cal.yaml", "campaign: demo-campaign\nposts:\n  - {id: a, at: 2031-02-01 09:00, text: x}\n")
    assert check_calendar(path, secrets=["", "  ", "x", "short"]).ok


@pytest.mark.parametrize(
    ("text", "token", "kind"),
    [
        ("New app password k3vq-x7mb-2pzr-w4ta #DemoCampaign", "k3vq-x7mb-2pzr-w4ta", "Bluesky app password"),
        (f"token: {MASTODON_LIKE} #DemoCampaign", MASTODON_LIKE, "Mastodon access token"),
        ("Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0 #DemoCampaign", "9f8e7d6c5b4a3928", "Bearer"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOmFiYyJ9.c2lnbmF0dXJlLWhlcmU #DemoCampaign",
            "eyJhbGciOiJIUzI1NiJ9",
            "JWT",
        ),
        ("See https://example.org/feed?access_token=a1b2c3d4e5f6g7h8 #DemoCampaign", "a1b2c3d4e5f6g7h8", "address"),
    ],
)
def test_a_token_shaped_string_is_refused_and_never_repeated(
    write_calendar: WriteCalendar, text: str, token: str, kind: str
) -> None:
    assert len(MASTODON_LIKE) == 43
    path = write_calendar("sheet.csv", f'id,date,time,text\nleak,01/02/2031,09:00,"{text}"\n')
    result = check_calendar(path)
    problem = _only(result, "secret-in-text")
    assert problem.post_id == "leak" and kind in problem.message
    assert "row 2, column D (text)".lower() in problem.format().lower()
    assert token not in _printed(result)


def test_ordinary_campaign_text_is_not_mistaken_for_a_token(write_calendar: WriteCalendar) -> None:
    ordinary = [
        "Week one: 2027-02-01 to 2027-02-07, every day at 09:00 #DemoCampaign",
        "Working this-week-from-home? day1-2027-week-plan is out #DemoCampaign",
        "#SurvivorsSpeakUp2027AndWeListenEveryDayNow1 is trending #DemoCampaign",
        "Report: https://example.org/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd/view #DemoCampaign",
        "Nobody should be the bearer of bad news alone. Bearer bonds are not a thing here #DemoCampaign",
        "Ref 123e4567-e89b-12d3-a456-426614174000 and item-2024-week-five #DemoCampaign",
        "Call NAPAC 0808 801 0331 — free, confidential, 10am–9pm #DemoCampaign",
    ]
    rows = "".join(f'row-{n},01/02/2031,{9 + n}:00,"{text}"\n' for n, text in enumerate(ordinary))
    result = check_calendar(write_calendar("sheet.csv", "id,date,time,text\n" + rows))
    assert result.ok, _printed(result)


def test_the_shipped_calendars_pass_with_secrets_configured() -> None:
    calendars = sorted((PROJECT / "campaigns").glob("*/calendars/*"))
    assert len(calendars) >= 3
    for path in calendars:
        result = check_calendar(path, secrets=[SECRET, "k3vq-x7mb-2pzr-w4ta", MASTODON_LIKE])
        assert result.ok and not {p.code for p in result.problems} & {"control-character", "secret-in-text"}, _printed(
            result
        )


# --- through the CLI: validate, show and schedule ----------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, campaign_dir: Path) -> dict[str, str]:
    return cli_env(monkeypatch, tmp_path, {**dict.fromkeys(NO_CREDENTIALS, ""), "MASTODON_ACCESS_TOKEN": SECRET})


def test_cli_validate_and_show_refuse_a_configured_secret_without_printing_it(
    env: dict[str, str], write_calendar: WriteCalendar
) -> None:
    path = write_calendar(
        "cal.yaml", f'campaign: demo-campaign\nposts:\n  - {{id: a, at: 2031-02-01 09:00, text: "{SECRET}"}}\n'
    )
    for command in ("validate", "show"):
        code, output = invoke("calendar", command, str(path))
        assert code == 1, output
        assert "secret-in-text" in output or "passwords or tokens" in output
        assert SECRET not in output


def test_cli_validate_of_the_shipped_calendars_stays_clean(env: dict[str, str]) -> None:
    calendars = [str(p) for p in sorted((PROJECT / "campaigns").glob("*/calendars/*"))]
    code, output = invoke("calendar", "validate", *calendars)
    assert code == 0, output
    assert output.count(": OK") == len(calendars)


UNSAFE_FILES = {
    "nul.csv": 'id,date,time,text\nfirst,01/02/2031,09:00,"Hello\x00 world #DemoCampaign"\n',
    "nul.yaml": 'campaign: demo-campaign\nposts:\n  - {id: first, at: 2031-02-01 09:00, text: "Hi\\0 #DemoCampaign"}\n',
    "secret.yaml": f"campaign: demo-campaign\nposts:\n  - {{id: first, at: 2031-02-01 09:00, text: {SECRET}}}\n",
}
CLEAN_FILE = 'campaign: demo-campaign\nposts:\n  - {id: clean, at: 2031-02-01 09:00, text: "Fine #DemoCampaign"}\n'


def _deliveries(url: str) -> int:
    store = Store(url)
    try:
        with store.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)
    finally:
        store.engine.dispose()


def _schedule_is_refused_before_the_store(url: str, write_calendar: WriteCalendar) -> None:
    for name, content in UNSAFE_FILES.items():
        path = write_calendar(name, content)
        code, output = invoke("schedule", str(path))
        assert code == 1, output
        assert "Traceback" not in output and "psycopg" not in output and "Nothing was scheduled" in output
        assert SECRET not in output and "\x00" not in output
        assert "U+0000 (NUL)" in output or "passwords or tokens" in output
        path.unlink()
        assert _deliveries(url) == 0
    # the same store takes a clean calendar: the refusals above were the check's, not the database's
    clean = write_calendar("clean.yaml", CLEAN_FILE)
    code, output = invoke("schedule", str(clean))
    assert code == 0, output
    assert _deliveries(url) == 2


def test_schedule_refuses_on_sqlite_with_nothing_written(env: dict[str, str], write_calendar: WriteCalendar) -> None:
    _schedule_is_refused_before_the_store(f"sqlite:///{Path(env['CAMPAIGN_DATA_DIR']) / 'campaign.db'}", write_calendar)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"safety_{random_tokens.token_hex(4)}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.url(name, driver="psycopg")
    finally:
        postgres_server.drop_database(name)


def test_schedule_refuses_on_postgresql_with_nothing_written(
    env: dict[str, str], write_calendar: WriteCalendar, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", postgres_url)
    _schedule_is_refused_before_the_store(postgres_url, write_calendar)
