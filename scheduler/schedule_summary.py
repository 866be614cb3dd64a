"""What `campaign schedule` tells a person: per campaign, how many posts were added, changed, left as they were
and cancelled, and the next post to go out. The part-by-part changes stay in the report for those who ask."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduler.calendars import Scheduled
from scheduler.db import Store
from scheduler.status import PostStatus, next_post
from scheduler.sync import Change

# Every campaign's line names these, even at 0; the rest only when there are some.
MAIN_COUNTS = ("added", "changed", "unchanged", "cancelled")
OTHER_COUNTS = ("kept_cancelled", "drafts")
# A part change a person should hear of even when the summary is all they see: the file says something the
# schedule will not do.
NOTEWORTHY = ("kept-published",)


def post_outcome(actions: set[str]) -> str:
    """What a schedule run did to one post, from what it did to each of its parts."""
    if "draft" in actions and actions <= {"draft", "unchanged"}:
        return "drafts"
    if actions == {"cancelled"} or actions == {"cancelled", "draft"}:
        return "cancelled"
    if actions == {"added"}:
        return "added"
    if actions <= {"unchanged", "kept-published"}:
        return "unchanged"
    if actions <= {"kept-cancelled", "unchanged", "kept-published"}:
        return "kept_cancelled"
    return "changed"


@dataclass
class CampaignSchedule:
    campaign: str
    counts: dict[str, int]  # posts by outcome: MAIN_COUNTS always, OTHER_COUNTS when not 0
    next_post: PostStatus | None
    notes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "post_counts": self.counts,
            "next_post": self.next_post.to_json() if self.next_post else None,
            "notes": [_change_json(c) for c in self.notes],
        }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action,
        "campaign": change.campaign,
        "post_id": change.post_id,
        "platform": change.platform,
        "part": change.part,
        "detail": change.detail,
    }


@dataclass
class ScheduleOutcome(Scheduled):
    """A schedule run: the sync's part-by-part report and the calendars' warnings, summed up per campaign."""

    campaigns: list[CampaignSchedule] = field(default_factory=list)
    now: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        parts: dict[str, int] = defaultdict(int)
        for change in self.report.changes:
            parts[change.action] += 1
        return {
            "now": self.now.isoformat() if self.now else None,
            "changed": self.report.changed,
            "campaigns": [c.to_json() for c in self.campaigns],
            "part_changes": dict(sorted(parts.items())),
            "changes": [_change_json(c) for c in self.report.changes],
            "warnings": [p.to_json() for p in self.warnings],
        }


def summarise(store: Store, scheduled: Scheduled, now: datetime) -> ScheduleOutcome:
    actions: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    notes: dict[str, list[Change]] = defaultdict(list)
    for change in scheduled.report.changes:
        actions[change.campaign][change.post_id].add(change.action)
        if change.action in NOTEWORTHY or (change.action == "updated" and change.detail):
            notes[change.campaign].append(change)
    campaigns = []
    for campaign in sorted(actions):
        counts = dict.fromkeys((*MAIN_COUNTS, *OTHER_COUNTS), 0)
        for post_actions in actions[campaign].values():
            counts[post_outcome(post_actions)] += 1
        shown = {name: n for name, n in counts.items() if name in MAIN_COUNTS or n}
        campaigns.append(CampaignSchedule(campaign, shown, next_post(store, campaign), notes[campaign]))
    return ScheduleOutcome(scheduled.report, scheduled.warnings, campaigns, now)
