"""Whatever a file says, loading and checking report Problems: they never raise."""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from content_calendar.validate import check_calendar
from tests.calendar.conftest import WriteCalendar


def _codes(path: Path) -> list[tuple[str, int | None]]:
    return [(p.code, p.line) for p in check_calendar(path).problems]


def test_yaml_with_bom_and_crlf_keeps_line_numbers(write_calendar: WriteCalendar) -> None:
    text = (
        "campaign: demo-campaign\r\nposts:\r\n  - id: a\r\n    at: 2027-02-01 09:00\r\n    text: x\r\n"
        '  - id: a\r\n    at: 2027-02-01 10:00\r\n    text: "y\r\n      z #DemoCampaign"\r\n'
    )
    path = write_calendar("crlf.yaml", ("\ufeff" + text).encode("utf-8"))
    result = check_calendar(path)
    assert [(p.code, p.line) for p in result.problems] == [("missing-hashtag", 5), ("duplicate-id", 6)]
    assert result.calendar is not None and result.calendar.posts[1].text == "y z #DemoCampaign"


def test_unsafe_tags_recursion_and_bad_merges_are_problems(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "odd.yaml",
        """
        campaign: demo-campaign
        anchor: 2027-02-30
        posts:
          - id: tagged
            at: 2027-02-01 09:00
            text: "#DemoCampaign"
            helpline: !!python/object:os.system "echo hi"
            images:
              - {file: media/card.jpg, alt: "A card of words", focus: &f [*f, 1]}
          - <<: 5
            id: merged
            at: 2027-02-01 10:00
            text: "#DemoCampaign"
          - id: listy
            at: [2027, 2, 1]
            text: {a: b}
    """,
    )
    assert sorted(_codes(path), key=lambda c: c[1] or 0) == [
        ("invalid-anchor", 2),
        ("wrong-type", 7),
        ("invalid-focus", 9),
        ("yaml-merge", 10),
        ("wrong-type", 15),
        ("wrong-type", 16),
        ("empty-text", 16),
    ]


def test_binary_and_empty_files(write_calendar: WriteCalendar) -> None:
    assert _codes(write_calendar("empty.yaml", "")) == [("empty-file", 1)]
    assert _codes(write_calendar("blank.csv", "\n\n")) == [("empty-calendar", None)]
    assert _codes(write_calendar("binary.yaml", b"\x00\x01\xff\xfe")) == [("not-utf8", 1)]
    nul = _codes(write_calendar("nul.csv", "id,date,time,text\na,01/02/2027,09:00,x\x00y #DemoCampaign\n"))
    assert nul == [("control-character", 2)]  # refused by the check, never left to the store (issue 16)


_FRAGMENTS = [
    "campaign: demo-campaign",
    "timezone: Europe/London",
    "timezone: Nowhere/Else",
    "anchor: 2027-02-01",
    "posts:",
    "  - id: a",
    "  - id: B!",
    "    at: 2027-02-01 09:00",
    "    at: day 2 18:30",
    "    at: 2027-03-28 01:30",
    "    at: 2027-10-31 01:30",
    "    at: [1, 2]",
    "    text: hello #DemoCampaign",
    "    text: |",
    "      line",
    "    platforms: [bluesky, mastodon, myspace]",
    "    images:",
    "      - {file: media/card.jpg, alt: a}",
    "      - {file: ../x.jpg}",
    "      - media/nope.png",
    "    link: {url: ftp://x}",
    "    link: https://example.org",
    "    thread:",
    "      - text: reply",
    "      - {}",
    "    bluesky: {text: '', labels: [gore], skip: maybe}",
    "    mastodon: {visibility: public, content_warning: cw}",
    "    status: draft",
    "    status: sent",
    "defaults:",
    "  platforms: mastodon",
    "  content_warning: CW",
    "    helpline: yes",
    "  - &x {id: c}",
    "  - <<: *x",
    "- nonsense",
    "  : :",
    "\t",
    "'",
    '"',
    "{",
    "[",
    "]",
    "%YAML 1.1",
    "---",
    "...",
    "? [a, b]",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.sampled_from(_FRAGMENTS), max_size=25))
def test_random_yaml_never_raises(write_calendar: WriteCalendar, lines: list[str]) -> None:
    path = write_calendar("fuzz.yaml", "\n".join(lines) + "\n")
    result = check_calendar(path)
    for problem in result.problems:
        assert problem.message and problem.fix and problem.file == str(path)
        assert problem.line is None or problem.line >= 1


_CELLS = st.sampled_from(
    [
        "",
        "id",
        "date",
        "time",
        "text",
        "platforms",
        "image",
        "image_alt",
        "status",
        "link",
        "message_text",
        "time_24hr",
        "01/02/2027",
        "2027-02-01",
        "31/02/2027",
        "09:00",
        "25:61",
        "01/02/2027 09:00",
        "bluesky; x",
        "draft",
        "sent",
        "media/card.jpg",
        "../../etc/passwd",
        "https://example.org",
        "javascript:alert(1)",
        '"quoted, cell"',
        '"unclosed',
        "#DemoCampaign",
        "é ☃ 👨‍👩‍👧",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(_CELLS, min_size=1, max_size=8), max_size=8),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_random_csv_never_raises(write_calendar: WriteCalendar, rows: list[list[str]], newline: str, bom: bool) -> None:
    text = newline.join(",".join(row) for row in rows) + newline
    path = write_calendar("fuzz.csv", (("\ufeff" if bom else "") + text).encode("utf-8"))
    result = check_calendar(path)
    for problem in result.problems:
        assert problem.message and problem.fix and problem.file == str(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=string.printable + "éß☃\u200d👍🏽", max_size=400))
def test_random_post_text_always_renders_or_is_reported(write_calendar: WriteCalendar, text: str) -> None:
    quoted = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    quoted = quoted.replace("\t", "\\t").replace("\x0b", "\\v").replace("\x0c", "\\f")
    path = write_calendar(
        "text.yaml", f'campaign: demo-campaign\nposts:\n  - {{id: t, at: "2027-02-01 09:00", text: "{quoted}"}}\n'
    )
    result = check_calendar(path)
    codes = {p.code for p in result.problems}
    assert "render-failed" not in codes
    # a carriage return, vertical tab or form feed inside the text is refused by name (issue 16)
    assert ("control-character" in codes) == any(char in text.strip() for char in "\r\x0b\x0c")
    if text.strip() and not codes & {"yaml-syntax", "control-character"}:
        assert "t" in result.rendered
