"""A post's video in the calendar: read from YAML, rendered with its hash and captions, and checked against each
platform's limits (real files encoded by PyAV, probed by PyAV)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from cli.calendar import calendar
from content_calendar.model import DEFAULT_LIMITS, RenderedPart, RenderedVideo, written_alike
from content_calendar.validate import check_calendar
from scheduler.approval import what_changed
from tests.calendar.conftest import WriteCalendar
from tests.support.video import write_captions, write_video

HEAD = """
campaign: demo-campaign
posts:
"""


def _post(video: str, extra: str = "") -> str:
    return (
        HEAD
        + f"""
  - id: film
    at: "2027-02-01 09:00"
    text: "Watch our film #DemoCampaign"
    video: {video}
"""
        + extra
    )


def _errors(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(p.code, p.message) for p in result.errors]


def test_a_video_with_captions_renders_on_both_platforms(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    video = write_video(campaign_dir / "media" / "film.mp4")
    write_captions(campaign_dir / "media" / "film.vtt")
    write_captions(campaign_dir / "media" / "film.cy.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nHelo.\n")
    path = write_calendar(
        "v.yaml",
        _post(
            "\n      file: media/film.mp4\n      alt: A grey square fades to white over one second.\n"
            "      captions: [media/film.vtt, {file: media/film.cy.vtt, lang: cy}]"
        ),
    )
    result = check_calendar(path)
    assert result.problems == []
    bluesky = result.rendered["film"]["bluesky"][0]
    mastodon = result.rendered["film"]["mastodon"][0]
    assert bluesky.video is not None and mastodon.video is not None
    assert bluesky.video.alt == "A grey square fades to white over one second."
    assert [(Path(c.path).name, c.lang) for c in bluesky.video.captions] == [("film.vtt", "en"), ("film.cy.vtt", "cy")]
    assert mastodon.video.captions == ()  # Mastodon takes no caption file
    # The video's bytes are part of what is sent: a changed file changes the part's hash.
    again = RenderedPart.from_json(bluesky.to_json())
    assert again == bluesky
    before = bluesky.content_hash()
    write_video(video, seconds=2)
    changed = check_calendar(path).rendered["film"]["bluesky"][0]
    assert changed.video is not None and changed.video.sha256 != bluesky.video.sha256
    assert changed.content_hash() != before
    assert not written_alike(bluesky.to_json(), changed.to_json())
    # A part without a video hashes as it did before videos existed (no "video" key in its JSON).
    assert "video" not in replace(bluesky, video=None).to_json()


def test_captions_are_required_unless_the_post_says_why_not(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    write_video(campaign_dir / "media" / "film.mp4")
    missing = check_calendar(write_calendar("a.yaml", _post("{file: media/film.mp4, alt: A grey square.}")))
    assert [p.code for p in missing.errors] == ["video-no-captions"]
    assert missing.errors[0].line == 7 and missing.errors[0].post_id == "film"
    assert "no_captions:" in missing.errors[0].fix
    reason = '{file: media/film.mp4, alt: A grey square., no_captions: "Music only, no speech."}'
    assert check_calendar(write_calendar("b.yaml", _post(reason))).problems == []


def test_caption_files_must_be_webvtt(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    write_video(campaign_dir / "media" / "film.mp4")
    write_captions(campaign_dir / "media" / "film.srt", "1\n00:00:00,000 --> 00:00:01,000\nHello\n")
    write_captions(campaign_dir / "media" / "fake.vtt", "1\n00:00:00,000 --> 00:00:01,000\nHello\n")
    write_captions(campaign_dir / "media" / "long.vtt", "WEBVTT\n\n" + "00:00.000 --> 00:01.000\nWords\n\n" * 900)
    path = write_calendar(
        "c.yaml",
        _post(
            "{file: media/film.mp4, alt: A grey square., "
            "captions: [media/film.srt, media/fake.vtt, media/long.vtt, media/gone.vtt]}"
        ),
    )
    assert [code for code, _ in _errors(check_calendar(path))] == [
        "captions-not-webvtt",
        "captions-not-webvtt",
        "captions-too-large",
        "captions-missing",
    ]
    messages = [message for _, message in _errors(check_calendar(path))]
    assert "must be WebVTT (.vtt), not .srt" in messages[0]
    assert "starting with the line WEBVTT" in messages[1]
    assert "20,000 bytes" in messages[2]


def test_too_long_for_bluesky_but_fine_for_mastodon(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    write_video(campaign_dir / "media" / "long.mp4", seconds=181, width=32, height=32, rate=1)
    video = "{file: media/long.mp4, alt: A grey square., no_captions: No sound at all.}"
    result = check_calendar(write_calendar("d.yaml", _post(video)))
    assert _errors(result) == [
        ("video-too-long", "Video media/long.mp4 lasts 3 min 1 s; Bluesky takes at most 3 min 0 s.")
    ]
    mastodon_only = _post(video, "    platforms: [mastodon]\n")
    assert check_calendar(write_calendar("e.yaml", mastodon_only)).problems == []


def test_too_big_wrong_container_and_wrong_codec(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    media = campaign_dir / "media"
    write_video(media / "film.mp4")
    write_video(media / "film.mov", container="mov")
    write_video(media / "film.webm", container="webm", codec="libvpx-vp9")
    (media / "notes.mp4").write_text("not a video")
    (media / "film.avi").write_bytes(b"RIFF")
    path = write_calendar(
        "f.yaml",
        HEAD
        + "".join(
            f"""
  - id: {name.replace(".", "-")}
    at: "2027-02-01 09:00"
    text: "Film #DemoCampaign"
    video: {{file: media/{name}, alt: A grey square., no_captions: No sound.}}
"""
            for name in ("film.mp4", "film.mov", "film.webm", "notes.mp4", "film.avi")
        ),
    )
    small = replace(DEFAULT_LIMITS, mastodon_video=replace(DEFAULT_LIMITS.mastodon_video, max_bytes=1000))
    result = check_calendar(path, limits=small)
    assert [(p.post_id, p.code) for p in result.errors] == [
        ("film-mp4", "video-too-large"),
        ("film-mov", "video-wrong-format"),  # Bluesky takes MP4 only
        ("film-mov", "video-too-large"),
        ("film-webm", "video-wrong-format"),
        ("film-webm", "video-wrong-format"),  # and VP9, not H.264 (a few hundred bytes: Mastodon takes it)
        ("notes-mp4", "video-unsupported"),
        ("film-avi", "video-wrong-format"),
    ]
    messages = [p.message for p in result.errors]
    assert "Mastodon takes at most 0.0 MB" in messages[0]
    assert "is a MOV file; Bluesky takes MP4 only" in messages[1]
    assert "its video is VP9; Bluesky needs H.264" in messages[4]
    assert "cannot be read as a video" in messages[5]


def test_a_post_has_images_or_a_video_and_the_video_needs_alt(
    write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    write_video(campaign_dir / "media" / "film.mp4")
    path = write_calendar(
        "g.yaml",
        _post(
            "{file: media/film.mp4, no_captions: No sound.}",
            "    images: [{file: media/card.jpg, alt: A purple card}]\n",
        )
        + """
  - id: nofile
    at: "2027-02-01 10:00"
    text: "Film #DemoCampaign"
    video: {alt: Something, captions: media/x.vtt}
  - id: outside
    at: "2027-02-01 11:00"
    text: "Film #DemoCampaign"
    video: {file: ../../film.mp4, alt: Something, no_captions: No sound.}
""",
    )
    result = check_calendar(path)
    assert [(p.post_id, p.code) for p in result.errors] == [
        ("film", "video-and-images"),
        ("film", "missing-alt"),
        ("nofile", "video-missing"),
        ("outside", "media-outside-campaign"),
    ]


def test_calendar_show_previews_the_video_with_its_alt_text_and_captions(
    write_calendar: WriteCalendar, campaign_dir: Path
) -> None:
    write_video(campaign_dir / "media" / "film.mp4")
    write_captions(campaign_dir / "media" / "film.vtt")
    path = write_calendar(
        "show.yaml", _post("{file: media/film.mp4, alt: A grey square fades to white., captions: media/film.vtt}")
    )
    result = CliRunner().invoke(calendar, ["show", str(path), "--now", "2027-01-15T12:00:00+00:00"],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    bluesky = out.index("video: film.mp4  alt: A grey square fades to white.  captions: film.vtt (en)")
    mastodon = out.index("video: film.mp4  alt: A grey square fades to white.  captions: none (Mastodon takes no")
    assert out.index("as Bluesky counts them") < bluesky < out.rindex("Mastodon") and mastodon > bluesky


def test_our_spreadsheet_takes_a_video_per_row(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    write_video(campaign_dir / "media" / "film.mp4")
    write_captions(campaign_dir / "media" / "film.vtt")
    path = write_calendar(
        "sheet.csv",
        "id,date,time,text,video,video_alt,captions,no_captions\n"
        "with-captions,2027-02-01,09:00,Our film #DemoCampaign,media/film.mp4,A grey square.,media/film.vtt,\n"
        "no-reason,2027-02-01,10:00,Our film #DemoCampaign,media/film.mp4,A grey square.,,\n"
        "silent,2027-02-01,11:00,Our film #DemoCampaign,media/film.mp4,A grey square.,,No sound at all.\n"
        "stray,2027-02-01,12:00,Our film #DemoCampaign,,A grey square.,,\n",
    )
    result = check_calendar(path)
    assert [(p.post_id, p.code, p.place) for p in result.errors] == [
        ("no-reason", "video-no-captions", "row 3"),
        ("stray", "video-missing", "row 5, column E (video)"),
    ]
    assert "the row's `captions` cell" in result.errors[0].fix
    bluesky = result.rendered["with-captions"]["bluesky"][0]
    assert bluesky.video is not None and [c.lang for c in bluesky.video.captions] == ["en"]
    assert result.rendered["silent"]["bluesky"][0].video is not None


def test_a_changed_video_is_named_as_what_changed_for_approval() -> None:
    at = datetime(2027, 2, 1, 9, tzinfo=UTC)
    part = RenderedPart("c", "p", "bluesky", 0, at, "Film", 4, 300)
    with_video = replace(part, video=RenderedVideo("/m/film.mp4", "Alt", "abc"))
    other_alt = replace(part, video=RenderedVideo("/m/film.mp4", "Other alt", "abc"))
    for before, now in ((part, with_video), (with_video, other_alt)):
        assert what_changed({("bluesky", 0): before.to_json()}, {("bluesky", 0): now.to_json()}, at, at) == ("video",)
