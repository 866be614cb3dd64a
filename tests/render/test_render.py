"""render_post: exactly what each platform receives (golden tests, both platforms)."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import replace
from pathlib import Path

from content_calendar.model import (
    Campaign,
    Facet,
    Image,
    Link,
    LinkCard,
    PlatformLimits,
    PlatformOverride,
    RenderedImage,
    RenderedPart,
    ThreadPart,
)
from content_calendar.render import render_post
from tests.render.conftest import HELPLINE, make_post, write_photo

TEXT = "Implement all 20 IICSA recommendations as one package. #ActOnIICSA"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_golden_full_post_on_both_platforms(campaign: Campaign, bench_image: Image, campaign_dir: Path) -> None:
    thumb_path = write_photo(campaign_dir / "media" / "card.jpg", color=(10, 10, 200))
    second_path = write_photo(campaign_dir / "media" / "second.jpg", color=(10, 200, 10))
    post = make_post(
        text=TEXT + "\n",  # as a YAML block scalar gives it
        content_warning="Child sexual abuse",
        language="en",
        helpline=True,
        images=(bench_image,),
        link=Link(
            url="https://example.org/report",
            title="The final report",
            description="IICSA, October 2022",
            thumbnail=Image("media/card.jpg", thumb_path, "unused"),
        ),
        thread=(
            ThreadPart(
                text="Part 2: mandatory reporting. Thanks @napac.org.uk",
                images=(Image("media/second.jpg", second_path, "A letter to an MP"),),
            ),
            ThreadPart(text="Part 3", overrides={"mastodon": PlatformOverride(text="Part 3 for Mastodon")}),
        ),
    )
    rendered = render_post(post, campaign)
    at = post.at
    bench = RenderedImage(str(bench_image.path), bench_image.alt, sha256(bench_image.path))
    second = RenderedImage(str(second_path), "A letter to an MP", sha256(second_path))
    bluesky_root = (
        "CW: Child sexual abuse\n\nImplement all 20 IICSA recommendations as one package. #ActOnIICSA\n\n" + HELPLINE
    )
    cw_line = "CW: Child sexual abuse\n\n"  # Bluesky has no content-warning field: a first line on every part
    tag_start = len("CW: Child sexual abuse\n\nImplement all 20 IICSA recommendations as one package. ")
    helpline_domain = bluesky_root.index("napac.org.uk")
    assert rendered == {
        "bluesky": [
            RenderedPart(
                campaign="act-on-iicsa",
                post_id="recs-01",
                platform="bluesky",
                part=0,
                at=at,
                text=bluesky_root,
                length=len(bluesky_root),
                limit=300,
                images=(bench,),
                facets=(
                    Facet(tag_start, tag_start + len("#ActOnIICSA"), "tag", "ActOnIICSA"),
                    Facet(helpline_domain, helpline_domain + len("napac.org.uk"), "link", "https://napac.org.uk"),
                ),
                langs=("en",),
                link_card=LinkCard(
                    "https://example.org/report",
                    "The final report",
                    "IICSA, October 2022",
                    RenderedImage(str(thumb_path), "unused", sha256(thumb_path)),
                ),
                reply_rules=("following", "mentioned"),
                allow_quotes=False,
            ),
            RenderedPart(
                campaign="act-on-iicsa",
                post_id="recs-01",
                platform="bluesky",
                part=1,
                at=at,
                text=f"{cw_line}Part 2: mandatory reporting. Thanks @napac.org.uk",
                length=len(cw_line) + 49,
                limit=300,
                images=(second,),
                facets=(Facet(len(cw_line) + 36, len(cw_line) + 49, "mention", "napac.org.uk"),),
                langs=("en",),
                reply_rules=None,
                allow_quotes=False,
            ),
            RenderedPart(
                campaign="act-on-iicsa",
                post_id="recs-01",
                platform="bluesky",
                part=2,
                at=at,
                text=f"{cw_line}Part 3",
                length=len(cw_line) + 6,
                limit=300,
                langs=("en",),
                reply_rules=None,
                allow_quotes=False,
            ),
        ],
        "mastodon": [
            RenderedPart(
                campaign="act-on-iicsa",
                post_id="recs-01",
                platform="mastodon",
                part=0,
                at=at,
                text=TEXT + "\n\nhttps://example.org/report\n\n" + HELPLINE,
                length=len("Child sexual abuse") + len(TEXT + "\n\n\n\n" + HELPLINE) + 23,
                limit=500,
                images=(replace(bench, focus=(0.0, -0.5)),),
                allow_quotes=False,
                spoiler_text="Child sexual abuse",
                visibility="public",
                language="en",
            ),
            RenderedPart(
                campaign="act-on-iicsa",
                post_id="recs-01",
                platform="mastodon",
                part=1,
                at=at,
                text="Part 2: mandatory reporting. Thanks @napac.org.uk",
                length=len("Child sexual abuse") + 49,
                limit=500,
                images=(second,),
                allow_quotes=False,
                spoiler_text="Child sexual abuse",
                visibility="public",
                language="en",
            ),
            RenderedPart(
                campaign="act-on-iicsa",
                post_id="recs-01",
                platform="mastodon",
                part=2,
                at=at,
                text="Part 3 for Mastodon",
                length=len("Child sexual abuse") + 19,
                limit=500,
                allow_quotes=False,
                spoiler_text="Child sexual abuse",
                visibility="public",
                language="en",
            ),
        ],
    }
    for parts in rendered.values():
        for part in parts:
            assert RenderedPart.from_json(part.to_json()) == part


def test_golden_plain_post_without_extras(campaign: Campaign) -> None:
    post = make_post(platforms=("mastodon", "bluesky"))
    rendered = render_post(post, replace(campaign, reply_rules=None, allow_quotes=True, language="en"))
    assert list(rendered) == ["mastodon", "bluesky"]
    assert rendered["bluesky"] == [
        RenderedPart(
            campaign="act-on-iicsa",
            post_id="recs-01",
            platform="bluesky",
            part=0,
            at=post.at,
            text=TEXT,
            length=len(TEXT),
            limit=300,
            facets=(Facet(55, 66, "tag", "ActOnIICSA"),),
            langs=("en",),
            reply_rules=None,
            allow_quotes=True,
        )
    ]
    assert rendered["mastodon"] == [
        RenderedPart(
            campaign="act-on-iicsa",
            post_id="recs-01",
            platform="mastodon",
            part=0,
            at=post.at,
            text=TEXT,
            length=len(TEXT),
            limit=500,
            allow_quotes=True,
            visibility="public",
            language="en",
        )
    ]


def test_overrides_win_per_platform(campaign: Campaign) -> None:
    post = make_post(
        content_warning="Child sexual abuse",
        language="cy",
        overrides={
            "bluesky": PlatformOverride(
                text="Short for Bluesky #ActOnIICSA",
                content_warning="",
                labels=("graphic-media",),
                reply_rules=(),
                allow_quotes=True,
            ),
            "mastodon": PlatformOverride(
                text="Longer for Mastodon",
                content_warning="CSA, survivors' accounts",
                visibility="unlisted",
                allow_quotes=True,
            ),
        },
    )
    rendered = render_post(post, campaign)
    (bluesky,) = rendered["bluesky"]
    assert bluesky.text == "Short for Bluesky #ActOnIICSA"  # content_warning "" switched the CW line off
    assert bluesky.labels == ("graphic-media",)
    assert bluesky.reply_rules == ()  # nobody may reply
    assert bluesky.allow_quotes is True
    assert bluesky.langs == ("cy",)
    (mastodon,) = rendered["mastodon"]
    assert mastodon.text == "Longer for Mastodon"
    assert mastodon.spoiler_text == "CSA, survivors' accounts"
    assert mastodon.visibility == "unlisted"
    assert mastodon.language == "cy"
    assert mastodon.allow_quotes is True
    assert mastodon.length == len("CSA, survivors' accounts") + len("Longer for Mastodon")


def test_skip_leaves_the_platform_out(campaign: Campaign) -> None:
    post = make_post(overrides={"mastodon": PlatformOverride(skip=True)})
    assert list(render_post(post, campaign)) == ["bluesky"]
    assert render_post(make_post(platforms=("mastodon",)), campaign).keys() == {"mastodon"}
    assert render_post(make_post(platforms=("bluesky", "myspace")), campaign).keys() == {"bluesky"}


def test_mastodon_does_not_repeat_a_link_already_in_the_text(campaign: Campaign) -> None:
    post = make_post(text="Read https://example.org/report now", link=Link("https://example.org/report"))
    (mastodon,) = render_post(post, campaign)["mastodon"]
    assert mastodon.text == "Read https://example.org/report now"
    (bluesky,) = render_post(post, campaign)["bluesky"]
    assert bluesky.text == "Read example.org/report now"  # shown shortened, as the official client posts it
    assert bluesky.facets == (Facet(5, 23, "link", "https://example.org/report"),)
    assert bluesky.link_card == LinkCard("https://example.org/report", "", "", None)


def test_mastodon_appends_a_link_that_is_only_a_prefix_of_one_in_the_text(campaign: Campaign) -> None:
    post = make_post(text="See https://example.org/abc", link=Link("https://example.org/a"))
    assert render_post(post, campaign)["mastodon"][0].text == "See https://example.org/abc\n\nhttps://example.org/a"
    post = make_post(text="See https://example.org/a.", link=Link("https://example.org/a/"))
    assert render_post(post, campaign)["mastodon"][0].text == "See https://example.org/a."


def test_cw_on_every_part_helpline_and_reply_rules_only_on_the_root(campaign: Campaign) -> None:
    post = make_post(content_warning="CSA", helpline=True, thread=(ThreadPart("two"), ThreadPart("three")))
    bluesky = render_post(post, campaign)["bluesky"]
    # Bluesky has no content-warning field: the "CW:" line goes on each reply too, as Mastodon's spoiler_text does
    assert [p.text for p in bluesky] == [f"CW: CSA\n\n{TEXT}\n\n{HELPLINE}", "CW: CSA\n\ntwo", "CW: CSA\n\nthree"]
    assert [p.length for p in bluesky][1:] == [len("CW: CSA\n\ntwo"), len("CW: CSA\n\nthree")]
    assert [p.reply_rules for p in bluesky] == [("following", "mentioned"), None, None]
    assert [p.allow_quotes for p in bluesky] == [False, False, False]
    assert [p.part for p in bluesky] == [0, 1, 2]
    mastodon = render_post(post, campaign)["mastodon"]
    assert [p.text for p in mastodon] == [f"{TEXT}\n\n{HELPLINE}", "two", "three"]
    assert [p.spoiler_text for p in mastodon] == ["CSA", "CSA", "CSA"]


def test_a_bluesky_content_warning_override_applies_to_the_replies_too(campaign: Campaign) -> None:
    thread = (ThreadPart("two"),)
    off = make_post(content_warning="CSA", thread=thread, overrides={"bluesky": PlatformOverride(content_warning="")})
    assert [p.text for p in render_post(off, campaign)["bluesky"]] == [TEXT, "two"]
    other = make_post(
        content_warning="CSA", thread=thread, overrides={"bluesky": PlatformOverride(content_warning="Abuse")}
    )
    assert [p.text for p in render_post(other, campaign)["bluesky"]] == [f"CW: Abuse\n\n{TEXT}", "CW: Abuse\n\ntwo"]
    assert [p.spoiler_text for p in render_post(other, campaign)["mastodon"]] == ["CSA", "CSA"]


def test_helpline_is_not_added_when_the_campaign_has_none(campaign: Campaign) -> None:
    post = make_post(helpline=True)
    assert render_post(post, replace(campaign, helpline=""))["bluesky"][0].text == TEXT


def test_thread_part_can_be_skipped_on_one_platform(campaign: Campaign) -> None:
    post = make_post(thread=(ThreadPart("two", overrides={"bluesky": PlatformOverride(skip=True)}), ThreadPart("3")))
    rendered = render_post(post, campaign)
    assert [(p.part, p.text) for p in rendered["bluesky"]] == [(0, TEXT), (1, "3")]
    assert [(p.part, p.text) for p in rendered["mastodon"]] == [(0, TEXT), (1, "two"), (2, "3")]


def test_lengths_and_limits_follow_the_given_limits(campaign: Campaign) -> None:
    long_text = "é" * 301 + " https://example.org/" + "p" * 100
    post = make_post(text=long_text)
    limits = PlatformLimits(bluesky_graphemes=400, mastodon_characters=1000, mastodon_url_weight=30)
    rendered = render_post(post, campaign, limits)
    # Bluesky shows (and counts) the link as example.org/ and 13 characters of its path, then "..."
    assert rendered["bluesky"][0].text == "é" * 301 + " example.org/" + "p" * 12 + "..."
    assert (rendered["bluesky"][0].length, rendered["bluesky"][0].limit) == (301 + 1 + 11 + 13 + 3, 400)
    assert (rendered["mastodon"][0].length, rendered["mastodon"][0].limit) == (301 + 1 + 30, 1000)


def test_bluesky_shows_links_shortened_like_the_official_client_and_counts_them_so(campaign: Campaign) -> None:
    # Two full URLs made this 371 graphemes (an error); the official client posts it at 273.
    first = "https://www.iicsa.org.uk/reports-recommendations/publications/inquiry/final-report"
    second = "https://assets.publishing.service.gov.uk/media/government-response-to-the-iicsa-final-report.pdf"
    words = "The inquiry's final report and the government's response are both online. Just read them. " * 2
    text = f"{words}{first} {second} #ActOnIICSA"
    assert len(text) == 371
    post = make_post(text=text, thread=(ThreadPart(f"Again: {first}"),))
    bluesky, reply = render_post(post, campaign)["bluesky"]
    shown = "www.iicsa.org.uk/reports-reco... assets.publishing.service.gov.uk/media/govern..."
    assert bluesky.text == f"{words}{shown} #ActOnIICSA"
    assert bluesky.length == len(bluesky.text) == 273 and bluesky.length <= bluesky.limit
    data = bluesky.text.encode()
    assert [(data[f.byte_start : f.byte_end].decode(), f.kind, f.value) for f in bluesky.facets] == [
        ("www.iicsa.org.uk/reports-reco...", "link", first),
        ("assets.publishing.service.gov.uk/media/govern...", "link", second),
        ("#ActOnIICSA", "tag", "ActOnIICSA"),
    ]
    assert reply.text == "Again: www.iicsa.org.uk/reports-reco..."
    assert reply.facets == (Facet(7, 39, "link", first),)
    # Mastodon gets the full URLs (it shortens them itself, and counts each as 23)
    assert render_post(post, campaign)["mastodon"][0].text == text


def test_crlf_text_is_sent_with_lf(campaign: Campaign) -> None:
    post = make_post(text="line one\r\nline two\r\n")
    assert render_post(post, campaign)["bluesky"][0].text == "line one\nline two"


def test_missing_image_has_empty_sha256_and_a_changed_image_changes_the_hash(
    campaign: Campaign, campaign_dir: Path
) -> None:
    missing = Image("media/nope.jpg", campaign_dir / "media" / "nope.jpg", "alt")
    assert render_post(make_post(images=(missing,)), campaign)["bluesky"][0].images[0].sha256 == ""
    path = write_photo(campaign_dir / "media" / "changing.jpg", color=(1, 2, 3))
    post = make_post(images=(Image("media/changing.jpg", path, "alt"),))
    before = render_post(post, campaign)["mastodon"][0]
    stamp = path.stat().st_mtime_ns
    write_photo(path, color=(200, 100, 50))
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # as an editor saving a second later would
    after = render_post(post, campaign)["mastodon"][0]
    assert before.images[0].sha256 != after.images[0].sha256
    assert after.images[0].sha256 == sha256(path)
    assert before.content_hash() != after.content_hash()


def test_rendering_is_deterministic(campaign: Campaign, bench_image: Image) -> None:
    post = make_post(images=(bench_image,), content_warning="CSA", thread=(ThreadPart("two #ItsNotOK"),))
    first = render_post(post, campaign)
    second = render_post(post, campaign)
    assert first == second
    assert [p.content_hash() for p in first["bluesky"]] == [p.content_hash() for p in second["bluesky"]]


def test_rendering_stays_cheap(campaign: Campaign) -> None:
    """A guard against slow regressions (per-call regex compiles, grapheme counting of plain text).

    Measured here at about 50-90 µs a post for both platforms; the bound is ten times that, so only a real
    regression fails it. bench/calendar_load.py measures the whole load + check path.
    """
    texts = [
        "We’re asking the government ❤️ to act on all 20 recommendations 👍🏽 of the IICSA final report. "
        f"#ActOnIICSA #ItsNotOK https://example.org/report-{i} @napac.org.uk"
        for i in range(500)
    ]
    posts = [make_post(id=f"p-{i}", text=text, content_warning="CSA", helpline=True) for i, text in enumerate(texts)]
    started = time.perf_counter()
    for post in posts:
        render_post(post, campaign)
    per_post = (time.perf_counter() - started) / len(posts)
    assert per_post < 0.001, f"{per_post * 1e6:.0f} µs per post"
