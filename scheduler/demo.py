"""`campaign demo`: a workspace of made-up data, to see a populated status, web workspace and weekly report
without any real account.

The shipped awareness week (campaigns/sasvaw-week) is copied in and rehearsed by the real engine on a fast
clock into the workspace's own store and outbox: no post reaches a platform. The outbox answers as if each
post had been published, with made-up links under DEMO_DOMAIN, so the posts then gather engagement as
published ones do. A week of hashtag mentions around the launch (Monday 1 February 2027) and the engagement
of the week's posts are made up from a fixed seed (the same every time) and stored through the collection's
own writers (MentionWriter, store_snapshots): as with real data, only counts and keyed hashes are kept, never
a name or a word. The store is marked (scheduler.demo_flag), and every face and report says so."""

from __future__ import annotations

import hashlib
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from content_calendar.campaign import load_campaign
from content_calendar.model import DEFAULT_TIMEZONE, PLATFORMS, Campaign
from platforms.base import Engagement, Mention, RemotePost
from platforms.outbox import OutboxAdapter
from scheduler.calendars import CalendarRefused, calendar_files, check_calendars
from scheduler.collecting import mention_policy
from scheduler.collection import MentionWriter, posts_due_for_snapshot, store_snapshots
from scheduler.db import Store
from scheduler.demo_flag import DEMO_DOMAIN, DEMO_LABEL, mark_demo
from scheduler.errors import Refused
from scheduler.heartbeat import HEARTBEAT_KEY
from scheduler.instance_facts import calendar_limits
from scheduler.models import Delivery, Setting, State
from scheduler.rehearse import play
from scheduler.settings import Settings, load_settings
from scheduler.wiring import Adapters
from scheduler.workspace import FILE_NAME, write_workspace

CAMPAIGN = "sasvaw-week"
WEEK = "2027-W05"
LAUNCH = date(2027, 2, 1)  # Monday: the awareness week's first day
MARKER = "DEMO.md"  # the file that says a folder is a demo workspace (and may be rebuilt)
SEED = 2027
SPEED = 1000.0
# Mentions a day, the week before (a trickle as the week is announced) and the week itself (the launch spike).
WEEK_BEFORE = (2, 3, 3, 4, 5, 7, 9)
THE_WEEK = (184, 96, 81, 72, 64, 38, 47)
TAGS = (("ItsNotOK", 80), ("ItsNotOk", 10), ("itsnotokay", 5), ("ItsNotOK2027", 5))
WORDS = (
    "Listening matters. #{tag}", "Sharing the helpline numbers for anyone who needs them. #{tag}",
    "Proud to support this week. #{tag}", "Believe survivors. #{tag}", "Thread worth reading. #{tag}",
)  # fmt: skip


@dataclass(frozen=True)
class DemoWorkspace:
    """What `campaign demo` made."""

    folder: Path
    rebuilt: bool  # the folder was a demo already, and was made afresh
    campaign: str
    week: str
    posts: int
    parts_published: int
    mentions: int
    snapshots: int
    outbox: Path
    elsewhere: str = ""  # the database commands run in the folder would use instead, when not the demo's


def shipped_campaign(*candidates: Path) -> Path:
    """The shipped awareness-week campaign: beside the program (a clone), else in one of `candidates` (the
    campaigns folder in use, as in the Docker image)."""
    beside = Path(__file__).resolve().parent.parent / "campaigns" / CAMPAIGN
    for folder in (beside, *(c / CAMPAIGN for c in candidates)):
        if (folder / "campaign.yaml").is_file() and (folder / "calendars").is_dir():
            return folder
    raise Refused(
        f"The shipped {CAMPAIGN} campaign is not here (looked beside the program, at {beside}): run `campaign "
        "demo` from a clone of the project, or set CAMPAIGN_CAMPAIGNS_DIR to the folder that holds it."
    )


def build_demo(folder: Path, *, source: Path, on_step: Callable[[str], None] = lambda _s: None) -> DemoWorkspace:
    """Make `folder` a demo workspace (refusing a folder with anything else in it; a demo is made afresh)."""
    folder = folder.resolve()
    rebuilt = _clear(folder)
    on_step(f"Making the demo workspace {folder}")
    file, _written = write_workspace(folder)
    file.write_text(
        f"# {DEMO_LABEL}. Made by `campaign demo`: see {MARKER}.\n" + file.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    (folder / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    shutil.copytree(source, folder / "campaigns" / CAMPAIGN, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    settings = demo_settings(folder)
    store = Store(settings.database_url, create=True, label=settings.database_label())
    try:
        mark_demo(store, _report_morning())
        limits = calendar_limits(store, settings.mastodon_api_base_url)
    finally:
        store.dispose()
    on_step("Rehearsing the awareness week into the demo's outbox (nothing reaches any platform)")
    files = calendar_files([folder / "campaigns" / CAMPAIGN / "calendars"])
    checked = check_calendars(files, now=None, campaigns_roots=[settings.campaigns_dir], limits=limits)
    if checked.errors:
        raise CalendarRefused(checked.errors)
    rehearsal = play(checked.inputs, settings, directory=settings.data_dir, speed=SPEED, pause=0.0,
                     adapters=DemoAdapters, actor="demo")  # fmt: skip
    on_step("Making up a week of hashtag mentions and the engagement of the week's posts")
    store = Store(settings.database_url, label=settings.database_label())
    try:
        campaign = load_campaign(folder / "campaigns" / CAMPAIGN)
        mentions = store_demo_mentions(store, campaign)
        snapshots = store_demo_engagement(store, campaign)
        with store.transaction() as session:  # the rehearsal's checks are not a scheduler running here
            session.execute(delete(Setting).where(Setting.key == HEARTBEAT_KEY))
    finally:
        store.dispose()
    here = load_settings(start=folder)
    elsewhere = "" if here.database_url == settings.database_url else here.database_label()
    return DemoWorkspace(
        folder, rebuilt, CAMPAIGN, WEEK, rehearsal.plan.posts if rehearsal.plan else 0, rehearsal.published,
        mentions, snapshots, settings.outbox_path, elsewhere,
    )  # fmt: skip


def demo_settings(folder: Path) -> Settings:
    """The demo's own settings, whatever the environment or a .env file says: its store, outbox, reports and
    campaigns in the folder, and no credentials."""
    data = folder / "var"
    return Settings(
        data_dir=data,
        database_url=f"sqlite:///{data / 'campaign.db'}",
        redis_url=None,
        campaigns_dir=folder / "campaigns",
        outbox_path=data / "outbox.jsonl",
        reports_dir=data / "reports",
        workspace=folder / FILE_NAME,
    )


def _clear(folder: Path) -> bool:
    """Make way for the demo in `folder`: True when it was a demo (its own files are removed), False when it is
    new or empty. Anything else is refused, and nothing is touched."""
    if folder.exists() and not folder.is_dir():
        raise Refused(f"{folder} is a file: choose a new folder for the demo, such as `campaign demo demo-workspace`.")
    if not folder.exists() or not any(folder.iterdir()):
        return False
    if not (folder / MARKER).is_file() or not (folder / FILE_NAME).is_file():
        raise Refused(
            f"{folder} is not empty and is not a demo workspace, so the demo is not made there: choose a new or "
            "empty folder, such as `campaign demo demo-workspace`."
        )
    for made in (folder / "var", folder / "campaigns" / CAMPAIGN):
        shutil.rmtree(made, ignore_errors=True)
    for made in (folder / FILE_NAME, folder / MARKER):
        made.unlink(missing_ok=True)
    return True


# --- the demo's posts: published, as far as the store knows, to made-up addresses ----------------------------


class DemoOutbox(OutboxAdapter):
    """The outbox, answering as a platform would: the line is written exactly as a dry run writes it, and the
    post comes back with a made-up address under DEMO_DOMAIN. Not a dry run, so that the demo's posts are
    published and gather engagement as posted ones do; nothing leaves this machine."""

    dry_run = False

    def __init__(self, path: Path, platform: str):
        super().__init__(path, platform, account="demo")

    def _post_of(self, entry: dict[str, Any]) -> RemotePost:
        post = super()._post_of(entry)
        key = hashlib.sha256(str(entry["idempotency_key"]).encode()).hexdigest()[:15]
        if self.platform == "bluesky":
            handle = f"campaign.{DEMO_DOMAIN}"
            uri = f"at://did:web:{handle}/app.bsky.feed.post/{key}"
            url = f"https://bsky.{DEMO_DOMAIN}/profile/{handle}/post/{key}"
        else:
            number = int(key, 16)
            uri = f"https://{DEMO_DOMAIN}/users/campaign/statuses/{number}"
            url = f"https://{DEMO_DOMAIN}/@campaign/{number}"
        return replace(post, remote_id=f"demo:{self.platform}:{key}", uri=uri, url=url)


class DemoAdapters(Adapters):
    """Every post goes to the demo outbox, whatever the settings say."""

    def __call__(self, campaign: str, platform: str) -> DemoOutbox:
        return DemoOutbox(self.settings.outbox_path, platform)


# --- made-up mentions and engagement -----------------------------------------------------------------------


@dataclass(frozen=True)
class _OurPost:
    platform: str
    uri: str
    published_at: datetime


def _our_posts(store: Store, campaign: str) -> list[_OurPost]:
    statement = select(Delivery.platform, Delivery.remote_uri, Delivery.published_at).where(
        Delivery.campaign == campaign, Delivery.state == State.PUBLISHED, Delivery.part == 0
    )
    with store.transaction() as session:
        return sorted(
            # To the minute it was planned for: the rehearsal's few milliseconds of lag never change the demo.
            (
                _OurPost(p, uri, at.replace(second=0, microsecond=0))
                for p, uri, at in session.execute(statement)
                if uri and at
            ),
            key=lambda post: (post.published_at, post.platform),
        )


def _people(rng: random.Random) -> list[tuple[str, str]]:
    """(platform, name) of the made-up accounts: 60 regulars first, who come back day after day."""
    return [("bluesky" if rng.random() < 0.6 else "mastodon", f"demo-person-{n:03d}") for n in range(1, 321)]


def _mention(rng: random.Random, person: tuple[str, str], at: datetime, serial: int, reply_to: str | None) -> Mention:
    platform, name = person
    tag = rng.choices([t for t, _ in TAGS], weights=[w for _, w in TAGS])[0]
    text = rng.choice(WORDS).format(tag=tag)
    if platform == "bluesky":
        handle, rkey = f"{name}.{DEMO_DOMAIN}", f"demo{serial:07d}"
        uri = f"at://did:web:{handle}/app.bsky.feed.post/{rkey}"
        url = f"https://bsky.{DEMO_DOMAIN}/profile/{handle}/post/{rkey}"
        author_id, seen_on = f"did:web:{handle}", f"https://bsky.{DEMO_DOMAIN}"
    else:
        handle, number = f"{name}@{DEMO_DOMAIN}", 110_000_000 + serial
        uri = f"https://{DEMO_DOMAIN}/users/{name}/statuses/{number}"
        url = f"https://{DEMO_DOMAIN}/@{name}/{number}"
        author_id, seen_on = f"https://{DEMO_DOMAIN}/users/{name}", f"https://{DEMO_DOMAIN}"
    return Mention(platform, uri, url, handle, author_id, text, at, tags=(tag,), in_reply_to_uri=reply_to,
                   seen_on=seen_on)  # fmt: skip


def _day_times(rng: random.Random, day: date, count: int, ours: list[_OurPost], zone: ZoneInfo) -> list[datetime]:
    """`count` plausible instants on `day`: most within a few hours of one of our posts that day, the rest
    spread over the waking hours."""
    start = datetime.combine(day, time(7, 0), tzinfo=zone)
    today = [p.published_at for p in ours if p.published_at.astimezone(zone).date() == day]
    times = []
    for _ in range(count):
        if today and rng.random() < 0.7:
            moment = rng.choice(today) + timedelta(minutes=rng.expovariate(1 / 80))
        else:
            moment = start + timedelta(minutes=rng.uniform(0, 16 * 60))
        end_of_day = datetime.combine(day, time(23, 59), tzinfo=zone)
        times.append(min(moment, end_of_day).astimezone(UTC).replace(microsecond=0))
    return sorted(times)


def store_demo_mentions(store: Store, campaign: Campaign) -> int:
    """The week before the launch and the launch week of made-up hashtag mentions, stored as collection
    stores them; returns how many were stored."""
    rng = random.Random(SEED)
    zone = ZoneInfo(campaign.timezone)
    ours = _our_posts(store, campaign.slug)
    people = _people(rng)
    regulars, crowd = people[:60], people[60:]
    writers = {
        p: MentionWriter(store, mention_policy(campaign, [campaign.accounts[p]] if p in campaign.accounts else [], p))
        for p in PLATFORMS
    }
    days = [(LAUNCH - timedelta(days=7 - n), count) for n, count in enumerate(WEEK_BEFORE)]
    days += [(LAUNCH + timedelta(days=n), count) for n, count in enumerate(THE_WEEK)]
    stored, serial = 0, 0
    for day, count in days:
        mentions: dict[str, list[Mention]] = {p: [] for p in PLATFORMS}
        for at in _day_times(rng, day, count, ours, zone):
            serial += 1
            person = rng.choice(regulars) if rng.random() < 0.35 else rng.choice(crowd)
            earlier = [p for p in ours if p.platform == person[0] and p.published_at <= at]
            reply_to = earlier[-1].uri if earlier and rng.random() < 0.12 else None
            mentions[person[0]].append(_mention(rng, person, at, serial, reply_to))
        collected = datetime.combine(day + timedelta(days=1), time(0, 5), tzinfo=zone).astimezone(UTC)
        for platform, found in mentions.items():
            with store.transaction() as session:
                stored += writers[platform].write(session, found, collected).stored
    return stored


def _final_counts(rng: random.Random, post_id: str, platform: str, part: int, launch: bool) -> tuple[int, ...]:
    """(likes, reposts, replies, quotes) a post settles at."""
    weight = (2.5 if launch else 1.0) * (1.2 if platform == "bluesky" else 0.8) * (1.0 if part == 0 else 0.3)
    likes = round(38 * weight * rng.uniform(0.6, 1.4))
    quotes = round(likes * 0.04) if platform == "bluesky" else 0
    return likes, round(likes * 0.35), round(likes * 0.08), quotes


def store_demo_engagement(store: Store, campaign: Campaign) -> int:
    """Snapshots of the week's posts, taken when collection would take them (hourly in a post's first week)
    until the report is due, each count growing towards where the post settles; returns how many."""
    zone = ZoneInfo(campaign.timezone)
    first = datetime.combine(LAUNCH, time(8, 0), tzinfo=zone).astimezone(UTC)
    settled: dict[tuple[str, int], tuple[int, ...]] = {}
    taken = 0
    at = first
    while at <= _report_morning():
        for platform in PLATFORMS:
            due = [p for p in posts_due_for_snapshot(store, campaign.slug, platform, at) if p.published_at <= at]
            if not due:
                continue
            counts = []
            for post in due:
                key = (platform, post.delivery_id)
                if key not in settled:
                    post_id, part = _post_of(store, post.delivery_id)
                    rng = random.Random(f"{SEED}:{post_id}:{platform}:{part}")
                    launching = post.published_at.astimezone(zone).date() == LAUNCH
                    settled[key] = _final_counts(rng, post_id, platform, part, launching)
                hours = (at - post.published_at.replace(second=0, microsecond=0)).total_seconds() / 3600
                share = 1 - math.exp(-max(hours, 0) / 5)
                likes, reposts, replies, quotes = (math.floor(n * share) for n in settled[key])
                counts.append(Engagement(post.remote_id, likes, reposts, replies, quotes))
            taken += store_snapshots(store, campaign.slug, platform, due, counts, at)
        at += timedelta(hours=1)
    return taken


def _post_of(store: Store, delivery_id: int) -> tuple[str, int]:
    with store.transaction() as session:
        delivery = session.get_one(Delivery, delivery_id)
        return delivery.post_id, delivery.part


def _report_morning() -> datetime:
    """Monday after the week, 07:00 in the campaign's zone (London's): when the week's report is due."""
    return datetime.combine(LAUNCH + timedelta(days=7), time(7, 0), tzinfo=ZoneInfo(DEFAULT_TIMEZONE))


MARKER_TEXT = f"""# {DEMO_LABEL}

`campaign demo` made this folder to show the campaign scheduler in use without any real account. Nothing in it
is real:

- National Sexual Abuse and Sexual Violence Awareness Week 2027 (a copy of the shipped campaign, in
  campaigns/{CAMPAIGN}) was rehearsed on a fast clock into var/outbox.jsonl. No post reached Bluesky or
  Mastodon: the posts show as published, with made-up links under {DEMO_DOMAIN}.
- The hashtag mentions (the week before and the week itself, with the launch on Monday 1 February 2027) and
  the engagement of the week's posts are made up, the same every time, from made-up accounts under
  {DEMO_DOMAIN}. As with real data, only counts are kept: no names and no words.

Every page and report made here says "{DEMO_LABEL}". Collection is off here (`campaign collect` refuses), so
no real mention mixes with the made-up ones.

Try, in this folder:

    campaign status
    campaign report weekly --week {WEEK}
    campaign serve

`campaign demo` on this folder again makes it afresh. Delete the folder when you are done with it.
"""
