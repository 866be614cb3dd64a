"""campaign.yaml `accessibility:` and `protections:` (see care.py for what they mean), read with clear errors.

accessibility: {checks: strict, max_emoji: 3}     # or `accessibility: strict`; default: standard, 3
protections:
  child-sexual-abuse:                             # a topic, as calendars write it in `topics:`
    words: ["child sexual abuse", "abused as children"]   # a post whose text has one is on the topic too
    mode: apply                                   # add what a post lacks (default); `require`: an error
    content_warning: "Mentions child sexual abuse"
    helpline: true                                # the campaign's `helpline` line
    bluesky: {labels: [graphic-media], reply_rules: [following, mentioned], allow_quotes: false}
    mastodon: {allow_quotes: false}               # Mastodon's quote policy
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from yaml.nodes import MappingNode, Node, ScalarNode

from content_calendar.care import (
    DEFAULT_ACCESSIBILITY,
    DEFAULT_MAX_EMOJI,
    PROTECTION_MODES,
    AccessibilityRule,
    TopicProtection,
)
from content_calendar.model import BLUESKY_REPLY_RULES, BLUESKY_SELF_LABELS
from content_calendar.yaml_source import NULL_TAG, YamlDocument, did_you_mean, node_line

_ACCESSIBILITY_KEYS = ("checks", "max_emoji")
_CHECKS = ("standard", "strict")
_PROTECTION_KEYS = ("words", "mode", "content_warning", "helpline", "bluesky", "mastodon")
_BLUESKY_KEYS = ("labels", "reply_rules", "allow_quotes")
_MASTODON_KEYS = ("allow_quotes",)
_TOPIC = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class CampaignReading(Protocol):
    """What campaign.py's reader offers (campaign.py cannot be imported here: it imports this module)."""

    doc: YamlDocument

    def error(self, code: str, message: str, fix: str, line: int | None) -> None: ...

    def mapping(self, node: Node, where: str, known: Sequence[str]) -> dict[str, tuple[int, Node]]: ...

    def string(self, entries: dict[str, tuple[int, Node]], key: str, default: str | None = None) -> str | None: ...

    def strings(self, entries: dict[str, tuple[int, Node]], key: str) -> tuple[str, ...]: ...


def read_accessibility(reader: CampaignReading, node: Node) -> AccessibilityRule:
    example = "Write `accessibility: {checks: strict, max_emoji: 3}` (or `accessibility: standard`)."
    if isinstance(node, ScalarNode):
        if node.tag == NULL_TAG:
            return DEFAULT_ACCESSIBILITY
        said = node.value.strip().lower()
        if said in _CHECKS:
            return AccessibilityRule(strict=said == "strict")
        hint = did_you_mean(said, _CHECKS)
        reader.error(
            "campaign-invalid",
            f"`accessibility` is `{node.value}`, which is neither `standard` nor `strict`.{hint}",
            example,
            node_line(node),
        )
        return DEFAULT_ACCESSIBILITY
    entries = reader.mapping(node, "accessibility", _ACCESSIBILITY_KEYS)
    strict = False
    if "checks" in entries:
        said = (reader.string(entries, "checks") or "").lower()
        if said not in _CHECKS:
            reader.error(
                "campaign-invalid",
                f"`accessibility: checks` is `{said}`, which is neither `standard` "
                f"nor `strict`.{did_you_mean(said, _CHECKS)}",
                example,
                node_line(entries["checks"][1]),
            )
        strict = said == "strict"
    max_emoji = DEFAULT_MAX_EMOJI
    if "max_emoji" in entries:
        value = reader.doc.value(entries["max_emoji"][1])
        if type(value) is int and value >= 0:
            max_emoji = value
        else:
            reader.error(
                "wrong-type",
                "`max_emoji` must be a whole number, 0 or more.",
                "Write e.g. `max_emoji: 3` (more emoji than that in a post is warned about).",
                node_line(entries["max_emoji"][1]),
            )
    return AccessibilityRule(strict=strict, max_emoji=max_emoji)


def read_protections(reader: CampaignReading, node: Node) -> tuple[TopicProtection, ...]:
    if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
        return ()
    if not isinstance(node, MappingNode):
        reader.error(
            "campaign-invalid",
            "`protections` must map each topic to what its posts must carry.",
            'Write e.g. `protections: {child-sexual-abuse: {content_warning: "Mentions child sexual '
            'abuse", helpline: true}}`.',
            node_line(node),
        )
        return ()
    protections: list[TopicProtection] = []
    for key_node, value_node in node.value:
        topic = str(key_node.value).strip().lstrip("#").lower() if isinstance(key_node, ScalarNode) else ""
        if not _TOPIC.fullmatch(topic):
            reader.error(
                "campaign-invalid",
                f"`protections` has `{topic or key_node.value}`, which is not a topic "
                "name: topics are letters, digits and hyphens (at most 64).",
                "Name the topic as calendars write it in `topics:`, e.g. `child-sexual-abuse`.",
                node_line(key_node),
            )
            continue
        protection = _protection(reader, topic, value_node)
        if protection is not None:
            protections.append(protection)
    return tuple(protections)


def _protection(reader: CampaignReading, topic: str, node: Node) -> TopicProtection | None:
    where = f"protections: {topic}"
    entries = reader.mapping(node, where, _PROTECTION_KEYS)
    line = node_line(node)
    mode = (reader.string(entries, "mode", "apply") or "apply").lower()
    if mode not in PROTECTION_MODES:
        reader.error(
            "campaign-invalid",
            f"`{where}: mode` is `{mode}`, which is neither `apply` nor `require`."
            f"{did_you_mean(mode, PROTECTION_MODES)}",
            "Write `mode: apply` (what a post lacks is added "
            "to it) or `mode: require` (a post that lacks it is an error).",
            node_line(entries["mode"][1]),
        )
        mode = "apply"
    helpline, helpline_line = False, ""
    if "helpline" in entries:
        value = reader.doc.value(entries["helpline"][1])
        if isinstance(value, bool):
            helpline = value
        elif isinstance(value, str) and value.strip():
            helpline, helpline_line = True, " ".join(value.split())
        else:
            reader.error(
                "wrong-type",
                f"`{where}: helpline` must be true, false or the topic's own support line.",
                'Write `helpline: true` (the campaign\'s helpline line) or `helpline: "Samaritans 116 123"`.',
                node_line(entries["helpline"][1]),
            )
    labels: tuple[str, ...] = ()
    reply_rules: tuple[str, ...] | None = None
    bluesky_quotes = mastodon_quotes = None
    if "bluesky" in entries:
        bluesky = reader.mapping(entries["bluesky"][1], f"{where}: bluesky", _BLUESKY_KEYS)
        labels = known_names(reader, bluesky, "labels", BLUESKY_SELF_LABELS, "unknown-label", "self-label",
                             where=where)  # fmt: skip
        if "reply_rules" in bluesky:
            reply_rules = known_reply_rules(reader, bluesky, where=where)
        bluesky_quotes = _quotes(reader, bluesky, f"{where}: bluesky")
    if "mastodon" in entries:
        mastodon = reader.mapping(entries["mastodon"][1], f"{where}: mastodon", _MASTODON_KEYS)
        mastodon_quotes = _quotes(reader, mastodon, f"{where}: mastodon")
    words = tuple(" ".join(word.split()) for word in reader.strings(entries, "words") if word.strip())
    protection = TopicProtection(
        topic=topic,
        words=words,
        mode=mode,  # type: ignore[arg-type]
        content_warning=reader.string(entries, "content_warning", "") or "",
        helpline=helpline,
        helpline_line=helpline_line,
        labels=labels,
        reply_rules=reply_rules,
        bluesky_quotes=bluesky_quotes,
        mastodon_quotes=mastodon_quotes,
        line=line,
    )
    if not protection.asks():
        reader.error(
            "campaign-invalid",
            f"`{where}` asks for nothing.",
            "Give what posts on the topic must carry: "
            "`content_warning`, `helpline: true`, `bluesky: {...}` or `mastodon: {allow_quotes: false}` "
            "(or remove the topic).",
            line,
        )
        return None
    return protection


def known_names(
    reader: CampaignReading,
    entries: dict[str, tuple[int, Node]],
    key: str,
    allowed: frozenset[str],
    code: str,
    noun: str,
    *,
    where: str | None = None,
    fix_note: str = "",
) -> tuple[str, ...]:
    """The strings under `key` that are among `allowed`; each other one is an error naming it (and `where`)."""
    names = reader.strings(entries, key)
    place = f" in `{where}`" if where else ""
    for name in names:
        if name not in allowed:
            reader.error(
                code,
                f"Unknown Bluesky {noun} `{name}`{place}.{did_you_mean(name, allowed)}",
                f"Use some of: {', '.join(sorted(allowed))}{fix_note}.",
                node_line(entries[key][1]),
            )
    return tuple(name for name in names if name in allowed)


def known_reply_rules(
    reader: CampaignReading, entries: dict[str, tuple[int, Node]], *, where: str | None = None
) -> tuple[str, ...]:
    return known_names(reader, entries, "reply_rules", BLUESKY_REPLY_RULES, "unknown-reply-rule", "reply rule",
                       where=where, fix_note=" ([] means nobody may reply)")  # fmt: skip


def _quotes(reader: CampaignReading, entries: dict[str, tuple[int, Node]], where: str) -> bool | None:
    if "allow_quotes" not in entries:
        return None
    value = reader.doc.value(entries["allow_quotes"][1])
    if value is False:
        return False
    reader.error(
        "campaign-invalid" if value is True else "wrong-type",
        f"`{where}: allow_quotes` can only be `false` (quotes off for posts on the topic).",
        "Write `allow_quotes: false`, or leave it out.",
        node_line(entries["allow_quotes"][1]),
    )
    return None
