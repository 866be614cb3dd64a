"""The report as people read it: HTML and Markdown (Jinja2 templates in templates/), and CSV tables.

Every piece of text from a post or mention is treated as hostile: HTML escapes it (Jinja2 autoescape, inside
<bdi>, bidi controls removed, and a Content-Security-Policy that allows no script at all), Markdown escapes
its Markdown and HTML characters, CSV guards against formula injection.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from content_calendar.model import PLATFORM_NAMES, PLATFORMS
from scheduler.collection import clean_text
from scheduler.reports.campaign import CampaignReport
from scheduler.reports.charts import growth_chart, mentions_chart, mentions_scale, nice_ceiling, trend_chart
from scheduler.reports.engagement import TOP_POSTS
from scheduler.reports.model import NO_EARLIER_SNAPSHOT, Change, PostEngagement, WeeklyReport, signed

TEMPLATES = Path(__file__).with_name("templates")


def _finalize_html(value: Any) -> Any:
    # Every string printed into the page loses bidi overrides and control characters; autoescape then
    # escapes it (Markup, our own markup, passes through).
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean_text(value)
    return value


_MD_INLINE = re.compile(r"([\\`*_{}\[\]|~])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=]|\d+(?=[.)]))")


def md_escape(value: Any) -> str:
    """Text safe inside Markdown (and the HTML many Markdown renderers allow): one line, inline Markdown
    punctuation backslash-escaped (a link or image needs `[`, so `(` and `!` are harmless elsewhere), what
    would start a heading, list or quote escaped at the start, and <, > and & as entities."""
    if isinstance(value, Markup):
        return str(value)
    if not isinstance(value, str):
        return "" if value is None else str(value)
    text = " ".join(clean_text(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_escape_line_start, text, count=1)


def _escape_line_start(match: re.Match[str]) -> str:
    lead, marker = match.group(1), match.group(2)
    if marker.isdigit():  # "12." starts an ordered list: escape the dot (a backslash before a digit is literal)
        return f"{lead}{marker}\\"
    return f"{lead}\\{marker}"


def thousands(value: Any) -> Any:
    """A count with thousands separators (2,932), the same in tiles, tables and sentences."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value


def _environment(markdown: bool) -> Environment:
    if markdown:
        environment = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=False, finalize=md_escape, undefined=StrictUndefined,
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        )  # fmt: skip
    else:
        environment = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=True, finalize=_finalize_html, undefined=StrictUndefined,
            trim_blocks=True, lstrip_blocks=True,
        )  # fmt: skip
    environment.filters["n"] = thousands
    return environment


def made_at(moment: Any, zone: str) -> str:
    """When a report was made, in the campaign's zone with its abbreviation: "Sun 6 Dec 2026 11:56 GMT"."""
    return str(moment.astimezone(ZoneInfo(zone)).strftime("%a %-d %b %Y %H:%M %Z"))


def _platforms(found: Iterable[str]) -> list[str]:
    """The platforms of a table's columns, in the usual order."""
    return sorted(set(found), key=lambda p: (PLATFORMS.index(p) if p in PLATFORMS else len(PLATFORMS), p))


def hashtag_changes(report: WeeklyReport) -> list[Change]:
    m, before = report.mentions, report.previous.mentions
    return [
        Change("Mentions", m.total, before.total),
        *[Change(f"on {PLATFORM_NAMES.get(p, p)}", m.platform_total(p), before.platform_total(p)) for p in m.platforms],
        Change("Accounts using the hashtag", m.accounts, before.accounts),
        Change("of which new", m.new_accounts, before.new_accounts),
        Change("of which returning", m.returning_accounts, before.returning_accounts),
        Change("Mentions replying to our posts", m.replies_to_us, before.replies_to_us),
    ]


def method(zone: str, include_handles: bool = False) -> list[str]:
    """What the report counts and how, and what it cannot count: its method section, one item a line."""
    return [
        "Engagement is the likes, reposts, replies and quotes each platform reports for our own posts, counted by the "
        "scheduler hourly for a week after a post goes out, then daily until day 30. What a post gained this week is "
        "its count at the last count before the week ended, less its count at the last count before the week began "
        "(from nothing for a post published during the week). A thread's parts are added together; a platform "
        "counts our own next part as a reply, and those replies are taken away.",
        "Hashtag mentions are posts by other accounts that carry one of the campaign's hashtags (in any of its "
        "listed spellings), found by Bluesky's search and by the hashtag timelines of the Mastodon servers the "
        "campaign lists. Our own posts are not counted. A post is counted once however many times it is found: the "
        "same Mastodon post read on two servers, or found again on a later read, is one mention. A day is a day in "
        f"{zone} time, by when the post was written.",
        "Accounts are counted, not named: each is kept as a keyed code that cannot be turned back into a name, and "
        "an account is new the first week it uses the hashtag. Only the accounts the campaign lists as its "
        "organisation accounts are named, and only their words are quoted.",
        "Not available: how many people saw a post (impressions or views) and how many followed its links (link "
        "clicks). Neither Bluesky nor Mastodon publishes these, so this report cannot give them. Mentions on "
        "Mastodon servers the campaign does not list, and posts Bluesky's search does not return, are not counted.",
    ]


def _context(report: WeeklyReport) -> dict[str, Any]:
    return {
        "r": report,
        "platform_names": PLATFORM_NAMES,
        "signed": signed,
        "no_earlier_snapshot": NO_EARLIER_SNAPSHOT,
        "generated_local": made_at(report.generated_at, report.zone),
        "people_platforms": _platforms(p for row in report.people for p in row.platforms),
        "out_platforms": _platforms(p for row in report.went_out for p in row.platforms),
        "hashtag_changes": hashtag_changes(report),
        "method": method(report.zone, report.include_handles),
        "so_far": report.campaign_so_far,
    }


def chart_scale(report: WeeklyReport) -> int:
    """The top of the mentions chart: the campaign's busiest platform-day so far, this week's and the week before's
    included, rounded up; every week's chart of a campaign is drawn to it (it only grows, with a busier day)."""
    earlier = report.campaign_so_far.busiest_day if report.campaign_so_far is not None else 0
    return max(mentions_scale(report.mentions, report.previous.mentions), nice_ceiling(earlier))


def render_html(report: WeeklyReport) -> str:
    context = _context(report)
    gains = [(row.name, row.gained) for row in report.people if row.gained > 0][:TOP_POSTS]
    scale = chart_scale(report)
    context["mentions_chart"], context["mentions_alt"] = mentions_chart(report.mentions, scale)
    context["growth_chart"], context["growth_alt"] = growth_chart(gains)
    return _environment(markdown=False).get_template("weekly.html.j2").render(context)


def render_markdown(report: WeeklyReport) -> str:
    return _environment(markdown=True).get_template("weekly.md.j2").render(_context(report))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A spreadsheet-safe cell: text that a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str):
        value = clean_text(value)
        if value.startswith(_FORMULA_START):
            return "'" + value
    return value


def _growth_cells(post: PostEngagement) -> list[Any]:
    """This week's gains, or empty cells when they are unknown (no snapshot before the week)."""
    if not post.growth_known:
        return [""] * 5
    return [post.likes_growth, post.reposts_growth, post.replies_growth, post.quotes_growth, post.growth]


def csv_tables(report: WeeklyReport) -> dict[str, list[list[Any]]]:
    """name -> rows (header first) for the CSV files."""
    m = report.mentions
    accounts: list[list[Any]] = [["accounts", "count"], ["mentioning the campaign", m.accounts],
                                 ["new", m.new_accounts], ["returning", m.returning_accounts],
                                 ["replies to us", m.replies_to_us]]  # fmt: skip
    tables: dict[str, list[list[Any]]] = {
        "summary": [["figure", "this week", "previous week", "change"]]
        + [[c.label, c.this_week, c.previous_week, c.delta] for c in report.changes],
        "deliveries": [["post", "platform", "part", "planned", "outcome", "published", "reason", "url"]]
        + [[p.post_id, p.platform, p.part, p.due_local, p.outcome, p.published_local, p.reason, p.url]
           for p in report.problems],
        "engagement": [[
            "post", "platform", "published", "likes", "reposts", "replies", "quotes", "total",
            "likes this week", "reposts this week", "replies this week", "quotes this week", "gained this week",
            "summary", "url", "note",
        ]] + [[
            p.post_id, p.platform, p.published_local, p.likes, p.reposts, p.replies, p.quotes, p.total,
            *_growth_cells(p), p.summary, p.url, p.growth_note,
        ] for p in report.posts],
        "mentions_per_day": [["date", *[PLATFORM_NAMES.get(p, p) for p in m.platforms], "total"]]
        + [[d.isoformat(), *[m.per_day[p][i] for p in m.platforms], m.day_total(i)] for i, d in enumerate(m.days)],
        "accounts": accounts + [[f"{a.handle} ({a.platform})", a.mentions] for a in report.named_accounts],
        "examples": [["when", "platform", "account", "text", "url"]]
        + [[e.when_local, e.platform, e.handle, e.text, e.url] for e in report.examples],
        "people": [["post", "first words", "platform", "gained this week", "at the week's end", "url"]]
        + [[row.post_id, row.name, g.platform, "" if g.gained is None else g.gained, g.total, g.url]
           for row in report.people for g in row.platforms.values()],
        "went_out": [["post", "first words", "planned", "platform", "outcome", "went out", "url"]]
        + [[row.post_id, row.name, row.planned_local, s.platform, s.state, s.when_local, s.url]
           for row in report.went_out for s in row.platforms.values()],
        "went_wrong": [["when", "what", "post", "platforms", "who", "why"]]
        + [[t.when_local, t.what, t.post, t.platforms, t.who, t.why] for t in report.troubles],
    }  # fmt: skip
    return tables


def render_csv(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return buffer.getvalue()


# --- the campaign to date ---------------------------------------------------------------------------------------


def campaign_summary(c: CampaignReport) -> list[str]:
    """The campaign report's opening sentences, from its own figures."""
    t = c.total
    weeks = f"{len(c.weeks)} week{'s' if len(c.weeks) != 1 else ''}"
    sentences = [
        f"Over {weeks}, {t.posts_out:,} of the {t.posts:,} post{'s' if t.posts != 1 else ''} planned went out"
        + (
            f" ({t.published:,} of {t.planned:,} parts sent to platforms, {t.on_time_share}% of them on time)."
            if t.on_time_share is not None
            else "."
        )
    ]
    if c.best:
        sentences.append(
            f"People liked, reposted, replied to or quoted our posts {t.engagement_gained:,} times; the most engaged "
            f"post was \u201c{c.best[0].name}\u201d ({c.best[0].gained:,})."
        )
    else:
        sentences.append("Our posts gained no likes, reposts, replies or quotes that we could measure.")
    total_mentions = sum(t.mentions.values())
    if total_mentions:
        busiest = max(c.weeks, key=lambda w: w.total_mentions)
        sentences.append(
            f"The campaign hashtags were used {total_mentions:,} times by {t.accounts_so_far:,} accounts; the busiest "
            f"week was the {busiest.week.week_of} ({busiest.total_mentions:,})."
        )
    else:
        sentences.append("Nobody used the campaign hashtags, as far as collection could find.")
    return sentences


def _campaign_context(c: CampaignReport) -> dict[str, Any]:
    return {
        "c": c,
        "platform_names": PLATFORM_NAMES,
        "summary": campaign_summary(c),
        "method": method(c.zone),
        "generated_local": made_at(c.generated_at, c.zone),
    }


def campaign_trend(c: CampaignReport) -> tuple[str | None, str]:
    """The campaign's weekly trend chart (posts that went out, engagement gained, hashtag mentions) and its alt."""
    series = [[w.posts_out for w in c.weeks], [w.engagement_gained for w in c.weeks],
              [w.total_mentions for w in c.weeks]]  # fmt: skip
    return trend_chart([w.week.monday for w in c.weeks], series)


def render_campaign_html(c: CampaignReport) -> str:
    context = _campaign_context(c)
    context["trend_chart"], context["trend_alt"] = campaign_trend(c)
    return _environment(markdown=False).get_template("campaign.html.j2").render(context)


def render_campaign_markdown(c: CampaignReport) -> str:
    return _environment(markdown=True).get_template("campaign.md.j2").render(_campaign_context(c))


def campaign_csv_tables(c: CampaignReport) -> dict[str, list[list[Any]]]:
    platforms = c.platforms
    return {
        "weeks": [["week", "monday", "posts planned", "posts that went out", "parts sent to platforms",
                   "parts published", "parts on time", "engagement gained",
                   *[f"mentions on {PLATFORM_NAMES.get(p, p)}" for p in platforms], "accounts", "new accounts",
                   "accounts so far"]]
        + [[w.week.label, w.week.monday.isoformat(), w.posts, w.posts_out, w.planned, w.published, w.on_time,
            w.engagement_gained,
            *[w.mentions.get(p, 0) for p in platforms], w.accounts, w.new_accounts, w.accounts_so_far]
           for w in c.weeks],
        "best": [["post", "first words", "gained", "by platform"]]
        + [[b.post_id, b.name, b.gained, "; ".join(f"{p} {n}" for p, n in b.by_platform.items())] for b in c.best],
    }  # fmt: skip
