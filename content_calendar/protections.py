"""Topic protections (campaign.yaml `protections:`): which topics a post is on, what it lacks of what its topics
ask for, and the post with that added (`apply`). Applying twice changes nothing: what is added is then there.

What a post "carries" is read as the platforms will receive it: a content warning on every platform it goes to,
the helpline line (`helpline: true`, or the campaign's helpline already written in its text), Bluesky self-labels,
Bluesky replies limited at least as much as asked, quotes off where asked."""

from __future__ import annotations

import functools
import re
from dataclasses import replace

from content_calendar.care import TopicProtection
from content_calendar.model import NO_OVERRIDE, Campaign, PlatformOverride, Post, RenderedPart, ThreadPart


def post_texts(post: Post) -> list[str]:
    """Every text the post may send: its text, each platform's own text, each reply and each reply's own text."""
    texts = [post.text, *(o.text for o in post.overrides.values() if o.text)]
    for part in post.thread:
        texts.append(part.text)
        texts.extend(o.text for o in part.overrides.values() if o.text)
    return texts


@functools.lru_cache(maxsize=256)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    phrases = sorted({w.casefold() for w in words}, key=len, reverse=True)
    body = "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def why_on_topic(post: Post, protection: TopicProtection) -> str | None:
    """Why the post is on the protection's topic ("its `topics:` name it", 'its text says "..."'), or None."""
    if protection.topic in post.topics:
        return f"its topics name {protection.topic}"
    pattern = _words_pattern(protection.words)
    if pattern is None:
        return None
    for text in post_texts(post):
        found = pattern.search(text)
        if found is not None:
            return f'its text says "{" ".join(found.group().split())}"'
    return None


def _carries_line(post: Post, line: str) -> bool:
    """A topic's support line: added to the post, or written in its text on every platform (or its numbers)."""
    if line in post.support_lines:
        return True
    numbers = [_digits(number) for number in _PHONE.findall(line)]
    for platform in post.targets():
        text = _text_for(post, platform)
        if line not in text and (not numbers or any(number not in _digits(text) for number in numbers)):
            return False
    return True


def _carries_helpline(post: Post, campaign: Campaign) -> bool:
    """`helpline: true`, or the helpline written out in the text on every platform: the line itself, or each of
    its phone numbers (a post listing support lines in its own words carries them)."""
    helpline = campaign.helpline.strip()
    if post.helpline:
        return True
    if not helpline:
        return False
    numbers = [_digits(number) for number in _PHONE.findall(helpline)]
    for platform in post.targets():
        text = _text_for(post, platform)
        if helpline in text:
            continue
        if not numbers or any(number not in _digits(text) for number in numbers):
            return False
    return True


_PHONE = re.compile(r"\+?\d[\d ]{4,}\d")  # "0808 801 0331", "116 123"


def _digits(text: str) -> str:
    """Digits with the spaces between them taken out: "0808 801 0331" and "08088010331" read alike."""
    return re.sub(r"(?<=\d) (?=\d)", "", text)


def _text_for(post: Post, platform: str) -> str:
    override = post.override(platform)
    return override.text if override.text is not None else post.text


def _warning_on(post: Post, platform: str) -> str:
    override = post.override(platform)
    return (override.content_warning if override.content_warning is not None else post.content_warning) or ""


def _reply_rules(post: Post, campaign: Campaign) -> tuple[str, ...] | None:
    rules = post.override("bluesky").reply_rules
    return rules if rules is not None else campaign.reply_rules


def _quotes_on(post: Post, campaign: Campaign, platform: str) -> bool:
    allowed = post.override(platform).allow_quotes
    return campaign.allow_quotes if allowed is None else allowed


def lacking(post: Post, protection: TopicProtection, campaign: Campaign) -> list[str]:
    """What the post lacks of what the protection asks for, in plain words ("a content warning", ...)."""
    targets = post.targets()
    missing: list[str] = []
    if protection.content_warning and any(not _warning_on(post, p).strip() for p in targets):
        missing.append("a content warning")
    if protection.helpline_line and not _carries_line(post, protection.helpline_line):
        missing.append(f'the line "{protection.helpline_line}"')
    elif protection.helpline and not protection.helpline_line and not _carries_helpline(post, campaign):
        missing.append("the helpline line")
    if "bluesky" in targets:
        labels = post.override("bluesky").labels or ()
        absent = [label for label in protection.labels if label not in labels]
        if absent:
            missing.append(f"the Bluesky self-label{'s' if len(absent) > 1 else ''} {', '.join(absent)}")
        rules = _reply_rules(post, campaign)
        if protection.reply_rules is not None and (rules is None or not set(rules) <= set(protection.reply_rules)):
            allowed = ", ".join(protection.reply_rules) or "nobody"
            missing.append(f"Bluesky replies limited to {allowed}")
        if protection.bluesky_quotes is False and _quotes_on(post, campaign, "bluesky"):
            missing.append("Bluesky quotes off")
    if "mastodon" in targets and protection.mastodon_quotes is False and _quotes_on(post, campaign, "mastodon"):
        missing.append("Mastodon quotes off")
    return missing


def _with_override(post: Post, platform: str, **changes: object) -> Post:
    current = post.overrides.get(platform, NO_OVERRIDE)
    updated: PlatformOverride = replace(current, **changes)  # type: ignore[arg-type]
    return replace(post, overrides={**post.overrides, platform: updated})


def protect(post: Post, protection: TopicProtection, campaign: Campaign) -> Post:
    """The post with what it lacks of `protection` added (whatever the protection's mode)."""
    missing = lacking(post, protection, campaign)
    if not missing:
        return post
    if "a content warning" in missing:
        if not (post.content_warning or "").strip():
            post = replace(post, content_warning=protection.content_warning)
        for platform, override in post.overrides.items():
            if override.content_warning is not None and not override.content_warning.strip():
                post = _with_override(post, platform, content_warning=None)  # the topic asks for one everywhere
    if "the helpline line" in missing:
        post = replace(post, helpline=True)
    if protection.helpline_line and f'the line "{protection.helpline_line}"' in missing:
        post = replace(post, support_lines=(*post.support_lines, protection.helpline_line))
    if "bluesky" in post.targets():
        labels = post.override("bluesky").labels or ()
        if any(label not in labels for label in protection.labels):
            added = (*labels, *(label for label in protection.labels if label not in labels))
            post = _with_override(post, "bluesky", labels=added)
        rules = _reply_rules(post, campaign)
        if protection.reply_rules is not None and (rules is None or not set(rules) <= set(protection.reply_rules)):
            allowed = protection.reply_rules
            narrowed = allowed if rules is None else tuple(r for r in rules if r in allowed)
            post = _with_override(post, "bluesky", reply_rules=narrowed)
        if protection.bluesky_quotes is False and _quotes_on(post, campaign, "bluesky"):
            post = _with_override(post, "bluesky", allow_quotes=False)
    if "mastodon" in post.targets() and protection.mastodon_quotes is False and _quotes_on(post, campaign, "mastodon"):
        post = _with_override(post, "mastodon", allow_quotes=False)
    said = f"for the topic {protection.topic}: {', '.join(missing)}"
    return replace(post, protected=(*post.protected, said))


def apply_protections(post: Post, campaign: Campaign | None) -> Post:
    """The post with what its topics' `apply` protections ask for added; `require` ones are left to the check."""
    if campaign is None or not campaign.protections:
        return post
    for protection in campaign.protections:
        if protection.mode == "apply" and why_on_topic(post, protection) is not None:
            post = protect(post, protection, campaign)
    return post


def helpline_part(parts: list[RenderedPart], helpline: str) -> int | None:
    """Which part carries the helpline line (0 = the post itself, n = reply n), or None."""
    helpline = helpline.strip()
    if not helpline:
        return None
    for part in parts:
        if part.text.rstrip().endswith(helpline):
            return part.part
    return None


def helpline_as_reply(post: Post, campaign: Campaign) -> Post:
    """The post with its helpline line (and a topic's support lines) as the thread's last reply instead of at the
    end of its text."""
    helpline = campaign.helpline.strip()
    lines = [helpline] if post.helpline and helpline else []
    lines.extend(line for line in post.support_lines if line not in lines)
    reply = ThreadPart("\n\n".join(lines))
    return replace(post, helpline=False, support_lines=(), thread=(*post.thread, reply))
