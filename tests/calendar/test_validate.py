"""check_calendar: every problem in one run, rendered parts for every post, limits counted as platforms count."""

from __future__ import annotations

import gc
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from content_calendar.model import PlatformLimits
from content_calendar.validate import check_calendar, cross_file_problems
from tests.calendar.conftest import WriteCalendar

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, 5 code points, 18 UTF-8 bytes


def _summary(result) -> list[tuple[str, str, str | None, int | None]]:  # type: ignore[no-untyped-def]
    return [(p.severity, p.code, p.post_id, p.line) for p in result.problems]


def test_a_clean_calendar_renders_every_post_including_drafts(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "clean.yaml",
        """
        campaign: demo-campaign
        timezone: Europe/London
        defaults: {content_warning: "Child sexual abuse", helpline: true}
        posts:
          - id: one
            at: 2027-02-01 09:00
            text: "Act on the report #DemoCampaign https://example.org/report"
            images: [{file: media/card.jpg, alt: "A purple card"}]
            thread:
              - text: "Reply #DemoCampaign"
          - id: two
            status: draft
            at: 2027-02-01 10:00
            platforms: [bluesky]
            bluesky: {labels: [graphic-media]}
            text: "A draft"
    """,
    )
    result = check_calendar(path)
    assert result.ok and result.problems == []
    assert result.calendar is not None and result.campaign is not None
    assert set(result.rendered) == {"one", "two"}
    assert set(result.rendered["one"]) == {"bluesky", "mastodon"}
    bluesky_root, bluesky_reply = result.rendered["one"]["bluesky"]
    assert bluesky_root.text.startswith("CW: Child sexual abuse\n\nAct on the report")
    assert bluesky_root.text.endswith("Support: NAPAC 0808 801 0331, napac.org.uk")
    assert bluesky_reply.part == 1
    mastodon_root = result.rendered["one"]["mastodon"][0]
    assert mastodon_root.spoiler_text == "Child sexual abuse" and mastodon_root.visibility == "unlisted"
    assert list(result.rendered["two"]) == ["bluesky"]


def test_every_problem_in_one_run(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "many.yaml",
        """
        campaign: demo-campaign
        posts:
          - id: a
            at: 2027-02-01 09:00
            text: "#DemoCampaign"
            imgaes: []
          - id: a
            at: 2027-03-28 01:30
            text: ""
          - id: c
            at: 2027-02-01 11:00
            platforms: [bluesky, friendster]
            text: "No tag"
            images:
              - {file: media/card.jpg}
              - {file: media/nope.jpg, alt: "A photo that is gone"}
    """,
    )
    result = check_calendar(path)
    assert not result.ok
    assert sorted(_summary(result), key=lambda s: (s[3], s[1])) == [
        ("error", "unknown-key", "a", 6),
        ("error", "duplicate-id", "a", 7),
        ("error", "nonexistent-time", "a", 8),
        ("error", "empty-text", "a", 9),
        ("error", "unknown-platform", "c", 12),
        ("warning", "missing-hashtag", "c", 13),
        ("error", "missing-alt", "c", 15),
        ("error", "image-missing", "c", 16),
    ]


def test_bluesky_limits_graphemes_and_bytes(write_calendar: WriteCalendar) -> None:
    exactly = "x" * 288 + " #DemoCampaign"[:12]  # 300 characters
    assert len(exactly) == 300
    path = write_calendar(
        "limits.yaml",
        f"""
        campaign: demo-campaign
        posts:
          - {{id: exactly-300, at: "2027-02-01 09:00", platforms: [bluesky], text: "{exactly}"}}
          - {{id: three-over, at: "2027-02-01 10:00", platforms: [bluesky], text: "{exactly}abc"}}
          - {{id: emoji-fits, at: "2027-02-01 11:00", platforms: [bluesky], text: "{FAMILY * 150} #DemoCampaign"}}
          - {{id: emoji-bytes, at: "2027-02-01 12:00", platforms: [bluesky], text: "{FAMILY * 170} #DemoCampaign"}}
    """,
    )
    result = check_calendar(path)
    assert [(p.code, p.post_id) for p in result.errors] == [
        ("bluesky-too-long", "three-over"),
        ("bluesky-too-many-bytes", "emoji-bytes"),
    ]
    three_over = result.errors[0]
    assert "303 characters (as Bluesky counts them) on Bluesky: 3 over the limit of 300" in three_over.message
    assert result.rendered["emoji-fits"]["bluesky"][0].length == 150 + len(" #DemoCampaign")
    assert "3074 bytes on Bluesky: 74 over" in result.errors[1].message


def test_mastodon_counts_urls_as_23_and_the_content_warning(write_calendar: WriteCalendar) -> None:
    url = "https://example.org/" + "a" * 200
    filler = "y" * (500 - 23 - 1 - len(" #DemoCampaign"))
    path = write_calendar(
        "mastodon.yaml",
        f"""
        campaign: demo-campaign
        posts:
          - {{id: fits, at: "2027-02-01 09:00", platforms: [mastodon], text: "{filler} {url} #DemoCampaign"}}
          - id: cw-tips-it-over
            at: "2027-02-01 10:00"
            platforms: [mastodon]
            content_warning: "CW"
            text: "{filler} {url} #DemoCampaign"
    """,
    )
    result = check_calendar(path, limits=PlatformLimits())
    assert result.rendered["fits"]["mastodon"][0].length == 500
    assert [(p.code, p.post_id, p.line) for p in result.errors] == [("mastodon-too-long", "cw-tips-it-over", 8)]
    assert "502 characters on Mastodon: 2 over the limit of 500 (Mastodon's default), counting the content warning" in (
        result.errors[0].message
    )
    smaller_instance = check_calendar(path, limits=PlatformLimits(mastodon_characters=400))
    assert {p.post_id for p in smaller_instance.errors} == {"fits", "cw-tips-it-over"}


def test_override_text_is_what_gets_measured(write_calendar: WriteCalendar) -> None:
    long_text = "z" * 320 + " #DemoCampaign"
    path = write_calendar(
        "override.yaml",
        f"""
        campaign: demo-campaign
        posts:
          - id: split
            at: "2027-02-01 09:00"
            text: "{long_text}"
            bluesky:
              text: "Short version #DemoCampaign"
          - id: split-wrong
            at: "2027-02-01 10:00"
            text: "Short #DemoCampaign"
            bluesky:
              text: "{long_text}"
    """,
    )
    result = check_calendar(path)
    assert [(p.code, p.post_id, p.line) for p in result.errors] == [("bluesky-too-long", "split-wrong", 11)]


def test_past_posts_warn_only_with_now_and_only_when_approved(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "past.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: gone, at: "2027-02-01 09:00", text: "a #DemoCampaign"}
          - {id: gone-draft, status: draft, at: "2027-02-01 09:00", text: "b #DemoCampaign"}
          - {id: future, at: "2027-02-03 09:00", text: "c #DemoCampaign"}
    """,
    )
    assert check_calendar(path).problems == []
    result = check_calendar(path, now=datetime(2027, 2, 2, tzinfo=UTC))
    assert result.ok and _summary(result) == [("warning", "in-the-past", "gone", 3)]


def test_hashtag_variants_count_case_insensitively(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "tags.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: variant, at: "2027-02-01 09:00", text: "Now: #democampaignnow!"}
          - {id: in-thread, at: "2027-02-01 10:00", text: "Plain", thread: [{text: "#DEMOCAMPAIGN"}]}
          - {id: prefix-only, at: "2027-02-01 11:00", text: "#DemoCampaignery is not the tag"}
          - {id: url-only, at: "2027-02-01 12:00", text: "https://example.org/#DemoCampaign"}
    """,
    )
    result = check_calendar(path)
    assert [(p.code, p.post_id) for p in result.problems if p.code == "missing-hashtag"] == [
        ("missing-hashtag", "prefix-only"),
        ("missing-hashtag", "url-only"),
    ]
    # Written in one case they still count, and screen readers are thought of: the campaign's own form is proposed.
    assert [(p.code, p.post_id) for p in result.problems if p.code != "missing-hashtag"] == [
        ("hashtag-one-case", "variant"),
        ("hashtag-one-case", "in-thread"),
    ]


def test_images_checked_for_type_place_size_and_alt(
    write_calendar: WriteCalendar, campaign_dir: Path, tmp_path: Path
) -> None:
    media = campaign_dir / "media"
    big = Image.effect_noise((3000, 2000), 90).convert("RGB")
    big.save(media / "big.png")  # several MB: must be re-encoded to fit Bluesky's 2,000,000 bytes
    assert (media / "big.png").stat().st_size > 2_000_000
    (media / "notes.jpg").write_text("not an image")
    Image.new("RGB", (10, 10)).save(tmp_path / "secret.jpg")
    os.symlink(tmp_path / "secret.jpg", media / "link.jpg")
    os.symlink(media / "card.jpg", media / "inside-link.jpg")  # a link that stays inside is fine
    path = write_calendar(
        "images.yaml",
        f"""
        campaign: demo-campaign
        posts:
          - id: pictures
            at: "2027-02-01 09:00"
            text: "Pictures #DemoCampaign"
            images:
              - {{file: media/big.png, alt: "Noise"}}
              - {{file: media/inside-link.jpg, alt: "Card"}}
              - {{file: media/notes.jpg, alt: "Notes"}}
              - {{file: media/link.jpg, alt: "Secret"}}
          - id: more
            at: "2027-02-01 10:00"
            text: "More #DemoCampaign"
            images:
              - {{file: {tmp_path / "secret.jpg"}, alt: "Absolute"}}
              - {{file: media/../../../secret.jpg, alt: "Up and out"}}
              - {{file: media/card.jpg, alt: "{"a" * 1501}"}}
              - {{file: media/, alt: "A folder"}}
            link: {{url: "https://example.org", thumbnail: media/notes.jpg}}
    """,
    )
    result = check_calendar(path)
    assert [(p.code, p.post_id, p.line) for p in result.errors] == [
        ("image-unsupported", "pictures", 9),
        ("image-outside-campaign", "pictures", 10),
        ("image-outside-campaign", "more", 15),
        ("image-outside-campaign", "more", 16),
        ("alt-too-long", "more", 17),
        ("image-missing", "more", 18),
        ("image-unsupported", "more", 19),
    ]
    messages = [p.message for p in result.errors]
    assert "symbolic link to a file outside the campaign folder" in messages[1]
    assert "absolute paths are not allowed" in messages[2]
    assert "the path leads outside the campaign folder" in messages[3]
    assert "1501 characters, 1 over Mastodon's limit of 1500" in messages[4]
    assert "is a folder" in messages[5] and "Did you mean" not in messages[5]
    assert "The link's thumbnail: cannot be read as an image" in messages[6]


def test_image_too_large_even_after_resizing(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    Image.effect_noise((800, 800), 120).convert("RGB").save(campaign_dir / "media" / "noise.jpg", quality=95)
    path = write_calendar(
        "noise.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: noisy, at: "2027-02-01 09:00", text: "#DemoCampaign", images: [{file: media/noise.jpg, alt: "Noise"}]}
    """,
    )
    assert check_calendar(path).ok
    tight = PlatformLimits(bluesky_blob_bytes=10_000, mastodon_image_bytes=10_000)
    result = check_calendar(path, limits=tight)
    assert [(p.code, p.post_id, p.line) for p in result.errors] == [("image-too-large", "noisy", 3)]
    assert "cannot be made smaller than 10,000 bytes" in result.errors[0].message


def test_thread_reply_images_and_limits(write_calendar: WriteCalendar) -> None:
    five = ", ".join('{file: media/card.jpg, alt: "x"}' for _ in range(5))
    path = write_calendar(
        "thread.yaml",
        f"""
        campaign: demo-campaign
        posts:
          - id: threaded
            at: "2027-02-01 09:00"
            text: "Root #DemoCampaign"
            thread:
              - text: "fine"
                bluesky: {{skip: true}}
              - text: "{"w" * 301}"
                images: [{five}]
    """,
    )
    result = check_calendar(path)
    assert [(p.code, p.line) for p in result.errors] == [("bluesky-too-long", 9), ("too-many-images", 10)]
    # reply 1 is skipped on Bluesky, so Bluesky's part 1 is reply 2 of the file
    assert result.errors[0].message.startswith("Thread reply 2 is 301 characters (as Bluesky counts them) on Bluesky")


def test_bluesky_only_content_warning_without_labels_warns(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "cw.yaml",
        """
        campaign: demo-campaign
        defaults: {content_warning: "Child sexual abuse"}
        posts:
          - {id: warned, at: "2027-02-01 09:00", platforms: [bluesky], text: "#DemoCampaign"}
          - {id: labelled, at: "2027-02-01 10:00", platforms: [bluesky], text: "#DemoCampaign",
             bluesky: {labels: [graphic-media]}}
          - {id: mastodon-skipped, at: "2027-02-01 11:00", text: "#DemoCampaign", mastodon: {skip: true}}
          - {id: both, at: "2027-02-01 12:00", text: "#DemoCampaign"}
    """,
    )
    result = check_calendar(path)
    assert [(p.code, p.post_id) for p in result.problems] == [
        ("bluesky-no-content-warning", "warned"),
        ("bluesky-no-content-warning", "mastodon-skipped"),
    ]


def test_helpline_requested_but_campaign_has_none(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    helpline = 'helpline: "Support: NAPAC 0808 801 0331, napac.org.uk"\n'
    text = (campaign_dir / "campaign.yaml").read_text().replace(helpline, "")
    (campaign_dir / "campaign.yaml").write_text(text)
    path = write_calendar(
        "help.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: help, at: "2027-02-01 09:00", helpline: true, text: "#DemoCampaign"}
    """,
    )
    result = check_calendar(path)
    assert result.ok and _summary(result) == [("warning", "helpline-missing", "help", 3)]


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    missing = check_calendar(tmp_path / "nope.yaml")
    assert [(p.code, p.file) for p in missing.problems] == [("file-not-found", str(tmp_path / "nope.yaml"))]
    assert missing.calendar is None and not missing.ok
    (tmp_path / "plan.txt").write_text("hello")
    assert [p.code for p in check_calendar(tmp_path / "plan.txt").problems] == ["unsupported-file"]


@pytest.mark.parametrize("problem_property", ["errors", "warnings"])
def test_check_result_properties(write_calendar: WriteCalendar, problem_property: str) -> None:
    path = write_calendar(
        "props.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: untagged, at: "2027-02-01 09:00", text: "x"}
          - {id: Bad, at: "2027-02-01 10:00", text: "#DemoCampaign"}
    """,
    )
    result = check_calendar(path)
    chosen = getattr(result, problem_property)
    expected = "error" if problem_property == "errors" else "warning"
    assert len(chosen) == 1 and chosen[0].severity == expected
    assert result.ok is False


def test_the_garbage_collector_is_restored_after_checks_even_in_threads(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "gc.yaml", "campaign: demo-campaign\nposts:\n  - {id: a, at: '2027-02-01 09:00', text: '#DemoCampaign'}\n"
    )
    assert gc.isenabled()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check_calendar, [path] * 16))
    assert all(result.ok for result in results)
    assert gc.isenabled()
    gc.disable()
    try:
        check_calendar(path)
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


def test_images_and_a_link_card_on_bluesky_warn_that_the_card_is_left_out(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "card.yaml",
        """
        campaign: demo-campaign
        posts:
          - id: both
            at: "2027-02-01 09:00"
            text: "Read it #DemoCampaign"
            link: {url: "https://example.org/report", title: "Report"}
            images: [{file: media/card.jpg, alt: "A purple card"}]
          - id: mastodon-only
            at: "2027-02-01 10:00"
            platforms: [mastodon]
            text: "Read it #DemoCampaign"
            link: {url: "https://example.org/report", title: "Report"}
            images: [{file: media/card.jpg, alt: "A purple card"}]
    """,
    )
    result = check_calendar(path)
    assert result.ok and _summary(result) == [("warning", "bluesky-card-and-images", "both", 6)]


def test_cross_file_ids_compare_files_by_resolved_path(
    write_calendar: WriteCalendar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = write_calendar("day1.csv", "id,date,time,text\nrow-1,01/02/2027,09:00,Sheet #DemoCampaign\n")
    monkeypatch.chdir(tmp_path)
    relative = check_calendar(sheet.relative_to(tmp_path))
    absolute = check_calendar(sheet)
    assert relative.ok and absolute.ok
    assert cross_file_problems([relative, absolute]) == []
    other = write_calendar("other.csv", "id,date,time,text\nrow-1,02/02/2027,09:00,Other #DemoCampaign\n")
    (problem,) = cross_file_problems([relative, absolute, check_calendar(other)])
    assert (problem.code, problem.file, problem.post_id) == ("duplicate-id", str(other), "row-1")


def test_hashtag_missing_from_one_platforms_own_text_names_that_place(write_calendar: WriteCalendar) -> None:
    path = write_calendar(
        "own-texts.csv",
        "id,date,time,text,mastodon_text\n"
        "row-1,01/02/2027,09:00,Tagged #DemoCampaign,Untagged on Mastodon\n"
        "row-2,01/02/2027,10:00,(#DemoCampaign) in brackets,\n",
    )
    result = check_calendar(path)
    assert _summary(result) == [("warning", "missing-hashtag", "row-1", 2), ("warning", "missing-hashtag", "row-2", 3)]
    first, second = result.problems
    assert first.message.startswith("On Mastodon the post has none of the campaign's hashtags")
    assert "Add #DemoCampaign to the `mastodon_text` cell" in first.fix
    assert "`(#DemoCampaign`, which is not a hashtag on Bluesky" in second.message
    assert "(Mastodon does read it as a tag)" in second.message
