"""Accessibility and safe-messaging checks of one post: alt text that describes, hashtags screen readers can say,
emoji, and the campaign's topic protections (`require`); and the protections applied (`apply`) before any check.

Problem codes (each a warning unless said; alt text ones are errors when campaign.yaml says
`accessibility: strict`): alt-file-name, alt-placeholder, alt-image-of, alt-too-short, alt-repeats-text,
alt-missing-card-text, hashtag-one-case, too-many-emoji, emoji-starts-line, protection-missing [error].
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import replace
from difflib import SequenceMatcher
from pathlib import Path, PurePath

import emoji

from content_calendar.care import DEFAULT_ACCESSIBILITY
from content_calendar.loaders import LoadedCalendar, PostLines
from content_calendar.model import PLATFORM_NAMES, Campaign, Image, Post, Problem, RenderedPart
from content_calendar.protections import apply_protections, lacking, why_on_topic
from content_calendar.validate.context import CheckContext

# What `campaign calendar check --accessibility` reports: these, the older checks of the same kind, and video captions.
ACCESSIBILITY_CODES: frozenset[str] = frozenset(
    {
        "alt-file-name",
        "alt-placeholder",
        "alt-image-of",
        "alt-too-short",
        "alt-repeats-text",
        "alt-missing-card-text",
        "hashtag-one-case",
        "too-many-emoji",
        "emoji-starts-line",
        "protection-missing",
        "missing-alt",
        "alt-too-long",
        "helpline-missing",
        "bluesky-no-content-warning",
        "video-no-captions",
        "captions-missing",
        "captions-not-webvtt",
    }
)
MIN_ALT_WORDS = 3  # fewer words than this cannot say what an image shows

_IMAGE_SUFFIXES = r"jpe?g|png|gif|webp|heic|heif|tiff?|bmp|svg|avif"
_FILE_NAME = re.compile(
    rf"[^\s/\\]+\.(?:{_IMAGE_SUFFIXES})|(?:img|dsc|dscn|dcim|pxl|screenshot|photo|image)[-_ ]?\d[\w\-. ]*",
    re.IGNORECASE,
)
# One word that only says there is an image (English and Welsh: llun = picture, delwedd = image).
_PLACEHOLDERS = frozenset(
    {"image", "images", "photo", "photos", "photograph", "picture", "pic", "graphic", "img", "screenshot", "alt"}
    | {"untitled", "placeholder", "llun", "delwedd"}
)
_ARTICLES = frozenset({"a", "an", "the", "alt", "text", "y", "yr"})
_IMAGE_OF = re.compile(
    r"(?:(?:an?|the)\s+)?(?:image|picture|photo|photograph|graphic|llun|delwedd)\s+(?:of|showing|o)\b", re.IGNORECASE
)
_WORD = re.compile(r"\w+(?:['’]\w+)*")
# Scripts written without spaces between words: a word count means nothing there.
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_HASHTAG = re.compile(r"(?:^|(?<=[\s(\[{\"'“‘«]))[#＃](\w+)")
_SHEET_NOTE = " (a spreadsheet row can only set a content warning: move the post to a YAML calendar for the rest)"
_NOT_EMOJI = frozenset("©®™‼⁉")  # text symbols the emoji list also has
# Every character an emoji can start with, as one character class: a text with none of them (most texts, and
# accented or right-to-left ones too) skips the emoji library's tokenizer, which reads character by character.
# (A keycap emoji starts with an ASCII digit, # or *, and always carries U+20E3.) Ranges, not single characters:
# re matches a class of a few dozen ranges quickly, and one of a thousand characters slowly.


def _ranges(starts: set[str]) -> str:
    points = sorted(map(ord, starts))
    spans: list[list[int]] = []
    for point in points:
        if spans and point == spans[-1][1] + 1:
            spans[-1][1] = point
        else:
            spans.append([point, point])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in spans)


_EMOJI_STARTS = _ranges({e[0] for e in emoji.EMOJI_DATA if not e[0].isascii()})  # "™️" is an emoji, "™" is not
_LOWEST_EMOJI_START = "\u20e3"  # below it (accents, curly quotes, dashes, Welsh, Arabic...) no emoji starts
_EMOJI_START = re.compile("[\\u20e3" + _EMOJI_STARTS + "]")
# A stretch of emoji and what joins them (zero-width joiner, variation selector, keycap mark, the tags of a flag
# such as Wales'; skin tones are emoji themselves): only these stretches go to the library, not the whole text.
_EMOJI_RUN = re.compile(
    "(?:[0-9#*]\\ufe0f?\\u20e3|["
    + _EMOJI_STARTS
    + "])[\\u200d\\ufe0f\\u20e3\\U000e0020-\\U000e007f"
    + _EMOJI_STARTS
    + "]*"
)


def _plain(text: str) -> str:
    """Case, accents' combining marks and invisible format characters (RTL marks, joiners) set aside."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Mc", "Me", "Cf"))


def words(text: str) -> list[str]:
    """The words of a text, any script; "Mae'n" is one word."""
    return _WORD.findall(_plain(text))


def emoji_in(text: str) -> list[tuple[int, str]]:
    """(position, emoji) for each emoji as a person sees it: a ZWJ family, a flag, a skin tone count once."""
    if max(text, default="") < _LOWEST_EMOJI_START or not _EMOJI_START.search(text):
        return []
    return [
        (run.start() + m["match_start"], m["emoji"])
        for run in _EMOJI_RUN.finditer(text)
        for m in emoji.emoji_list(run.group())
        if m["emoji"] not in _NOT_EMOJI
    ]


def emoji_name(found: str) -> str:
    return emoji.demojize(found, delimiters=("", "")).replace("_", " ")


def hashtag_forms(campaign: Campaign | None) -> dict[str, str]:
    """The campaign's hashtags written with capitals marking the words (#ItsNotOK), by their letters in any case."""
    if campaign is None:
        return {}
    return _forms((*campaign.hashtags, *campaign.hashtag_variants))


@functools.lru_cache(maxsize=64)
def _forms(tags: tuple[str, ...]) -> dict[str, str]:  # worked out once per campaign, not once per post
    forms: dict[str, str] = {}
    for tag in tags:
        name = tag.lstrip("#＃")
        if _marks_words(name):
            forms.setdefault(name.casefold(), name)
    return forms


def _marks_words(name: str) -> bool:
    """A capital after the first letter next to lower-case letters: #ItsNotOK, #ActOnIICSA (not #itsnotok, #IICSA)."""
    return any(c.isupper() for c in name[1:]) and any(c.islower() for c in name)


def one_case_hashtags(text: str, forms: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(as written, as it should be) for each of the campaign's multi-word hashtags written without capitals
    marking its words. A tag the campaign does not list is never guessed at."""
    if not forms or ("#" not in text and "＃" not in text):
        return
    for match in _HASHTAG.finditer(text):
        name = match.group(1)
        form = forms.get(name.casefold())
        if form is not None and name != form and not _marks_words(name):
            yield "#" + name, "#" + form


def _alt_problem(image: Image, texts: Sequence[str], place: str) -> tuple[str, str, str] | None:
    """(code, what is wrong, fix) for alt text that does not describe; None when it may."""
    alt = " ".join(image.alt.split())
    if not alt:
        return None  # missing-alt says so
    shown = alt if len(alt) <= 60 else alt[:57] + "..."
    describe = f"Describe in {place} what the image shows (who or what is in it, and any words on it)."
    stem = PurePath(image.file).stem.casefold()
    if _FILE_NAME.fullmatch(alt) or alt.casefold() in (PurePath(image.file).name.casefold(), stem):
        return "alt-file-name", f"the alt text is a file name (`{shown}`), which says nothing of the image.", describe
    alt_words = words(alt)
    if alt_words and all(w in _PLACEHOLDERS or w in _ARTICLES for w in alt_words) and (set(alt_words) - _ARTICLES):
        return "alt-placeholder", f"the alt text only says `{shown}`, not what the image shows.", describe
    opening = _IMAGE_OF.match(alt)
    if opening is not None:
        rest = alt[opening.end() :].strip(" :,-")
        suggestion = f': "{rest[:1].upper()}{rest[1:60]}{"..." if len(rest) > 60 else ""}"' if rest else ""
        return (
            "alt-image-of",
            f'the alt text starts with "{opening.group()}": screen readers already say it is '
            "an image, so those words are heard twice.",
            f"Start {place} with what it shows{suggestion}.",
        )
    if not _UNSPACED.search(alt) and len(alt_words) < MIN_ALT_WORDS:
        count = f"{len(alt_words)} word{'' if len(alt_words) == 1 else 's'}"
        return (
            "alt-too-short",
            f"the alt text is {count} (`{shown}`), too few to say what the image shows.",
            f"{describe[:-1]}, in a sentence or two.",
        )
    joined = " ".join(alt_words)
    for text in texts:
        text_words = " ".join(words(text))
        if len(alt_words) >= MIN_ALT_WORDS and (
            f" {joined} " in f" {text_words} " or SequenceMatcher(None, joined, text_words).ratio() >= 0.9
        ):
            return (
                "alt-repeats-text",
                "the alt text repeats the post's text, so someone using a screen reader "
                "hears it twice and learns nothing about the image.",
                f"{describe[:-1]}, instead of repeating the post.",
            )
    if image.text.strip():
        missing = [
            line.strip()
            for line in image.text.splitlines()
            if words(line) and f" {' '.join(words(line))} " not in f" {joined} "
        ]
        if missing:
            quoted = "; ".join(f'"{line}"' for line in missing[:3]) + ("; ..." if len(missing) > 3 else "")
            return (
                "alt-missing-card-text",
                f"the image is a card of text and its alt text leaves out words on it: {quoted}.",
                f"Give every word on the card in {place}, as written on it "
                '(e.g. `... reads: "..."`), so people who cannot see it read the same.',
            )
    return None


def _texts(post: Post, lines: PostLines) -> Iterator[tuple[str, str, int | None]]:
    """(what, text, line) for every text the post may send, as written."""
    yield "The post", post.text, lines.at("text")
    for platform, override in post.overrides.items():
        if override.text:
            yield f"The {PLATFORM_NAMES.get(platform, platform)} text", override.text, lines.at(platform)
    for number, part in enumerate(post.thread, start=1):
        part_lines = lines.thread[number - 1] if number - 1 < len(lines.thread) else None
        line = part_lines.keys.get("text", part_lines.line) if part_lines is not None else lines.line
        yield f"Thread reply {number}", part.text, line
        for platform, override in part.overrides.items():
            if override.text:
                yield f"Thread reply {number}'s {PLATFORM_NAMES.get(platform, platform)} text", override.text, line


def check_accessibility(
    ctx: CheckContext, post: Post, lines: PostLines, rendered: dict[str, list[RenderedPart]]
) -> None:
    campaign = ctx.loaded.campaign
    rule = campaign.accessibility if campaign is not None else DEFAULT_ACCESSIBILITY
    post_id = lines.display_id
    yaml = ctx.source == "yaml"
    place = '`alt: "..."`' if yaml else "the row's `image_alt` cell"
    severity = "error" if rule.strict else "warning"
    own_texts = [post.text, *(o.text for o in post.overrides.values() if o.text)]
    images: list[tuple[str, Image, int | None, list[str]]] = []
    for position, image in enumerate(post.images):
        line = lines.images[position] if position < len(lines.images) else lines.at("images")
        images.append(("", image, line, own_texts))
    for number, part in enumerate(post.thread, start=1):
        part_lines = lines.thread[number - 1] if number - 1 < len(lines.thread) else None
        for position, image in enumerate(part.images):
            line = part_lines.images[position] if part_lines and position < len(part_lines.images) else lines.line
            texts = [part.text, *(o.text for o in part.overrides.values() if o.text)]
            images.append((f" (thread reply {number})", image, line, texts))
    for where, image, line, texts in images:
        found = _alt_problem(image, texts, place)
        if found is not None:
            code, message, fix = found
            ctx.add(severity, code, f"Image {image.file}{where}: {message}", fix, line, post_id)
    forms = hashtag_forms(campaign)
    said: set[str] = set()
    for what, text, line in _texts(post, lines):
        for written, form in one_case_hashtags(text, forms):
            if written in said:
                continue
            said.add(written)
            ctx.add(
                "warning",
                "hashtag-one-case",
                f"{what} has {written}, all in one case: screen readers read it as one long made-up word.",
                f"Write it {form}, with a capital starting each word, as the campaign writes it.",
                line,
                post_id,
            )
        _check_emoji(ctx, what, text, line, post_id, rule.max_emoji)
    _check_protections(ctx, post, lines, campaign)


def _check_emoji(ctx: CheckContext, what: str, text: str, line: int | None, post_id: str | None, most: int) -> None:
    found = emoji_in(text)
    if not found:
        return
    if len(found) > most:
        shown = " ".join(e for _, e in found[:8]) + (" ..." if len(found) > 8 else "")
        ctx.add(
            "warning",
            "too-many-emoji",
            f"{what} has {len(found)} emoji ({shown}), more than {most}: a screen "
            f'reader reads out the name of each one (e.g. "{emoji_name(found[0][1])}").',
            f"Keep at most {most}, and say what matters in words.",
            line,
            post_id,
        )
    first = {m.end() for m in re.finditer(r"^[ \t]*", text, re.MULTILINE)}
    leading = [(text.count("\n", 0, position) + 1, e) for position, e in found if position in first]
    if leading:
        number, sign = leading[0]
        where = f"line {number}" if number > 1 else "its first line"
        more = f" (and {len(leading) - 1} more line{'s' if len(leading) > 2 else ''})" if len(leading) > 1 else ""
        ctx.add(
            "warning",
            "emoji-starts-line",
            f"{what} starts {where} with {sign} in place of words{more}: a "
            f'screen reader says "{emoji_name(sign)}" there.',
            'Start the line with words (e.g. "Phone:"), or put the emoji after them.',
            line,
            post_id,
        )


def _check_protections(ctx: CheckContext, post: Post, lines: PostLines, campaign: Campaign | None) -> None:
    if campaign is None:
        return
    for protection in campaign.protections:
        why = why_on_topic(post, protection)
        if why is None:
            continue
        missing = lacking(post, protection, campaign)
        if not missing:
            continue
        keys = []
        for thing in missing:
            if thing == "a content warning":
                keys.append(f'`content_warning: "{protection.content_warning}"`')
            elif thing == "the helpline line":
                keys.append("`helpline: true`")
            elif thing.startswith("the line "):
                keys.append(f'"{protection.helpline_line}" at the end of its text')
            elif thing.startswith("the Bluesky self-label"):
                keys.append(f"`bluesky: {{labels: [{', '.join(protection.labels)}]}}`")
            elif thing.startswith("Bluesky replies"):
                keys.append(f"`bluesky: {{reply_rules: [{', '.join(protection.reply_rules or ())}]}}`")
            elif thing.startswith("Bluesky quotes"):
                keys.append("`bluesky: {allow_quotes: false}`")
            else:
                keys.append("`mastodon: {allow_quotes: false}`")
        sheet = "" if ctx.source == "yaml" else _SHEET_NOTE
        ctx.add(
            "error",
            "protection-missing",
            f"The post is on the topic {protection.topic} ({why}), and the "
            f"campaign requires such posts to carry {_and(missing)}.",
            f"Add {_and(keys)} to the post{sheet}, or set `mode: apply` for {protection.topic} in campaign.yaml's "
            "`protections` so it is added.",
            lines.line,
            lines.display_id,
        )


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def protect_loaded(loaded: LoadedCalendar) -> LoadedCalendar:
    """The loaded calendar with its campaign's `apply` protections added to every post they cover."""
    campaign = loaded.campaign
    if campaign is None or not any(p.mode == "apply" for p in campaign.protections):
        return loaded
    changed: dict[int, Post] = {}
    posts = []
    for post, post_lines in loaded.posts:
        protected = apply_protections(post, campaign)
        if protected is not post:
            changed[id(post)] = protected
        posts.append((protected, post_lines))
    if not changed:
        return loaded
    calendar = loaded.calendar
    if calendar is not None:
        calendar = replace(calendar, posts=tuple(changed.get(id(p), p) for p in calendar.posts))
    return replace(loaded, posts=posts, calendar=calendar)


def findings_in_parts(
    rendered: dict[str, list[RenderedPart]], campaign: Campaign | None, file: str, post_id: str
) -> list[Problem]:
    """The accessibility findings that can be read from what the platforms will receive (a scheduled post under
    review, whose calendar may have changed since): alt text, hashtags in one case, emoji. Each once per post."""
    rule = campaign.accessibility if campaign is not None else DEFAULT_ACCESSIBILITY
    forms = hashtag_forms(campaign)
    found: dict[tuple[str, str], Problem] = {}

    def add(code: str, message: str, fix: str, severity: str = "warning") -> None:
        found.setdefault((code, message), Problem(severity, code, file, message, fix, post_id=post_id))  # type: ignore[arg-type]

    for parts in rendered.values():
        for part in parts:
            what = "The post" if part.part == 0 else f"Thread reply {part.part}"
            for image in part.images:
                name = PurePath(image.path).name
                verdict = _alt_problem(Image(name, Path(image.path), image.alt), [part.text], "the alt text")
                if verdict is not None:
                    code, message, fix = verdict
                    add(code, f"Image {name}: {message}", fix, "error" if rule.strict else "warning")
            for written, form in one_case_hashtags(part.text, forms):
                add("hashtag-one-case", f"{what} has {written}, all in one case: screen readers read it as one "
                    "long made-up word.", f"Write it {form}, with a capital starting each word.")  # fmt: skip
            emoji_found = emoji_in(part.text)
            if len(emoji_found) > rule.max_emoji:
                add("too-many-emoji", f"{what} has {len(emoji_found)} emoji, more than {rule.max_emoji}: a screen "
                    "reader reads out the name of each one.", f"Keep at most {rule.max_emoji}.")  # fmt: skip
    return list(found.values())
