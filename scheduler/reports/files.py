"""The report's files: written atomically, where they go, and which campaigns' reports are due."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from content_calendar.model import DEFAULT_TIMEZONE
from scheduler.db import Store
from scheduler.errors import Refused
from scheduler.reports.campaign import CampaignReport, build_campaign_report, first_week
from scheduler.reports.model import IsoWeek, WeeklyReport
from scheduler.reports.pdf import print_pdf
from scheduler.reports.queries import build_weekly_report
from scheduler.reports.rendering import (
    campaign_csv_tables,
    csv_tables,
    render_campaign_html,
    render_campaign_markdown,
    render_csv,
    render_html,
    render_markdown,
)

FORMATS = ("html", "md", "csv", "pdf")
DEFAULT_FORMATS = ("html", "md", "csv")  # a PDF is asked for (--format pdf), and made on Mondays
MONDAY_FORMATS = FORMATS


def _write_atomic(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write next to the target and rename: a reader (or `campaign status`) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report(report: WeeklyReport, out_dir: Path, formats: Sequence[str] = DEFAULT_FORMATS) -> list[Path]:
    """Write the report in each format into `out_dir`: <campaign>-<week>.html / .md / .pdf, and the CSV tables as
    <campaign>-<week>-<table>.csv (UTF-8 with a BOM, which Excel needs to read UTF-8)."""
    return _write(report.file_stem, out_dir, formats, lambda: csv_tables(report),
                  lambda: render_markdown(report), lambda: render_html(report))  # fmt: skip


def write_campaign_report(
    report: CampaignReport, out_dir: Path, formats: Sequence[str] = DEFAULT_FORMATS
) -> list[Path]:
    """The campaign to date in each format: <campaign>-campaign-<first>-to-<last>.html / .md / .pdf and its CSV
    tables (weeks, best)."""
    return _write(report.file_stem, out_dir, formats, lambda: campaign_csv_tables(report),
                  lambda: render_campaign_markdown(report), lambda: render_campaign_html(report))  # fmt: skip


def _write(
    stem: str,
    out_dir: Path,
    formats: Sequence[str],
    tables: Callable[[], Mapping[str, Sequence[Sequence[object]]]],
    markdown: Callable[[], str],
    html_of: Callable[[], str],
) -> list[Path]:
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r}: use {', '.join(FORMATS)}")
    written = []
    # CSV and Markdown first: the HTML file is what `campaign status` looks for, so it lands last.
    if "csv" in formats:
        for name, rows in tables().items():
            path = out_dir / f"{stem}-{name}.csv"
            _write_atomic(path, render_csv(rows), encoding="utf-8-sig")
            written.append(path)
    if "md" in formats:
        path = out_dir / f"{stem}.md"
        _write_atomic(path, markdown())
        written.append(path)
    html = html_of() if "html" in formats or "pdf" in formats else ""
    if "pdf" in formats:  # printed from the same page, before the HTML lands
        written.append(print_pdf(html, out_dir / f"{stem}.pdf"))
    if "html" in formats:
        path = out_dir / f"{stem}.html"
        _write_atomic(path, html)
        written.append(path)
    return written


def campaign_report_for(
    store: Store,
    slug: str,
    first: IsoWeek | None,
    last: IsoWeek,
    *,
    campaigns_dir: Path | None,
    now: datetime,
) -> CampaignReport:
    """The campaign from `first` (default: its first week) to `last`. NothingToReport when it has no data."""
    subject = report_subject(campaigns_dir, slug)
    began = first or first_week(store, slug, subject.zone)
    if began is None:
        raise NothingToReport(f"{slug} has nothing to report yet: no post planned and no mention. Nothing written.")
    report = build_campaign_report(store, slug, began, last, campaign_name=subject.name, zone=subject.zone, now=now)
    if not any(w.planned or w.total_mentions or w.engagement_gained for w in report.weeks):
        raise NothingToReport(f"{slug} has no data from {report.period}. Nothing written.")
    return report


# --- the campaign's settings, and the Monday report ------------------------------------------------------------


@dataclass(frozen=True)
class ReportSubject:
    slug: str
    name: str
    zone: str
    organisation_accounts: tuple[str, ...]


def report_subject(campaigns_dir: Path | None, slug: str) -> ReportSubject:
    """Name, zone and allow-list from campaign.yaml; a campaign without one is reported with no names at all.
    A campaign.yaml that cannot be read stops the report with its error: a report in the wrong zone, naming
    nobody, would look right and be wrong."""
    if campaigns_dir is not None and (campaigns_dir / slug / "campaign.yaml").is_file():
        from content_calendar.campaign import load_campaign
        from content_calendar.model import CalendarError

        try:
            campaign = load_campaign(campaigns_dir / slug)
        except CalendarError as error:
            raise Refused(
                f"{error}",
                f"The report of {slug} was not made: fix {campaigns_dir / slug / 'campaign.yaml'} "
                "(`campaign validate` says what is wrong) and run it again.",
            ) from None
        return ReportSubject(slug, campaign.name, campaign.timezone, campaign.organisation_accounts)
    return ReportSubject(slug, slug, DEFAULT_TIMEZONE, ())


class NothingToReport(Refused):
    """The week asked for has not started, or holds nothing: no file is written."""


def check_week(week: IsoWeek, now: datetime, zone: str = DEFAULT_TIMEZONE) -> None:
    if not week.started(now, zone):
        raise NothingToReport(
            f"Week {week.label} (Monday {week.monday:%-d %B %Y} to Sunday "
            f"{week.monday + timedelta(days=6):%-d %B %Y}) has not started yet: nothing written.",
            "Choose a week that has begun, e.g. --week last or --week 2027-W05.",
        )


def require_data(report: WeeklyReport) -> None:
    if not report.has_data:
        raise NothingToReport(
            f"{report.campaign} has no data for week {report.week.label} ({report.period}): no post planned or "
            "tracked, no mention, nothing went wrong. Nothing written."
        )


def weekly_report_for(
    store: Store,
    slug: str,
    week: IsoWeek,
    *,
    campaigns_dir: Path | None,
    include_handles: bool = False,
    now: datetime | None = None,
) -> WeeklyReport:
    subject = report_subject(campaigns_dir, slug)
    return build_weekly_report(
        store, slug, week, campaign_name=subject.name, organisation_accounts=subject.organisation_accounts,
        zone=subject.zone, include_handles=include_handles, now=now,
    )  # fmt: skip


REPORT_DUE = time(7, 0)  # Monday 07:00 local: last week's report is written


def report_path(reports_dir: Path, slug: str, week: IsoWeek) -> Path:
    return reports_dir / slug / f"{slug}-{week.label}.html"


def write_due_reports(
    store: Store,
    reports_dir: Path,
    campaigns: Sequence[str],
    now: datetime,
    *,
    campaigns_dir: Path | None,
    formats: Sequence[str] = MONDAY_FORMATS,
) -> list[Path]:
    """Last week's report for each campaign, once it is Monday 07:00 (campaign zone) or later and the report is
    not there yet: beat calls this every few minutes; it writes each report once and catches up after downtime."""
    written: list[Path] = []
    refused: list[Refused] = []
    for slug in campaigns:
        try:
            subject = report_subject(campaigns_dir, slug)
        except Refused as error:
            refused.append(error)  # the other campaigns' reports are still written
            continue
        local_now = now.astimezone(ZoneInfo(subject.zone))
        this_monday = local_now.date() - timedelta(days=local_now.weekday())
        if local_now < datetime.combine(this_monday, REPORT_DUE, tzinfo=ZoneInfo(subject.zone)):
            this_monday -= timedelta(days=7)  # before 07:00 on Monday: the week before last is the latest due
        week = IsoWeek.containing(this_monday - timedelta(days=7))
        if report_path(reports_dir, slug, week).exists():
            continue
        report = build_weekly_report(
            store, slug, week, campaign_name=subject.name, organisation_accounts=subject.organisation_accounts,
            zone=subject.zone, now=now,
        )  # fmt: skip
        if not report.has_data:  # a week with nothing in it (a campaign over, or not begun) has no report
            continue
        others = [fmt for fmt in formats if fmt != "pdf"]
        written += write_report(report, reports_dir / slug, others)
        if "pdf" in formats:  # beside the HTML; a PDF that cannot be printed is said, the rest is written
            try:
                written += write_report(report, reports_dir / slug, ["pdf"])
            except Refused as error:
                refused.append(error)
    if refused:
        raise Refused(*[line for error in refused for line in error.lines])
    return written
