"""The few plain-English sentences a weekly report opens with, written from its own figures: what went out and
when, what people did, how the hashtag spread, and anything that went wrong. Nothing here is counted anew: each
number is one the report shows further down."""

from __future__ import annotations

from collections import Counter

from scheduler.reports.model import WeeklyReport, growth_words


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _compared(this: int, before: int) -> str:
    if before == 0:
        return "none the week before" if this else ""
    if this == before:
        return "the same as the week before"
    if this > 3 * before:
        return f"{growth_words(this, before)} as the week before ({before:,})"
    change = round(100 * (this - before) / before)
    direction = "up" if this > before else "down"
    return f"{direction} {abs(change)}% on the week before ({before:,})"


def _went_out(r: WeeklyReport) -> str:
    rows = r.planned_posts
    if not rows:
        return "No posts were planned this week."
    out, on_time = r.posts_out, r.posts_on_time
    days = sorted({row.planned_local[:3] for row in rows}, key=list(_DAYS).index)
    spread = _DAYS[days[0]] if len(days) == 1 else f"{_DAYS[days[0]]} to {_DAYS[days[-1]]}"
    sentence = f"{out:,} of the {_n(len(rows), 'post')} planned for {spread} went out"
    if out:
        sentence += ", all on time" if on_time == out else f", {on_time:,} of them on time everywhere"
    return sentence + "."


_DAYS = {"Mon": "Monday", "Tue": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday", "Fri": "Friday",
         "Sat": "Saturday", "Sun": "Sunday"}  # fmt: skip


def _people(r: WeeklyReport) -> str:
    gained = r.figures.engagement_growth
    if gained <= 0 or not r.people or r.people[0].gained <= 0:
        return "Our posts gained no likes, reposts, replies or quotes that we could measure this week."
    best = r.people[0]
    compared = _compared(gained, r.previous.engagement_growth)
    return (
        f"People liked, reposted, replied to or quoted our posts {_n(gained, 'time')}"
        + (f", {compared}" if compared else "")
        + f"; the most engaged post was \u201c{best.name}\u201d ({best.gained:,})."
    )


def _hashtag(r: WeeklyReport) -> str:
    m = r.mentions
    if m.total == 0:
        return "Nobody used the campaign hashtags this week, as far as collection could find."
    busiest = max(range(7), key=m.day_total)
    sentence = (
        f"The campaign hashtags were used {_n(m.total, 'time')} by {_n(m.accounts, 'account')} ({m.new_accounts:,} new)"
    )
    compared = _compared(m.total, r.previous.mentions.total)
    if compared:
        sentence += f", {compared}"
    return sentence + f"; the busiest day was {m.days[busiest]:%A} ({m.day_total(busiest):,})."


def _wrong(r: WeeklyReport) -> str:
    kinds = Counter(t.what for t in r.troubles)
    parts = [
        _n(kinds[what], label, plural)
        for what, label, plural in (
            ("failed", "post failed on a platform", "posts failed on a platform"),
            ("missed", "post was missed on a platform", "posts were missed on a platform"),
            ("held", "post was held", "posts were held"),
            ("cancelled", "post was cancelled on a platform", "posts were cancelled on a platform"),
            ("paused", "pause of all posting", "pauses of all posting"),
        )
        if kinds[what]
    ]
    if not parts:
        return "Nothing went wrong."
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Needs a look: {listed} (see \u201cWhat went wrong\u201d)."


def summary_sentences(r: WeeklyReport) -> list[str]:
    sentences = [_went_out(r), _people(r), _hashtag(r), _wrong(r)]
    if r.deliveries.dry_run:
        sentences.append(
            f"{_n(r.deliveries.dry_run, 'dry run')} went to the dry-run outbox only (no credentials): not posted."
        )
    return sentences
