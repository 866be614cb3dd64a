"""Accessibility findings of the posts awaiting approval, read from what each platform will receive, so a reviewer
sees them beside the post (`campaign review`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from content_calendar.campaign import load_campaign
from content_calendar.model import CalendarError, Campaign, Problem
from content_calendar.validate.accessibility import findings_in_parts

if TYPE_CHECKING:
    from scheduler.api_review import ReviewItem

Finding = Problem  # what a reviewer is told about a post, with its fix


def with_findings(items: list[ReviewItem], campaigns_dir: Path) -> list[ReviewItem]:
    campaigns: dict[str, Campaign | None] = {}
    found = []
    for item in items:
        if item.campaign not in campaigns:
            try:
                campaigns[item.campaign] = load_campaign(campaigns_dir / item.campaign)
            except CalendarError:  # its folder moved or is broken: the checks that need no campaign still run
                campaigns[item.campaign] = None
        findings = findings_in_parts(item.rendered, campaigns[item.campaign], item.source, item.post_id)
        found.append(replace(item, findings=tuple(findings)))
    return found
