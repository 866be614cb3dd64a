"""Campaign folders: finding them and reading their campaign.yaml; slugs and time zone names."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from content_calendar.campaign_care import known_reply_rules, read_accessibility, read_protections
from content_calendar.care import DEFAULT_ACCESSIBILITY
from content_calendar.model import (
    DEFAULT_TIMEZONE,
    MASTODON_VISIBILITIES,
    NO_APPROVAL,
    PLATFORMS,
    ApprovalRule,
    CalendarError,
    Campaign,
    CampaignDates,
    Problem,
)
from content_calendar.yaml_source import (
    NULL_TAG,
    YamlDocument,
    did_you_mean,
    mapping_entries,
    node_line,
    parse_yaml,
    read_text,
)

CAMPAIGN_FILE = "campaign.yaml"
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
MAX_SLUG_LENGTH = 64


def is_valid_slug(value: str) -> bool:
    return len(value) <= MAX_SLUG_LENGTH and SLUG_PATTERN.fullmatch(value) is not None


def slugify(value: str) -> str:
    """A valid slug close to what someone typed (for the fix of an invalid id)."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-") or "post-1"


# --- finding campaign folders ------------------------------------------------------------------------


def _ancestors(path: Path) -> list[Path]:
    """The folders above a file, nearest first; relative paths stay relative while they can."""
    folders = [path.parent, *path.parent.parents]
    if not path.is_absolute():
        cwd = Path.cwd()
        folders += list(cwd.parents)
    return folders


def find_campaign_dir(calendar_path: Path, slug: str | None, roots: Sequence[Path] = ()) -> Path | None:
    """The campaign folder of a calendar file.

    Walks up from the file to the nearest folder holding a campaign.yaml (whose folder name must equal
    `slug` when one is given), else tries `root/slug` for each root.
    """
    for folder in _ancestors(Path(calendar_path)):
        if (folder / CAMPAIGN_FILE).is_file():
            name = folder.name or folder.resolve().name
            if slug is None or name == slug:
                return folder
    if slug:
        for root in roots:
            candidate = Path(root) / slug
            if (candidate / CAMPAIGN_FILE).is_file():
                return candidate
    return None


def known_campaigns(roots: Sequence[Path]) -> list[str]:
    """Slugs of the campaign folders under the given roots (for suggestions)."""
    names: set[str] = set()
    for root in roots:
        root_path = Path(root)
        if root_path.is_dir():
            names.update(child.name for child in root_path.iterdir() if (child / CAMPAIGN_FILE).is_file())
    return sorted(names)


# --- campaign.yaml -----------------------------------------------------------------------------------

_CAMPAIGN_KEYS = (
    "slug",
    "name",
    "hashtags",
    "hashtag_variants",
    "timezone",
    "language",
    "misfire_grace_minutes",
    "helpline",
    "accounts",
    "organisation_accounts",
    "mastodon_instances",
    "bluesky",
    "mastodon",
    "reports",
    "dates",
    "approval",
    "approvers",
    "allow_self_approval",
    "accessibility",
    "protections",
)
_APPROVAL_VALUES = ("required", "none")
_CAMPAIGN_DATES_KEYS = ("from", "to")
_CAMPAIGN_BLUESKY_KEYS = ("reply_rules", "allow_quotes")
_CAMPAIGN_REPORTS_KEYS = ("keep_handles",)
_CAMPAIGN_MASTODON_KEYS = ("visibility",)


@dataclass
class _CampaignReader:
    file: str
    doc: YamlDocument
    problems: list[Problem]

    def error(self, code: str, message: str, fix: str, line: int | None) -> None:
        self.problems.append(Problem("error", code, self.file, message, fix, line=line))

    def mapping(self, node: Node, where: str, known: Sequence[str]) -> dict[str, tuple[int, Node]]:
        if not isinstance(node, MappingNode):
            self.error(
                "wrong-type",
                f"{where} must be a mapping of key: value.",
                "See campaign.yaml's format.",
                node_line(node),
            )
            return {}
        return mapping_entries(self.doc, node, where, known, self.error)

    def string(self, entries: dict[str, tuple[int, Node]], key: str, default: str | None = None) -> str | None:
        if key not in entries:
            return default
        node = entries[key][1]
        if isinstance(node, ScalarNode) and node.tag != NULL_TAG:
            return node.value.strip()
        if isinstance(node, ScalarNode):
            return default
        self.error("wrong-type", f"`{key}` must be text.", f"Write `{key}: ...` with a single value.", node_line(node))
        return default

    def strings(self, entries: dict[str, tuple[int, Node]], key: str) -> tuple[str, ...]:
        if key not in entries:
            return ()
        node = entries[key][1]
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return ()
        if isinstance(node, ScalarNode):
            return (node.value.strip(),)
        if isinstance(node, SequenceNode) and all(isinstance(item, ScalarNode) for item in node.value):
            return tuple(item.value.strip() for item in node.value)
        self.error("wrong-type", f"`{key}` must be a list of text.", f'Write `{key}: ["a", "b"]`.', node_line(node))
        return ()

    def dates(self, node: Node) -> CampaignDates | None:
        """`dates: {from: 2027-02-01, to: 2027-02-07}`: the days the campaign runs, both included."""
        example = "Write `dates: {from: 2027-02-01, to: 2027-02-07}` (year-month-day, both days included)."
        if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
            return None
        if not isinstance(node, MappingNode):
            self.error(
                "campaign-invalid",
                "`dates` must give the first and last day: `from` and `to`.",
                example,
                node_line(node),
            )
            return None
        entries = self.mapping(node, "dates", _CAMPAIGN_DATES_KEYS)
        days: dict[str, date] = {}
        for key in _CAMPAIGN_DATES_KEYS:
            if key not in entries:
                self.error("campaign-invalid", f"`dates` has no `{key}`.", example, node_line(node))
                continue
            value_node = entries[key][1]
            value = self.doc.value(value_node)
            shown = value_node.value if isinstance(value_node, ScalarNode) else "a list or mapping"
            if isinstance(value, date) and not isinstance(value, datetime):
                days[key] = value
                continue
            written = re.fullmatch(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*", shown)
            if isinstance(value_node, ScalarNode) and written:
                try:  # quoted, or not a real day (2027-02-30)
                    days[key] = date(int(written[1]), int(written[2]), int(written[3]))
                    continue
                except ValueError:
                    why = "is not a real date"
            else:
                why = "is not a date written year-month-day"
            self.error(
                "campaign-invalid",
                f"`dates: {key}` is `{shown}`, which {why}.",
                f"{example} (A date such as 01/02/2027 could be read as 1 February or 2 January, so "
                "campaign.yaml only takes 2027-02-01.)",
                node_line(value_node),
            )
        if len(days) < 2:
            return None
        if days["to"] < days["from"]:
            self.error(
                "campaign-invalid",
                f"`dates` ends ({days['to']:%Y-%m-%d}) before it starts ({days['from']:%Y-%m-%d}).",
                "Swap `from` and `to`: `from` is the first day of the campaign, `to` the last.",
                node_line(node),
            )
            return None
        return CampaignDates(days["from"], days["to"])

    def approval(self, top: dict[str, tuple[int, Node]]) -> ApprovalRule:
        """`approval: required` (or `none`), `approvers: N` (1 or more, default 1), `allow_self_approval`."""
        written = self.doc.value(top["approval"][1]) if "approval" in top else "none"
        said = written.strip().lower() if isinstance(written, str) else None
        if said not in _APPROVAL_VALUES:
            node = top["approval"][1]
            shown = f"`{node.value}`" if isinstance(node, ScalarNode) else "a list or mapping"
            hint = did_you_mean(shown.strip("`"), _APPROVAL_VALUES)
            self.error("campaign-invalid", f"`approval` is {shown}, which is neither `required` nor `none`.{hint}",
                       "Write `approval: required` (a second person approves every post before it goes out) or "
                       "`approval: none`.", node_line(node))  # fmt: skip
        values = {"approvers": 1, "allow_self_approval": False}
        fixes = {"approvers": ("a whole number of people, 1 or more", "`approvers: 1` (how many must approve a post)"),
                 "allow_self_approval": ("true or false", "`allow_self_approval: false` (the default: whoever "
                                         "scheduled a post cannot approve it)")}  # fmt: skip
        for key, (kind, example) in fixes.items():
            if key not in top:
                continue
            value, node = self.doc.value(top[key][1]), top[key][1]
            flag = key == "allow_self_approval"
            if said == "none":
                self.error("campaign-invalid", f"`{key}` is set, but the campaign does not say `approval: required`, "
                           "so no post waits for approval.", f"Add `approval: required` (or remove `{key}`).",
                           node_line(node))  # fmt: skip
            elif isinstance(value, bool) if flag else (type(value) is int and value >= 1):
                values[key] = value
            else:
                self.error("wrong-type", f"`{key}` must be {kind}.", f"Write {example}.", node_line(node))
        if said != "required":
            return NO_APPROVAL
        return ApprovalRule(True, int(values["approvers"]), bool(values["allow_self_approval"]))


def load_campaign(directory: Path) -> Campaign:
    """Read `directory/campaign.yaml`; raises CalendarError listing every problem (with fixes)."""
    directory = Path(directory)
    file = str(directory / CAMPAIGN_FILE)
    text, problem = read_text(directory / CAMPAIGN_FILE, file)
    if problem is not None:
        if problem.code == "file-not-found":
            problem = Problem(
                "error",
                "campaign-missing",
                file,
                f"The campaign folder {directory} has no {CAMPAIGN_FILE}.",
                f"Create {file} (slug, name, hashtags, timezone, ...): see the campaign.yaml format.",
            )
        raise CalendarError([problem])
    assert text is not None
    doc, problem = parse_yaml(text, file)
    if problem is not None:
        raise CalendarError([problem])
    assert doc is not None
    problems: list[Problem] = []
    reader = _CampaignReader(file, doc, problems)
    if doc.root is None:
        raise CalendarError(
            [
                Problem(
                    "error",
                    "campaign-invalid",
                    file,
                    f"{CAMPAIGN_FILE} is empty.",
                    "Fill in slug, name, hashtags and timezone.",
                )
            ]
        )
    top = reader.mapping(doc.root, CAMPAIGN_FILE, _CAMPAIGN_KEYS)
    folder_name = directory.name or directory.resolve().name

    slug = reader.string(top, "slug")
    if not slug:
        reader.error(
            "campaign-invalid",
            f"{CAMPAIGN_FILE} has no `slug`.",
            f"Add `slug: {folder_name}` (it must equal the folder name).",
            1,
        )
        slug = folder_name
    elif slug != folder_name:
        reader.error(
            "campaign-invalid",
            f"The slug `{slug}` is not the folder name `{folder_name}`.",
            f"Set `slug: {folder_name}` or rename the folder to {slug}.",
            node_line(top["slug"][1]),
        )
    elif not is_valid_slug(slug):
        reader.error(
            "campaign-invalid",
            f"The slug `{slug}` is not a valid slug.",
            "Use lowercase letters, digits and hyphens.",
            node_line(top["slug"][1]),
        )

    name = reader.string(top, "name") or slug

    hashtags = reader.strings(top, "hashtags")
    variants = reader.strings(top, "hashtag_variants")
    for key, tags in (("hashtags", hashtags), ("hashtag_variants", variants)):
        for tag in tags:
            if not re.fullmatch(r"#\w+", tag):
                reader.error(
                    "campaign-invalid",
                    f"`{key}` has `{tag}`, which is not a hashtag.",
                    "Write hashtags with their '#' and no spaces, in quotes: \"#ItsNotOK\".",
                    node_line(top[key][1]),
                )
    if not hashtags:
        reader.error(
            "campaign-invalid",
            f"{CAMPAIGN_FILE} has no `hashtags`.",
            'Add the campaign\'s hashtags, main one first: hashtags: ["#ActOnIICSA"].',
            1,
        )

    timezone = reader.string(top, "timezone", DEFAULT_TIMEZONE) or DEFAULT_TIMEZONE
    if not is_known_timezone(timezone):
        reader.error(
            "unknown-timezone",
            f"Unknown timezone `{timezone}`.{did_you_mean_timezone(timezone)}",
            "Use an IANA zone name such as Europe/London.",
            node_line(top["timezone"][1]) if "timezone" in top else None,
        )
        timezone = DEFAULT_TIMEZONE

    misfire = timedelta(minutes=30)
    if "misfire_grace_minutes" in top:
        node = top["misfire_grace_minutes"][1]
        value = doc.value(node)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            misfire = timedelta(minutes=value)
        else:
            reader.error(
                "wrong-type",
                "`misfire_grace_minutes` must be a whole number of minutes (0 or more).",
                "Write e.g. `misfire_grace_minutes: 30`.",
                node_line(node),
            )

    accounts: dict[str, str] = {}
    if "accounts" in top:
        account_entries = reader.mapping(top["accounts"][1], "accounts", PLATFORMS)
        for platform in PLATFORMS:
            handle = reader.string(account_entries, platform)
            if handle:
                accounts[platform] = handle.lstrip("@")

    reply_rules: tuple[str, ...] | None = None
    allow_quotes = True
    if "bluesky" in top:
        bluesky = reader.mapping(top["bluesky"][1], "bluesky", _CAMPAIGN_BLUESKY_KEYS)
        if "reply_rules" in bluesky:
            reply_rules = known_reply_rules(reader, bluesky)
        if "allow_quotes" in bluesky:
            node = bluesky["allow_quotes"][1]
            value = doc.value(node)
            if isinstance(value, bool):
                allow_quotes = value
            else:
                reader.error(
                    "wrong-type", "`allow_quotes` must be true or false.", "Write true or false.", node_line(node)
                )

    visibility = "public"
    if "mastodon" in top:
        mastodon = reader.mapping(top["mastodon"][1], "mastodon", _CAMPAIGN_MASTODON_KEYS)
        chosen = reader.string(mastodon, "visibility", "public") or "public"
        if chosen not in MASTODON_VISIBILITIES:
            reader.error(
                "unknown-visibility",
                f"Unknown Mastodon visibility `{chosen}`.{did_you_mean(chosen, MASTODON_VISIBILITIES)}",
                f"Use one of: {', '.join(sorted(MASTODON_VISIBILITIES))}.",
                node_line(mastodon["visibility"][1]),
            )
        else:
            visibility = chosen

    keep_handles = False
    if "reports" in top:
        reports = reader.mapping(top["reports"][1], "reports", _CAMPAIGN_REPORTS_KEYS)
        if "keep_handles" in reports:
            node = reports["keep_handles"][1]
            value = doc.value(node)
            if isinstance(value, bool):
                keep_handles = value
            else:
                reader.error(
                    "wrong-type",
                    "`keep_handles` must be true or false.",
                    "Write `keep_handles: false` (the default: people who used a hashtag are only counted) or "
                    "`keep_handles: true` (their handles, never their words, are kept for --include-handles).",
                    node_line(node),
                )

    dates = reader.dates(top["dates"][1]) if "dates" in top else None
    approval = reader.approval(top)
    access = read_accessibility(reader, top["accessibility"][1]) if "accessibility" in top else DEFAULT_ACCESSIBILITY
    protections = read_protections(reader, top["protections"][1]) if "protections" in top else ()

    instances = reader.strings(top, "mastodon_instances")
    for instance in instances:
        if not re.fullmatch(r"https://[^/\s]+/?", instance):
            reader.error(
                "campaign-invalid",
                f"`mastodon_instances` has `{instance}`, which is not an instance's base URL.",
                'Write base URLs such as "https://mastodon.social".',
                node_line(top["mastodon_instances"][1]),
            )

    for line, what in doc.merge_errors:
        reader.error(
            "yaml-merge",
            f"A `<<:` merge cannot be applied: {what}.",
            "Merge only mappings: `<<: *anchor` where the anchor names a mapping.",
            line,
        )
    if problems:
        raise CalendarError(problems)
    return Campaign(
        slug=slug,
        name=name,
        directory=directory.resolve(),
        hashtags=hashtags,
        hashtag_variants=variants,
        timezone=timezone,
        accounts=accounts,
        organisation_accounts=tuple(a.lstrip("@") for a in reader.strings(top, "organisation_accounts")),
        keep_handles=keep_handles,
        mastodon_instances=tuple(i.rstrip("/") for i in instances),
        helpline=reader.string(top, "helpline", "") or "",
        misfire_grace=misfire,
        reply_rules=reply_rules,
        allow_quotes=allow_quotes,
        mastodon_visibility=visibility,
        language=reader.string(top, "language", "en") or "en",
        dates=dates,
        approval=approval,
        accessibility=access,
        protections=protections,
    )


# --- time zones --------------------------------------------------------------------------------------

_zone_cache: dict[str, ZoneInfo | None] = {}


def zone_or_none(name: str) -> ZoneInfo | None:
    if name not in _zone_cache:
        try:
            _zone_cache[name] = ZoneInfo(name) if name and not name.startswith(("/", ".")) else None
        except (ZoneInfoNotFoundError, ValueError, OSError):
            _zone_cache[name] = None
    return _zone_cache[name]


def is_known_timezone(name: str) -> bool:
    return zone_or_none(name) is not None


def did_you_mean_timezone(name: str) -> str:
    from zoneinfo import available_timezones

    zones = available_timezones()
    by_lower = {zone.lower(): zone for zone in zones}
    if name.lower() in by_lower:
        return f" Did you mean {by_lower[name.lower()]}?"
    best = difflib.get_close_matches(name, list(zones), n=1, cutoff=0.6)
    return f" Did you mean {best[0]}?" if best else ""
