"""The adapter's pure helpers: status HTML to plain text, version parsing, instance limits with defaults."""

from __future__ import annotations

from datetime import UTC, datetime

from platforms.mastodon import InstanceLimits, html_to_plain, parse_version, snowflake_at


def test_html_to_plain_keeps_text_and_drops_markup_safely() -> None:
    content = (
        '<p>Read <a href="https://example.org/x"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.org/a-long-path-that-i</span><span class="invisible">s-cut</span></a>'
        " &amp; share<br />#<span>ActOnIICSA</span></p><p>Second &lt;p&gt;</p><script>alert(1)</script>"
    )
    assert (
        html_to_plain(content) == "Read https://example.org/a-long-path-that-is-cut & share\n#ActOnIICSA\n\nSecond <p>"
    )
    assert html_to_plain("") == ""


def test_versions_with_suffixes_parse_and_gate_features() -> None:
    assert parse_version("4.5.0-beta.2") == (4, 5, 0)
    assert parse_version("4.3.0+glitch") == (4, 3, 0)
    assert parse_version("4.2") == (4, 2, 0)
    assert parse_version("garbage") == (0, 0, 0)
    assert InstanceLimits(version="4.5.0").supports_quote_policy
    assert not InstanceLimits(version="4.4.9").supports_quote_policy
    assert InstanceLimits(version="4.3.0").supports_batch_statuses
    assert not InstanceLimits(version="4.2.10").supports_batch_statuses


def test_instance_limits_fall_back_to_mastodon_defaults() -> None:
    limits = InstanceLimits.from_instance({"domain": "example.social", "configuration": {"statuses": {}}})
    assert (limits.max_characters, limits.characters_reserved_per_url, limits.max_media_attachments) == (500, 23, 4)
    assert limits.description_limit == 1500
    custom = InstanceLimits.from_instance(
        {"configuration": {"statuses": {"max_characters": 11000}, "media_attachments": {"description_limit": 10000}}}
    )
    assert (custom.max_characters, custom.description_limit) == (11000, 10000)


def test_snowflake_of_a_moment_is_its_milliseconds_shifted() -> None:
    moment = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    assert snowflake_at(moment) >> 16 == int(moment.timestamp() * 1000)
