"""Campaign folders: finding them and reading their campaign.yaml.

Also home of the small YAML helpers the calendar loader shares (node trees with line numbers, built with
libyaml through `yaml.CSafeLoader`) and of `suggest`, the "did you mean" used in messages.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from content_calendar.model import (
    BLUESKY_REPLY_RULES,
    MASTODON_VISIBILITIES,
    PLATFORMS,
    CalendarError,
    Campaign,
    Problem,
)

CAMPAIGN_FILE = "campaign.yaml"
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
MAX_SLUG_LENGTH = 64
STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"
_YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class _Unreadable:
    def __repr__(self) -> str:
        return "(unreadable value)"


UNREADABLE: Any = _Unreadable()
# Keys that smell of credentials: campaign.yaml is data that lives in git, never a place for secrets.
_SECRET_KEY = re.compile(r"pass|secret|token|api[_-]?key|credential", re.IGNORECASE)


# --- shared helpers ----------------------------------------------------------------------------------


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest known word to a typo, or None."""
    matches = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' Did you mean X?' or ''; for appending to messages."""
    best = suggest(word, choices)
    return f" Did you mean {best}?" if best else ""


def node_line(node: Node) -> int:
    return node.start_mark.line + 1


def is_valid_slug(value: str) -> bool:
    return len(value) <= MAX_SLUG_LENGTH and SLUG_PATTERN.fullmatch(value) is not None


def slugify(value: str) -> str:
    """A valid slug close to what someone typed (for the fix of an invalid id)."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-") or "post-1"


class _CalendarLoader(yaml.CSafeLoader):
    """libyaml's safe loader with the tag resolution of plain scalars memoised.

    libyaml calls back into Python's resolver for every scalar; a calendar repeats the same keys and many
    values thousands of times. The safe loader registers no path resolvers, so a plain scalar's tag depends
    on its text alone, and a quoted scalar is always a string.
    """

    _plain_tags: ClassVar[dict[str, str]] = {}

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and not self.yaml_path_resolvers:
            if not implicit[0]:
                return STR_TAG
            tag = self._plain_tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 40 and len(self._plain_tags) < 50_000:
                    self._plain_tags[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


class YamlDocument:
    """One composed YAML document: the node tree (with line numbers) plus a constructor for typed scalars.

    libyaml builds the node tree; scalars that are plain strings are read straight from the nodes, and only
    the rest (ints, bools, dates, nulls) goes through PyYAML's safe constructor.
    """

    def __init__(self, text: str):
        self.merge_errors: list[tuple[int, str]] = []  # (line, what) of `<<:` merges that could not be applied
        self.text = text
        self._lines: list[str] | None = None
        self._loader = _CalendarLoader(text)
        try:
            self.root: Node | None = self._loader.get_single_node()
        finally:
            # The parser is done; the constructor half of the loader stays usable for scalars.
            self._loader.dispose()

    def lines(self) -> list[str]:
        """The source lines, split where libyaml counts line breaks (so a mark's line indexes them)."""
        if self._lines is None:
            self._lines = _YAML_LINE_BREAK.split(self.text)
        return self._lines

    def value(self, node: Node) -> Any:
        """Plain Python value of a node, or UNREADABLE for what the safe constructor refuses (unknown tags
        such as !!python/object, unhashable keys, recursive aliases): callers then report a wrong type."""
        if isinstance(node, ScalarNode) and node.tag == STR_TAG:
            return node.value
        try:
            return self._loader.construct_object(node, deep=True)
        except (yaml.YAMLError, RecursionError, TypeError, ValueError):
            return UNREADABLE

    def pairs(self, node: MappingNode) -> list[tuple[Node, Node]]:
        """Key/value node pairs of a mapping, with YAML merge keys (<<: *anchor) applied."""
        if any(key.tag == MERGE_TAG for key, _ in node.value):
            own = [(key, value) for key, value in node.value if key.tag != MERGE_TAG]
            try:
                self._loader.flatten_mapping(node)  # node.value becomes merged pairs + own pairs
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                line = mark.line + 1 if mark is not None else node_line(node)
                self.merge_errors.append((line, str(getattr(error, "problem", None) or error)))
                node.value = own
                return node.value
            merged = node.value[: len(node.value) - len(own)]
            # Keys set by the mapping itself override merged ones, and among merged ones the last wins (as
            # PyYAML constructs them): keep one pair per key, so that only real repeats look repeated.
            own_keys = {key.value for key, _ in own if isinstance(key, ScalarNode)}
            kept: dict[object, tuple[Node, Node]] = {}
            for key, value in merged:
                name = key.value if isinstance(key, ScalarNode) else id(key)
                if name not in own_keys:
                    kept.pop(name, None)
                    kept[name] = (key, value)
            node.value = [*kept.values(), *own]
        return node.value


def parse_yaml(text: str, file: str) -> tuple[YamlDocument | None, Problem | None]:
    """Compose a YAML text; a syntax error becomes a Problem with the parser's line."""
    try:
        return YamlDocument(text), None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        what = error.problem or "invalid YAML"
        context = ""
        if error.context:
            started = error.context_mark
            since = f" that starts on line {started.line + 1}" if started is not None and started is not mark else ""
            context = f" ({error.context}{since})"
        return None, Problem(
            "error",
            "yaml-syntax",
            file,
            f"The file is not valid YAML: {what}{context}.",
            "Check the indentation and quoting at and just above that line: text containing ': ' or "
            "starting with '#', '@', '*' or '&' must be in quotes (or use a `|` block).",
            line=line,
        )
    except yaml.YAMLError as error:
        return None, Problem(
            "error", "yaml-syntax", file, f"The file is not valid YAML: {error}.", "Fix the YAML syntax."
        )


Report = Callable[[str, str, str, int], None]  # (code, message, fix, line) -> record a Problem


def mapping_entries(
    doc: YamlDocument,
    node: MappingNode,
    where: str,
    known: Sequence[str],
    report: Report,
) -> dict[str, tuple[int, Node]]:
    """key -> (line of the key, value node) of a YAML mapping.

    Keys that look like credentials, unknown keys (with the nearest known one) and repeated keys are
    reported; only known keys are returned.
    """
    entries: dict[str, tuple[int, Node]] = {}
    for key_node, value_node in doc.pairs(node):
        key = key_node.value if key_node.__class__ is ScalarNode else str(doc.value(key_node))
        line = key_node.start_mark.line + 1
        if key not in known:
            if _SECRET_KEY.search(key):
                report(
                    "secret-in-file",
                    f"{where} has a key `{key}` that looks like a credential.",
                    "Remove it: passwords and tokens go in environment variables (BLUESKY_APP_PASSWORD, "
                    "MASTODON_ACCESS_TOKEN) or .env, never in campaign or calendar files.",
                    line,
                )
            else:
                report(
                    "unknown-key",
                    f"Unknown key `{key}` in {where}.{did_you_mean(key, known)}",
                    f"Use one of: {', '.join(known)}.",
                    line,
                )
            continue
        if key in entries:
            report(
                "duplicate-key",
                f"`{key}` appears twice in {where}; YAML keeps only the last.",
                "Keep one of them.",
                line,
            )
        entries[key] = (line, value_node)
    return entries


def read_text(path: Path, file: str) -> tuple[str | None, Problem | None]:
    """A text file as UTF-8 (a BOM is dropped); unreadable or non-UTF-8 files become Problems."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, Problem("error", "file-not-found", file, "The file does not exist.", "Check the path.")
    except IsADirectoryError:
        return None, Problem(
            "error", "file-not-found", file, "This is a folder, not a file.", "Give the path of a file."
        )
    except OSError as error:
        return None, Problem(
            "error", "file-unreadable", file, f"The file cannot be read: {error.strerror}.", "Check its permissions."
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return None, Problem(
            "error",
            "not-utf8",
            file,
            f"The file is not UTF-8 text (byte 0x{data[error.start]:02x} cannot be decoded).",
            "Save it as UTF-8: in Excel choose 'CSV UTF-8 (Comma delimited)', in a text editor choose the "
            "UTF-8 encoding.",
            line=line,
        )


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
)
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

    timezone = reader.string(top, "timezone", "Europe/London") or "Europe/London"
    if not is_known_timezone(timezone):
        reader.error(
            "unknown-timezone",
            f"Unknown timezone `{timezone}`.{did_you_mean_timezone(timezone)}",
            "Use an IANA zone name such as Europe/London.",
            node_line(top["timezone"][1]) if "timezone" in top else None,
        )
        timezone = "Europe/London"

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
            reply_rules = reader.strings(bluesky, "reply_rules")
            for rule in reply_rules:
                if rule not in BLUESKY_REPLY_RULES:
                    reader.error(
                        "unknown-reply-rule",
                        f"Unknown Bluesky reply rule `{rule}`.{did_you_mean(rule, BLUESKY_REPLY_RULES)}",
                        f"Use some of: {', '.join(sorted(BLUESKY_REPLY_RULES))} ([] means nobody may reply).",
                        node_line(bluesky["reply_rules"][1]),
                    )
            reply_rules = tuple(r for r in reply_rules if r in BLUESKY_REPLY_RULES)
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
