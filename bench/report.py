"""How long does the weekly report take over a big store, against a plain SQL GROUP BY of the same data, and is
its memory flat as mentions grow?

Builds two SQLite stores (schema by the project's migrations) holding SMALL and N mentions (defaults 100,000
and 1,000,000), all inside the two weeks a report reads (the report's week, 2027-W05, and the week before: the
report compares them), from N/8 accounts, with a few replies to our posts and allow-listed accounts, plus a
calendar's worth of deliveries and engagement snapshots. Then, for each size, in a fresh process:

- report:   scheduler.reports.build_weekly_report + write_report (HTML with both charts, Markdown, CSV)
- baseline: SELECT platform, date(created_at), count(*) FROM mentions GROUP BY 1, 2 (the same rows, sqlite3)

and prints the times, their ratio (goal <= 3), and the report's peak memory: tracemalloc's peak of Python
allocations during the report, and the process's peak RSS. Aggregation happens in SQL and only the few listed
rows are fetched, so memory should not grow with the number of mentions. One run, no repeats.

Then the campaign to date (`campaign report campaign`) over 52 weeks: two more stores of CAMPAIGN_SMALL and
CAMPAIGN_MENTIONS mentions (defaults 500,000 and 5,000,000) spread over the 52 weeks, generated inside SQLite by
a recursive CTE (indexes built after the rows), with two posts a day on both platforms and their hourly
engagement counts for a week; measured as above against the plain GROUP BY of the same 52 weeks (goal <= 3, and
peak memory flat as mentions grow tenfold).

    .venv/bin/python bench/report.py [--mentions 1000000] [--small 100000] [--campaign-mentions 5000000]
                                     [--campaign-small 500000] [--weeks 52] [--strict]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_RATIO = 3.0
CAMPAIGN = "sasvaw-week"
WEEK = "2027-W05"
START = datetime(2027, 1, 25, tzinfo=UTC)  # Monday of the week before (GMT: London = UTC)
SPAN = timedelta(days=14)


def sqlite_time(moment: datetime) -> str:
    return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, mentions: int, seed: int = 5) -> None:
    """A store with `mentions` mentions and a week's calendar, written with plain inserts (this bench measures
    the report, not ingestion: see bench/ingest.py)."""
    from scheduler.db import Store

    Store(f"sqlite:///{path}").dispose()  # schema by the migrations
    rng = random.Random(seed)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("BEGIN")
    now = sqlite_time(START + SPAN)
    deliveries = []
    for day in range(14):
        for slot, platform in enumerate(("bluesky", "mastodon")):
            post_pk = day + 1
            if slot == 0:
                connection.execute(
                    "INSERT INTO posts (id, campaign, post_id, source, status, planned_at, timezone, summary, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'bench.yaml', 'approved', ?, 'Europe/London', ?, ?, ?)",
                    (post_pk, CAMPAIGN, f"day-{day}", sqlite_time(START + timedelta(days=day, hours=9)),
                     f"Day {day} of the campaign #ItsNotOK", now, now),
                )  # fmt: skip
            due = START + timedelta(days=day, hours=9)
            cursor = connection.execute(
                "INSERT INTO deliveries (post_pk, campaign, post_id, platform, part, state, due_at, misfire_grace_s,"
                " payload, payload_hash, idempotency_key, attempts, outcome_unknown, remote_id, remote_uri,"
                " remote_url, published_at, dry_run, created_at, updated_at) VALUES (?, ?, ?, ?, 0, 'published', ?,"
                " 1800, '{}', '', ?, 1, 0, ?, ?, ?, ?, 0, ?, ?)",
                (post_pk, CAMPAIGN, f"day-{day}", platform, sqlite_time(due), f"key-{day}-{platform}",
                 f"remote-{day}-{platform}", f"remote-{day}-{platform}", f"https://example.test/{day}/{platform}",
                 sqlite_time(due + timedelta(seconds=3)), now, now),
            )  # fmt: skip
            deliveries.append((cursor.lastrowid, platform, due))
    snapshots = []
    for delivery_id, platform, due in deliveries:
        for hour in range(1, 24 * 7, 1):
            taken = due + timedelta(hours=hour)
            if taken < START + SPAN:
                snapshots.append((delivery_id, CAMPAIGN, platform, sqlite_time(taken), hour, hour // 3, hour // 7,
                                  hour // 11))  # fmt: skip
    connection.executemany(
        "INSERT INTO engagement_snapshots (delivery_id, campaign, platform, taken_at, likes, reposts, replies, "
        "quotes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        snapshots,
    )
    authors = max(10, mentions // 8)
    author_keys = [rng.getrandbits(64) - (1 << 63) for _ in range(authors)]  # random, as keyed hashes are
    first_seen: dict[int, tuple[str, str]] = {}
    author_weeks: set[tuple[int, str, str]] = set()
    step = SPAN / mentions
    rows = []
    for index in range(mentions):
        author = rng.randrange(authors)
        platform = "bluesky" if author % 3 else "mastodon"
        created = sqlite_time(START + step * index)
        named = author < 3
        reply = deliveries[index % len(deliveries)][0] if index % 97 == 0 else None
        rows.append((
            CAMPAIGN, platform, f"{index:032x}", author_keys[author], created, now, "https://bsky.test", "#ItsNotOK",
            reply, int(named), "napac.org.uk" if named else None, None, None,
            "Support is there for you #ItsNotOK" if named else None,
        ))  # fmt: skip
        first_seen.setdefault(author, (created, platform))
        monday = (START + step * index).date()
        author_weeks.add((author, (monday - timedelta(days=monday.weekday())).isoformat(), platform))
        if len(rows) == 100_000:
            _insert_mentions(connection, rows)
            rows = []
    _insert_mentions(connection, rows)
    connection.executemany(
        "INSERT INTO mention_authors (campaign, author_key, platform, first_mention_at) VALUES (?, ?, ?, ?)",
        [(CAMPAIGN, author_keys[author], platform, at) for author, (at, platform) in first_seen.items()],
    )
    connection.executemany(
        "INSERT INTO mention_author_weeks (campaign, week_start, author_key, platform) VALUES (?, ?, ?, ?)",
        [(CAMPAIGN, week, author_keys[author], platform) for author, week, platform in sorted(author_weeks)],
    )
    connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the report reads the database, not a big WAL
    connection.close()


def _insert_mentions(connection: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    connection.executemany(
        "INSERT INTO mentions (campaign, platform, uri_key, author_key, created_at, collected_at, seen_on, "
        "matched_tag, reply_to_delivery_id, allow_listed, author_handle, uri, url, text) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def measure(path: Path, out_dir: Path) -> dict[str, float]:
    """Runs in a fresh process: the report cold (imports included) and warm, then once more under tracemalloc
    for its peak memory (tracemalloc slows code down, so that run is not timed), the peak RSS so far, and last
    the baseline query (so its memory is not in the report's RSS)."""
    import tracemalloc

    from scheduler.db import Store
    from scheduler.reports import IsoWeek, build_weekly_report, write_report

    store = Store(f"sqlite:///{path}", migrate_schema=False)
    week = IsoWeek.parse(WEEK)

    def make_report() -> tuple[float, float, int]:
        began = time.perf_counter()
        report = build_weekly_report(store, CAMPAIGN, week, organisation_accounts=["napac.org.uk"])
        queried = time.perf_counter() - began
        write_report(report, out_dir)
        return time.perf_counter() - began, queried, report.mentions.total + report.previous.mentions.total

    cold, queried, counted = make_report()
    warm, warm_queries, _ = make_report()
    tracemalloc.start()
    make_report()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = peak_rss_mb()
    store.dispose()

    connection = sqlite3.connect(path)
    began = time.perf_counter()
    grouped = connection.execute(
        "SELECT platform, date(created_at), count(*) FROM mentions GROUP BY platform, date(created_at)"
    ).fetchall()
    baseline = time.perf_counter() - began
    connection.close()
    assert sum(row[2] for row in grouped) == counted
    return {
        "baseline": baseline,
        "report": cold,
        "queries": queried,
        "warm": warm,
        "warm_queries": warm_queries,
        "peak_python_mb": peak / 1e6,
        "max_rss_mb": rss,
        "mentions_in_report": counted,
    }


CAMPAIGN_START = datetime(2026, 2, 2, tzinfo=UTC)  # a Monday; 52 weeks cross both of London's clock changes


def build_campaign(path: Path, mentions: int, weeks: int) -> None:
    """A store with `mentions` mentions over `weeks` weeks from CAMPAIGN_START, generated by SQLite itself."""
    from scheduler.db import Store

    Store(f"sqlite:///{path}").dispose()  # schema by the migrations
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-200000")
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name IN ('mentions', 'mention_authors', "
        "'mention_author_weeks') AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    connection.execute("BEGIN")
    now = sqlite_time(CAMPAIGN_START + timedelta(weeks=weeks))
    span = weeks * 7 * 86_400
    authors = max(10, mentions // 8)
    start = int(CAMPAIGN_START.timestamp()) + 1  # never on a week's first instant, nor past the last one
    connection.execute(
        """WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < ? - 1)
        INSERT INTO mentions (campaign, platform, uri_key, author_key, created_at, collected_at, seen_on, matched_tag,
                              reply_to_delivery_id, allow_listed, author_handle, uri, url, text)
        SELECT ?, CASE WHEN (n * 48271) % ? % 3 = 0 THEN 'mastodon' ELSE 'bluesky' END, printf('%032x', n),
               ((n * 48271) % ?) * 2654435761 % 4611686018427387903,
               strftime('%Y-%m-%d %H:%M:%S', ? + n * (? - 2) / ?, 'unixepoch') || '.000000', ?, 'https://bsky.test',
               '#ItsNotOK', NULL, 0, NULL, NULL, NULL, NULL
        FROM seq""",
        (mentions, CAMPAIGN, authors, authors, start, span, mentions, now),
    )
    connection.execute(
        "INSERT INTO mention_authors (campaign, author_key, platform, first_mention_at) "
        "SELECT campaign, author_key, min(platform), min(created_at) FROM mentions GROUP BY campaign, author_key"
    )
    connection.execute(
        "INSERT INTO mention_author_weeks (campaign, week_start, author_key, platform) "
        "SELECT campaign, date(created_at, '-6 days', 'weekday 1'), author_key, min(platform) FROM mentions "
        "GROUP BY campaign, date(created_at, '-6 days', 'weekday 1'), author_key"
    )
    post_pk = 0
    snapshots = []
    for day in range(weeks * 7):
        for slot in range(2):
            post_pk += 1
            planned = CAMPAIGN_START + timedelta(days=day, hours=9 + 8 * slot)
            connection.execute(
                "INSERT INTO posts (id, campaign, post_id, source, status, planned_at, timezone, summary, created_at, "
                "updated_at) VALUES (?, ?, ?, 'bench.yaml', 'approved', ?, 'Europe/London', ?, ?, ?)",
                (post_pk, CAMPAIGN, f"post-{post_pk}", sqlite_time(planned),
                 f"Post {post_pk} of the campaign #ItsNotOK", now, now),
            )  # fmt: skip
            for platform in ("bluesky", "mastodon"):
                cursor = connection.execute(
                    "INSERT INTO deliveries (post_pk, campaign, post_id, platform, part, state, due_at, "
                    "misfire_grace_s, payload, payload_hash, idempotency_key, attempts, outcome_unknown, remote_id, "
                    "remote_uri, remote_url, published_at, dry_run, created_at, updated_at) VALUES (?, ?, ?, ?, 0, "
                    "'published', ?, 1800, '{}', '', ?, 1, 0, ?, ?, ?, ?, 0, ?, ?)",
                    (post_pk, CAMPAIGN, f"post-{post_pk}", platform, sqlite_time(planned), f"key-{post_pk}-{platform}",
                     f"r-{post_pk}-{platform}", f"r-{post_pk}-{platform}", f"https://example.test/{post_pk}",
                     sqlite_time(planned + timedelta(seconds=3)), now, now),
                )  # fmt: skip
                for hour in range(1, 24 * 7):
                    taken = sqlite_time(planned + timedelta(hours=hour))
                    snapshots.append((cursor.lastrowid, CAMPAIGN, platform, taken,
                                      hour, hour // 3, hour // 7, hour // 11))  # fmt: skip
    connection.executemany(
        "INSERT INTO engagement_snapshots (delivery_id, campaign, platform, taken_at, likes, reposts, replies, "
        "quotes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        snapshots,
    )
    connection.execute("COMMIT")
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def measure_campaign(path: Path, out_dir: Path, weeks: int) -> dict[str, float]:
    """In a fresh process, as measure(): the campaign report over every week, cold, warm, under tracemalloc,
    then the plain GROUP BY of the same range."""
    import tracemalloc

    from scheduler.db import Store
    from scheduler.reports import IsoWeek, build_campaign_report, write_campaign_report

    store = Store(f"sqlite:///{path}", migrate_schema=False)
    first = IsoWeek.containing(CAMPAIGN_START.date())
    last = IsoWeek.containing((CAMPAIGN_START + timedelta(weeks=weeks - 1)).date())

    def make_report() -> tuple[float, int]:
        began = time.perf_counter()
        report = build_campaign_report(store, CAMPAIGN, first, last)
        write_campaign_report(report, out_dir)
        return time.perf_counter() - began, sum(report.total.mentions.values())

    cold, counted = make_report()
    warm, _ = make_report()
    tracemalloc.start()
    make_report()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = peak_rss_mb()
    bounds = (first.boundaries()[0], last.boundaries()[7])
    store.dispose()
    connection = sqlite3.connect(path)
    began = time.perf_counter()
    grouped = connection.execute(
        "SELECT platform, date(created_at), count(*) FROM mentions WHERE campaign = ? AND created_at >= ? "
        "AND created_at < ? GROUP BY platform, date(created_at)",
        (CAMPAIGN, sqlite_time(bounds[0]), sqlite_time(bounds[1])),
    ).fetchall()
    baseline = time.perf_counter() - began
    connection.close()
    assert sum(row[2] for row in grouped) == counted, (sum(row[2] for row in grouped), counted)
    return {"baseline": baseline, "report": cold, "warm": warm, "peak_python_mb": peak / 1e6, "max_rss_mb": rss,
            "mentions_in_report": counted}  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM belongs to the process's own memory map, so (unlike ru_maxrss,
    which Linux carries across exec) it does not include the parent it was forked from."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(path: Path, out_dir: Path, *extra: str) -> dict[str, float]:
    finished = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--out", str(out_dir), *extra],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if finished.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="the second size, for the memory comparison")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is not met")
    parser.add_argument("--campaign-mentions", type=int, default=5_000_000)
    parser.add_argument("--campaign-small", type=int, default=500_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--campaign-only", action="store_true", help="only the campaign report's measurement")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure-campaign", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure and args.measure_campaign:
        print(json.dumps(measure_campaign(args.measure, args.out, args.weeks)))
        return 0
    if args.measure:
        print(json.dumps(measure(args.measure, args.out)))
        return 0

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for size in () if args.campaign_only else (args.small, args.mentions):
            path = Path(tmp) / f"store-{size}.db"
            began = time.perf_counter()
            build(path, size)
            built = time.perf_counter() - began
            results[size] = run_child(path, Path(tmp) / f"out-{size}")
            results[size]["build"] = built
    for size, r in results.items():
        assert r["mentions_in_report"] == size, (size, r["mentions_in_report"])
        print(f"{size:>10,} mentions: report {r['report']:.3f} s cold, {r['warm']:.3f} s warm (queries "
              f"{r['queries']:.3f} / {r['warm_queries']:.3f} s); plain GROUP BY {r['baseline']:.3f} s; peak Python "
              f"memory {r['peak_python_mb']:.1f} MB, peak RSS {r['max_rss_mb']:.0f} MB (store built in "
              f"{r['build']:.1f} s)")  # fmt: skip
    ratio = 0.0
    if results:
        big, small = results[args.mentions], results[args.small]
        ratio = big["report"] / big["baseline"]
        warm_ratio = big["warm"] / big["baseline"]
        verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
        print(f"ratio at {args.mentions:,} (report / plain GROUP BY): {ratio:.2f} cold, {warm_ratio:.2f} warm "
              f"({verdict} the goal <= {GOAL_RATIO:g}, cold)")  # fmt: skip
        print(
            f"memory as mentions grow x{args.mentions / args.small:g}: peak Python {small['peak_python_mb']:.1f} -> "
            f"{big['peak_python_mb']:.1f} MB, peak RSS {small['max_rss_mb']:.0f} -> {big['max_rss_mb']:.0f} MB"
        )

    campaign = {}
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        for size in (args.campaign_small, args.campaign_mentions):
            path = Path(tmp) / f"campaign-{size}.db"
            began = time.perf_counter()
            build_campaign(path, size, args.weeks)
            built = time.perf_counter() - began
            campaign[size] = run_child(path, Path(tmp) / f"out-{size}", "--measure-campaign", "--weeks",
                                       str(args.weeks))  # fmt: skip
            campaign[size]["build"] = built
            path.unlink()
    for size, r in campaign.items():
        assert r["mentions_in_report"] == size, (size, r["mentions_in_report"])
        print(f"campaign, {args.weeks} weeks, {size:>10,} mentions: report {r['report']:.3f} s cold, {r['warm']:.3f} s "
              f"warm; plain GROUP BY {r['baseline']:.3f} s; peak Python memory {r['peak_python_mb']:.1f} MB, peak RSS "
              f"{r['max_rss_mb']:.0f} MB (store built in {r['build']:.1f} s)")  # fmt: skip
    big_c, small_c = campaign[args.campaign_mentions], campaign[args.campaign_small]
    campaign_ratio = big_c["report"] / big_c["baseline"]
    verdict = "meets" if campaign_ratio <= GOAL_RATIO else "MISSES"
    print(f"campaign ratio at {args.campaign_mentions:,} (report / plain GROUP BY): {campaign_ratio:.2f} cold, "
          f"{big_c['warm'] / big_c['baseline']:.2f} warm ({verdict} the goal <= {GOAL_RATIO:g}, cold)")  # fmt: skip
    print(
        f"campaign memory as mentions grow x{args.campaign_mentions / args.campaign_small:g}: peak Python "
        f"{small_c['peak_python_mb']:.1f} -> {big_c['peak_python_mb']:.1f} MB, peak RSS "
        f"{small_c['max_rss_mb']:.0f} -> {big_c['max_rss_mb']:.0f} MB"
    )
    return 1 if args.strict and (ratio > GOAL_RATIO or campaign_ratio > GOAL_RATIO) else 0


if __name__ == "__main__":
    sys.exit(main())
