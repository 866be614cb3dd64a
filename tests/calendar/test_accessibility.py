"""Accessibility and safe-messaging checks (issue 17): each rule with cases that pass and cases flagged, including
Welsh, emoji ZWJ sequences and right-to-left text; topic protections applied or required; the helpline line
placed where it fits; and applying protections twice changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import emoji
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content_calendar.care import TopicProtection
from content_calendar.model import Campaign, PlatformOverride, Post, ThreadPart
from content_calendar.protections import apply_protections, helpline_part, lacking, why_on_topic
from content_calendar.render import render_post
from content_calendar.validate import check_calendar
from content_calendar.validate.accessibility import emoji_in, hashtag_forms, one_case_hashtags, words
from tests.calendar.conftest import CAMPAIGN_YAML, WriteCalendar

ACCESS_CODES = {
    "alt-file-name", "alt-placeholder", "alt-image-of", "alt-too-short", "alt-repeats-text", "alt-missing-card-text",
    "hashtag-one-case", "too-many-emoji", "emoji-starts-line", "protection-missing",
}  # fmt: skip


def _findings(path: Path) -> list[tuple[str, str, str | None]]:
    result = check_calendar(path)
    return [(p.severity, p.code, p.post_id) for p in result.problems if p.code in ACCESS_CODES]


def _set_campaign(campaign_dir: Path, extra: str) -> None:
    (campaign_dir / "campaign.yaml").write_text(CAMPAIGN_YAML + extra, encoding="utf-8")


def _post(post_id: str, text: str, alt: str, extra: str = "") -> str:
    return (
        f"  - id: {post_id}\n    at: '2027-02-01 09:00'\n    text: {text!r}\n"
        f"    images:\n      - file: media/card.jpg\n        alt: {alt!r}\n{extra}"
    )


ALT_CASES = [
    # (id, alt, code or None)
    ("file-name", "IMG_2041.jpg", "alt-file-name"),
    ("own-file-name", "card", "alt-file-name"),
    ("placeholder", "Image", "alt-placeholder"),
    ("placeholder-article", "a photo.", "alt-placeholder"),
    ("welsh-placeholder", "Llun", "alt-placeholder"),
    ("image-of", "Image of a bench in a park at dusk", "alt-image-of"),
    ("picture-of", "A picture of two people talking", "alt-image-of"),
    ("too-short", "Benches", "alt-too-short"),
    ("arabic-too-short", "مقعد", "alt-too-short"),
    ("describes", "A wooden bench in a park at dusk, a plaque on its back", None),
    ("welsh-describes", "Mae'n bwysig siarad: cerdyn porffor gyda llythrennau gwyn", None),
    ("welsh-apostrophes", "Mae'n dywyll", None),  # two words would be short: three are not...
    ("arabic-describes", "مقعد خشبي في حديقة عند الغسق", None),
    ("hebrew-describes", "ספסל עץ בפארק בשעת בין ערביים", None),
    ("japanese-describes", "公園のベンチと夕暮れの空", None),  # no spaces between words: no word count
    ("graphic-card", "Graphic card reading: support is available", None),  # not "graphic of"
]


def test_alt_text_that_describes_passes_and_the_rest_is_flagged(write_calendar: WriteCalendar) -> None:
    posts = "".join(_post(case, "Text of the post. #DemoCampaign", alt) for case, alt, _ in ALT_CASES)
    found = _findings(write_calendar("alt.yaml", "campaign: demo-campaign\nposts:\n" + posts))
    expected = [("warning", code, case) for case, _, code in ALT_CASES if code is not None]
    expected.append(("warning", "alt-too-short", "welsh-apostrophes"))  # "Mae'n" is one word: 2 words in all
    assert sorted(found) == sorted(expected)


def test_alt_text_repeating_the_post_and_a_card_missing_words(write_calendar: WriteCalendar) -> None:
    card = "        image_text: |-\n          Support is available\n          NAPAC 0808 801 0331\n"
    path = write_calendar(
        "cards.yaml",
        "campaign: demo-campaign\nposts:\n"
        + _post("repeats", "Talking can help. You are not alone. #DemoCampaign", "Talking can help. You are not alone.")
        + _post("card-ok", "Support. #DemoCampaign", 'A plum card reading "Support is available", then "NAPAC '
                "0808 801 0331\" in gold.", card)
        + _post("card-missing", "Support. #DemoCampaign", 'A plum card reading "Support is available".', card),
    )  # fmt: skip
    result = check_calendar(path)
    assert result.ok
    found = [(p.code, p.post_id) for p in result.problems if p.code in ACCESS_CODES]
    assert found == [("alt-repeats-text", "repeats"), ("alt-missing-card-text", "card-missing")]
    missing = next(p for p in result.problems if p.code == "alt-missing-card-text")
    assert '"NAPAC 0808 801 0331"' in missing.message and "Support is available" not in missing.message
    assert missing.format().startswith(f"{path}:") and "post card-missing" in missing.format()


def test_strict_campaign_makes_alt_text_findings_errors(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    _set_campaign(campaign_dir, "accessibility: strict\n")
    path = write_calendar("strict.yaml", "campaign: demo-campaign\nposts:\n" + _post("p", "Hi #DemoCampaign", "photo"))
    assert _findings(path) == [("error", "alt-placeholder", "p")]
    assert not check_calendar(path).ok


def test_hashtags_in_one_case_get_the_campaigns_own_form_and_nothing_is_guessed() -> None:
    campaign = Campaign("c", "C", Path("."), ("#ItsNotOK", "#ActOnIICSA"), ("#itsnotokay", "#NSPCC"))
    forms = hashtag_forms(campaign)
    text = (
        "#itsnotok #ACTONIICSA #ActOnIICSA #IICSA #NSPCC #itsnotokay #mentalhealth #Itsnotok "
        "#العربية #עברית #DiolchCymru x#itsnotok https://example.org/#itsnotok"
    )
    assert list(one_case_hashtags(text, forms)) == [
        ("#itsnotok", "#ItsNotOK"),
        ("#ACTONIICSA", "#ActOnIICSA"),
        ("#Itsnotok", "#ItsNotOK"),  # a capital only at the start marks no words either
    ]


def test_emoji_are_counted_as_people_see_them() -> None:
    family, flag, wales, heart = "👩‍👩‍👧‍👦", "🇬🇧", "🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f", "❤️"
    assert [e for _, e in emoji_in(f"{family}{flag}{wales} {heart} © 2027 ™")] == [family, flag, wales, heart]
    assert emoji_in("Mae'n bwysig siarad") == [] and emoji_in("نحن هنا من أجلك") == []


def test_emoji_rules_in_a_calendar(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    path = write_calendar(
        "emoji.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: three, at: "2027-02-01 09:00", text: "Mae'n bwysig siarad 👩‍👩‍👧‍👦 🇬🇧 🏴󠁧󠁢󠁷󠁬󠁳󠁿 #DemoCampaign"}
          - {id: four, at: "2027-02-01 10:00", text: "We are here 👩‍👩‍👧‍👦 🇬🇧 🏴󠁧󠁢󠁷󠁬󠁳󠁿 ❤️ #DemoCampaign"}
          - id: starts
            at: "2027-02-01 11:00"
            text: "Call us any time:\\n📞 0808 801 0331\\n#DemoCampaign"
          - {id: rtl, at: "2027-02-01 12:00", text: "نحن هنا من أجلك ❤️ #DemoCampaign"}
          - {id: thread, at: "2027-02-01 13:00", text: "Read on #DemoCampaign", thread: [{text: "👉 the next part"}]}
        """,
    )
    assert _findings(path) == [
        ("warning", "too-many-emoji", "four"),
        ("warning", "emoji-starts-line", "starts"),
        ("warning", "emoji-starts-line", "thread"),
    ]
    starts = next(p for p in check_calendar(path).problems if p.post_id == "starts")
    assert "line 2" in starts.message and '"telephone receiver"' in starts.message
    _set_campaign(campaign_dir, "accessibility: {max_emoji: 0}\n")
    assert ("warning", "too-many-emoji", "rtl") in _findings(path)


def test_word_counts_hold_across_scripts() -> None:
    assert words("Mae'n bwysig siarad") == ["mae'n", "bwysig", "siarad"]
    assert len(words("مَقْعَدٌ خَشَبِيٌّ")) == 2  # Arabic vowel marks do not split words
    assert len(words("\u200fספסל עץ\u200f")) == 2  # right-to-left marks are not words


PROTECTIONS = """\
protections:
  child-sexual-abuse:
    words: ["child sexual abuse", "abused as children"]
    content_warning: "Mentions child sexual abuse"
    helpline: true
    bluesky: {reply_rules: [following], allow_quotes: false}
    mastodon: {allow_quotes: false}
  suicide:
    words: [suicide]
    mode: require
    content_warning: "Mentions suicide"
    helpline: true
"""


def test_topic_protections_are_applied_or_required(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    _set_campaign(campaign_dir, PROTECTIONS.replace("bluesky: {reply_rules", "bluesky: {labels: [sexual], reply_rules"))
    path = write_calendar(
        "topics.yaml",
        """
        campaign: demo-campaign
        posts:
          - {id: by-words, at: "2027-02-01 09:00", text: "Adults ABUSED as\\nchildren deserve support. #DemoCampaign"}
          - {id: by-topic, at: "2027-02-01 10:00", topics: [child-sexual-abuse], text: "Read the report. #DemoCampaign"}
          - {id: off-topic, at: "2027-02-01 11:00", text: "Our bake sale raised £300. #DemoCampaign"}
          - {id: suicide-bare, at: "2027-02-01 12:00", text: "Talking about suicide saves lives. #DemoCampaign"}
          - id: suicide-ok
            at: "2027-02-01 13:00"
            content_warning: Mentions suicide
            helpline: true
            text: "Talking about suicide saves lives. #DemoCampaign"
        """,
    )
    result = check_calendar(path)
    assert [(p.code, p.post_id) for p in result.problems] == [("protection-missing", "suicide-bare")]
    error = result.problems[0]
    assert "a content warning and the helpline line" in error.message and '"suicide"' in error.message
    assert '`content_warning: "Mentions suicide"`' in error.fix and "`helpline: true`" in error.fix
    for post_id in ("by-words", "by-topic"):
        bluesky, mastodon = result.rendered[post_id]["bluesky"][0], result.rendered[post_id]["mastodon"][0]
        assert bluesky.text.startswith("CW: Mentions child sexual abuse") and mastodon.spoiler_text
        assert bluesky.text.endswith("NAPAC 0808 801 0331, napac.org.uk") and bluesky.labels == ("sexual",)
        assert bluesky.reply_rules == ("following",)  # the campaign's [following, mentioned], narrowed
        assert not bluesky.allow_quotes and not mastodon.allow_quotes
    off = result.rendered["off-topic"]["mastodon"][0]
    assert not off.spoiler_text and "NAPAC" not in off.text
    posts = {post.id: post for post in result.calendar.posts} if result.calendar else {}
    assert posts["by-words"].protected == (
        "for the topic child-sexual-abuse: a content warning, the helpline line, the Bluesky self-label sexual, "
        "Bluesky replies limited to following",
    )  # quotes were already off for the whole campaign (campaign.yaml `bluesky: {allow_quotes: false}`)
    assert posts["off-topic"].protected == ()


def test_bad_protections_in_campaign_yaml_are_clear_errors(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    _set_campaign(
        campaign_dir,
        "accessibility: {checks: lenient}\nprotections:\n  Bad Topic: {helpline: true}\n"
        "  suicide: {mode: insist, bluesky: {labels: [sad]}}\n  self-harm: {}\n",
    )
    path = write_calendar("any.yaml", "campaign: demo-campaign\nposts: []\n")
    messages = [p.message for p in check_calendar(path).problems if p.severity == "error"]
    assert any("`accessibility: checks` is `lenient`" in m for m in messages)
    assert any("`Bad Topic`" in m or "`bad topic`" in m for m in messages)
    assert any("mode` is `insist`" in m for m in messages)
    assert any("self-label `sad`" in m for m in messages)
    assert any("`protections: self-harm` asks for nothing" in m for m in messages)


HELPLINE = "Support: NAPAC 0808 801 0331, napac.org.uk"


def _campaign() -> Campaign:
    return Campaign("c", "C", Path("."), ("#DemoCampaign",), helpline=HELPLINE, reply_rules=None)


def test_the_helpline_goes_where_it_fits_else_as_the_last_reply() -> None:
    at = datetime(2027, 2, 1, 9, tzinfo=UTC)
    short = Post("short", at, "Short text. #DemoCampaign", ("bluesky", "mastodon"), helpline=True)
    full = replace(short, id="full", text="x" * 280, thread=(ThreadPart("a reply"),))
    rendered = render_post(short, _campaign())
    assert [helpline_part(parts, HELPLINE) for parts in rendered.values()] == [0, 0]
    rendered = render_post(full, _campaign())
    bluesky, mastodon = rendered["bluesky"], rendered["mastodon"]
    assert [p.text for p in bluesky] == ["x" * 280, "a reply", HELPLINE]  # 300 graphemes: no room on Bluesky
    assert helpline_part(bluesky, HELPLINE) == 2 and helpline_part(mastodon, HELPLINE) == 0  # room on Mastodon
    too_long = replace(short, id="long", text="y" * 320)  # over even without it: stays, and is reported as such
    assert render_post(too_long, _campaign())["bluesky"][0].text.endswith(HELPLINE)


_platforms = st.sampled_from([("bluesky",), ("mastodon",), ("bluesky", "mastodon")])
_overrides = st.dictionaries(
    st.sampled_from(["bluesky", "mastodon"]),
    st.builds(
        PlatformOverride,
        content_warning=st.sampled_from([None, "", "Own warning"]),
        labels=st.sampled_from([None, (), ("graphic-media",)]),
        reply_rules=st.sampled_from([None, (), ("followers",), ("following", "mentioned")]),
        allow_quotes=st.sampled_from([None, True, False]),
        text=st.sampled_from([None, "About child sexual abuse", f"Own text {HELPLINE}"]),
    ),
    max_size=2,
)
_protections = st.builds(
    TopicProtection,
    topic=st.just("child-sexual-abuse"),
    words=st.sampled_from([(), ("child sexual abuse",)]),
    content_warning=st.sampled_from(["", "Mentions child sexual abuse"]),
    helpline=st.booleans(),
    helpline_line=st.sampled_from(["", "Samaritans 116 123"]),
    labels=st.sampled_from([(), ("sexual",), ("sexual", "graphic-media")]),
    reply_rules=st.sampled_from([None, (), ("following",), ("following", "mentioned")]),
    bluesky_quotes=st.sampled_from([None, False]),
    mastodon_quotes=st.sampled_from([None, False]),
)


@settings(max_examples=200, deadline=None)
@given(
    platforms=_platforms,
    overrides=_overrides,
    protections=st.lists(_protections, min_size=1, max_size=3),
    text=st.sampled_from(["A post about child sexual abuse.", "Bake sale!", f"Talk to someone. {HELPLINE}"]),
    topics=st.sampled_from([(), ("child-sexual-abuse",)]),
    warning=st.sampled_from([None, "", "Mentions abuse"]),
    helpline=st.booleans(),
    campaign_rules=st.sampled_from([None, ("following", "mentioned")]),
    campaign_quotes=st.booleans(),
)
def test_applying_protections_twice_changes_nothing(
    platforms: tuple[str, ...],
    overrides: dict[str, PlatformOverride],
    protections: list[TopicProtection],
    text: str,
    topics: tuple[str, ...],
    warning: str | None,
    helpline: bool,
    campaign_rules: tuple[str, ...] | None,
    campaign_quotes: bool,
) -> None:
    campaign = replace(
        _campaign(), protections=tuple(protections), reply_rules=campaign_rules, allow_quotes=campaign_quotes
    )
    post = Post("p", datetime(2027, 2, 1, tzinfo=UTC), text, platforms, content_warning=warning,
                overrides=overrides, helpline=helpline, topics=topics)  # fmt: skip
    once = apply_protections(post, campaign)
    assert apply_protections(once, campaign) == once
    for protection in protections:  # and what was applied is no longer lacking
        if protection.topic in topics or (protection.words and "child sexual abuse" in " ".join([text, *(
                o.text or "" for o in overrides.values())]).lower()):  # fmt: skip
            assert lacking(once, protection, campaign) == []


@pytest.mark.parametrize("mode", ["apply", "require"])
def test_a_post_already_carrying_the_helpline_in_its_text_is_not_given_it_twice(mode: str) -> None:
    protection = TopicProtection("child-sexual-abuse", ("abuse",), mode, helpline=True)  # type: ignore[arg-type]
    campaign = replace(_campaign(), protections=(protection,))
    post = Post("p", datetime(2027, 2, 1, tzinfo=UTC), f"On abuse.\n\n{HELPLINE}", ("bluesky",))
    assert lacking(post, protection, campaign) == [] and apply_protections(post, campaign) is post


def test_a_post_listing_the_helplines_numbers_in_its_own_words_carries_them() -> None:
    protection = TopicProtection("child-sexual-abuse", ("abuse",), "require", helpline=True)
    helpline = "Rape Crisis 0808 500 2222 · NAPAC 0808 801 0331"
    campaign = replace(_campaign(), helpline=helpline, protections=(protection,))
    at = datetime(2027, 2, 1, tzinfo=UTC)
    listed = Post("p", at, "On abuse. Rape Crisis 24/7: 0808 500 2222\nNAPAC (adults): 08088010331", ("bluesky",))
    one_only = replace(listed, text="On abuse. Rape Crisis 24/7: 0808 500 2222")
    assert lacking(listed, protection, campaign) == []
    assert lacking(one_only, protection, campaign) == ["the helpline line"]


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "calendar",
    ["act-on-iicsa/calendars/jan-mar-2027.yaml", "sasvaw-week/calendars/week-2027.yaml",
     "sasvaw-week/calendars/week-2027-day1.csv"],
)  # fmt: skip
def test_the_shipped_calendars_pass_clean_with_their_topics_mapped(calendar: str) -> None:
    result = check_calendar(ROOT / "campaigns" / calendar)
    assert result.campaign is not None and result.calendar is not None
    assert [p.format() for p in result.problems if p.code in ACCESS_CODES] == []
    topics = {p.topic: p for p in result.campaign.protections}
    assert "suicide-and-self-harm" in topics
    abuse = topics.get("child-sexual-abuse") or topics["sexual-abuse-and-violence"]
    assert abuse.helpline and abuse.content_warning and abuse.reply_rules is not None
    for post in result.calendar.posts:  # every post on the topic carries what it asks for, by hand or applied
        if why_on_topic(post, abuse) is not None:
            assert lacking(post, abuse, result.campaign) == [], post.id


@pytest.mark.parametrize(
    "text",
    ["Ring 1️⃣ or #️⃣ now", "Dev 👩🏽‍💻 at work ™️ ™ ©", "Cymru 🏴󠁧󠁢󠁷󠁬󠁳󠁿🏴󠁧󠁢󠁷󠁬󠁳󠁿 x\u200d🇬🇧", "نحن ❤️‍🩹 هنا", "no emoji at all → …"],
)
def test_emoji_found_in_stretches_are_those_the_library_finds_in_the_whole_text(text: str) -> None:
    whole = [(m["match_start"], m["emoji"]) for m in emoji.emoji_list(text) if m["emoji"] not in "©®™‼⁉"]
    assert emoji_in(text) == whole


def test_a_topic_with_its_own_support_line(write_calendar: WriteCalendar, campaign_dir: Path) -> None:
    _set_campaign(
        campaign_dir,
        "protections:\n  suicide:\n    words: [suicide]\n    mode: MODE\n    content_warning: Mentions suicide\n"
        '    helpline: "Samaritans 116 123"\n',
    )
    text = "Talking about suicide saves lives. #DemoCampaign"
    path = write_calendar(
        "own-line.yaml",
        f"""
        campaign: demo-campaign
        posts:
          - {{id: short, at: "2027-02-01 09:00", text: "{text}"}}
          - {{id: full, at: "2027-02-01 10:00", helpline: true, text: "{"x" * 200} {text}"}}
          - {{id: written, at: "2027-02-01 11:00", content_warning: Mentions suicide, text: "{text} Call 116 123."}}
        """,
    )
    yaml = (campaign_dir / "campaign.yaml").read_text(encoding="utf-8")
    (campaign_dir / "campaign.yaml").write_text(yaml.replace("MODE", "require"), encoding="utf-8")
    result = check_calendar(path)
    assert [(p.code, p.post_id) for p in result.problems] == [
        ("protection-missing", "short"),
        ("protection-missing", "full"),
    ]
    assert 'a content warning and the line "Samaritans 116 123"' in result.problems[0].message
    assert '"Samaritans 116 123" at the end of its text' in result.problems[0].fix
    (campaign_dir / "campaign.yaml").write_text(yaml.replace("MODE", "apply"), encoding="utf-8")
    result = check_calendar(path)
    assert result.problems == []
    assert result.rendered["short"]["mastodon"][0].text == f"{text}\n\nSamaritans 116 123"
    full = [part.text for part in result.rendered["full"]["bluesky"]]  # both lines as the last reply: no room
    assert len(full) == 2 and full[1].endswith(f"{HELPLINE}\n\nSamaritans 116 123")
    assert "Samaritans" not in result.rendered["written"]["mastodon"][0].text  # its own words carry the number
