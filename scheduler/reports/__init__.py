"""The weekly report: Monday to Sunday in the campaign's own zone, from the store alone.

    report = build_weekly_report(store, campaign, IsoWeek.parse("2027-W05"))
    paths = write_report(report, out_dir, formats=("html", "md", "csv"))

model.py holds the week and the report's data types, queries.py gathers the figures from the store, charts.py
draws them, rendering.py prints HTML, Markdown and CSV, and files.py writes them and knows which are due.

Private by default: third-party accounts appear only as counts. A handle is named only when the campaign lists
it in `organisation_accounts` (or the report is asked to `include_handles`, which names the handles the
store holds: collection keeps a third party's handle only when told to, and never its text).
"""

from content_calendar.model import PLATFORM_NAMES
from scheduler.reports.campaign import CampaignReport, build_campaign_report
from scheduler.reports.charts import COLOURS, growth_chart, mentions_chart
from scheduler.reports.engagement import TOP_POSTS, TRACKING_DAYS
from scheduler.reports.files import (
    DEFAULT_FORMATS,
    FORMATS,
    MONDAY_FORMATS,
    REPORT_DUE,
    NothingToReport,
    ReportSubject,
    campaign_report_for,
    check_week,
    report_path,
    report_subject,
    require_data,
    weekly_report_for,
    write_campaign_report,
    write_due_reports,
    write_report,
)
from scheduler.reports.model import (
    NO_EARLIER_SNAPSHOT,
    Change,
    DeliveryFigures,
    DeliveryLine,
    Example,
    IsoWeek,
    MentionFigures,
    NamedAccount,
    PostEngagement,
    TopPost,
    WeekFigures,
    WeeklyReport,
    signed,
)
from scheduler.reports.queries import EXAMPLES, ON_TIME, build_weekly_report
from scheduler.reports.rendering import (
    TEMPLATES,
    csv_cell,
    csv_tables,
    md_escape,
    render_csv,
    render_html,
    render_markdown,
)

__all__ = [
    "COLOURS",
    "DEFAULT_FORMATS",
    "EXAMPLES",
    "FORMATS",
    "MONDAY_FORMATS",
    "NO_EARLIER_SNAPSHOT",
    "ON_TIME",
    "PLATFORM_NAMES",
    "REPORT_DUE",
    "TEMPLATES",
    "TOP_POSTS",
    "TRACKING_DAYS",
    "CampaignReport",
    "Change",
    "DeliveryFigures",
    "DeliveryLine",
    "Example",
    "IsoWeek",
    "MentionFigures",
    "NamedAccount",
    "NothingToReport",
    "PostEngagement",
    "ReportSubject",
    "TopPost",
    "WeekFigures",
    "WeeklyReport",
    "build_campaign_report",
    "build_weekly_report",
    "campaign_report_for",
    "check_week",
    "csv_cell",
    "csv_tables",
    "growth_chart",
    "md_escape",
    "mentions_chart",
    "render_csv",
    "render_html",
    "render_markdown",
    "report_path",
    "report_subject",
    "require_data",
    "signed",
    "weekly_report_for",
    "write_campaign_report",
    "write_due_reports",
    "write_report",
]
