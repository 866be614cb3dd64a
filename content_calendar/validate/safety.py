"""What must never leave a calendar: invisible control characters, and passwords or tokens.

Every text a post carries (its id, text, per-platform texts, content warnings, link, images' alt text and file
names, thread replies) is looked at. A problem names the post, the field and where it is: the line of a YAML
file, the row and column of a spreadsheet ("row 4, column E (text)"). A character is named by its code point,
a secret is never repeated: `cleaned` masks both in every message of the check, whichever check wrote it.

Secrets are the ones the scheduler is configured with (passed in: nothing here reads the environment) and
strings shaped like well-known tokens, matched strictly enough that ordinary campaign text does not trip them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from content_calendar.characters import UNSAFE, character_hint, character_name, has_unsafe, shown
from content_calendar.loaders import LoadedCalendar, PartLines, PostLines, SheetPlaces
from content_calendar.model import PLATFORM_NAMES, Campaign, Image, PlatformOverride, Post, Problem, RenderedPart

MASK = "********"
# A configured secret shorter than this would match ordinary words: real app passwords and tokens are longer.
SECRET_MIN_LENGTH = 8

# The sheet key (as the loader names a spreadsheet's columns) of each field a sheet can fill.
_SHEET_KEYS: Mapping[str, str] = {
    "id": "id",
    "text": "text",
    "bluesky.text": "bluesky",
    "mastodon.text": "mastodon",
    "content_warning": "content_warning",
    "link.url": "link",
    "images.1.file": "images",
    "images.1.alt": "image_alt",
}

_YAML_ESCAPES = {0x00: "\\0", 0x07: "\\a", 0x08: "\\b", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r", 0x1B: "\\e", 0x85: "\\N"}

_APP_PASSWORD = re.compile(r"(?<![\w/.@#-])[a-z0-9]{4}(?:-[a-z0-9]{4}){3}(?![\w-])")
_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567-")
_ACCESS_TOKEN = re.compile(r"(?<![\w/.@#＃-])[A-Za-z0-9_-]{43}(?![\w-])")
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*")
_JWT = re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_URL_CREDENTIAL = re.compile(
    r"[?&#](?:access_token|auth_token|token|password|passwd|api_?key|client_secret|secret)=([^&#\s]{8,})", re.IGNORECASE
)


@dataclass(frozen=True)
class _Field:
    key: str  # e.g. "text", "bluesky.text", "images.2.alt", "thread.1.text" (a sheet column is found by it)
    label: str  # as a person reads it, e.g. "The post's Bluesky text"
    value: str
    line: int | None
    public: bool = True  # posted (so token shapes are looked for), or only used here (an id, a file name)


@dataclass
class SafetyReport:
    problems: list[Problem] = field(default_factory=list)
    masks: set[str] = field(default_factory=set)  # secrets and token-like strings found: never printed
    unsafe_posts: set[str] = field(default_factory=set)  # Post.id of every post with a problem here


def check_input_safety(
    loaded: LoadedCalendar, rendered: Mapping[str, Mapping[str, Sequence[RenderedPart]]], secrets: Sequence[str]
) -> SafetyReport:
    """Every control character and secret in the posts of a loaded calendar, and (as a last net) in what they
    render to, which adds text from campaign.yaml."""
    report = SafetyReport()
    known = sorted({s.strip() for s in secrets if len(s.strip()) >= SECRET_MIN_LENGTH}, key=len, reverse=True)
    report.masks.update(known)
    source = loaded.calendar.source_format if loaded.calendar is not None else "yaml"
    suspect_campaign = loaded.campaign is not None and _suspect("\n".join(_campaign_texts(loaded.campaign)), known)
    for post, lines in loaded.posts:
        # One look at all of a post's texts at once; field by field only when something is there.
        if _suspect("\n".join(_texts(post)), known):
            before = len(report.problems)
            for item in _fields(post, lines):
                where, place = _where(item, lines, loaded.sheet)
                _check_characters(report, loaded.file, item, (where, place), lines, source)
                _check_secrets(report, loaded.file, item, (where, place), lines, known)
            if len(report.problems) > before:
                report.unsafe_posts.add(post.id)
                continue
        if suspect_campaign:
            parts = [part for platform_parts in rendered.get(post.id, {}).values() for part in platform_parts]
            place = loaded.sheet.place(lines.row or lines.line) if loaded.sheet is not None else None
            _check_rendered(report, loaded.file, post, (lines, place), parts, known)
    return report


def _suspect(text: str, known: Sequence[str]) -> bool:
    return has_unsafe(text) or any(secret in text for secret in known) or _token_shape(text)[0] is not None


def cleaned(problems: Iterable[Problem], masks: Iterable[str]) -> list[Problem]:
    """The problems with every secret masked and every unsafe character named instead of shown."""
    masks = sorted(masks, key=len, reverse=True)

    def clean(text: str) -> str:
        for secret in masks:
            text = text.replace(secret, MASK)
        return shown(text)

    result = []
    for problem in problems:
        texts = (problem.message, problem.fix, problem.post_id or "")
        if any(has_unsafe(text) for text in texts) or any(m in text for m in masks for text in texts):
            problem = dataclasses.replace(
                problem,
                message=clean(problem.message),
                fix=clean(problem.fix),
                post_id=clean(problem.post_id) if problem.post_id is not None else None,
            )
        result.append(problem)
    return result


# --- the fields of a post ------------------------------------------------------------------------------


def _texts(post: Post) -> Iterator[str]:
    """Every text `_fields` names, without the names: what the quick look at a post reads."""
    yield post.id
    yield post.text
    yield post.content_warning or ""
    for override in post.overrides.values():
        yield override.text or ""
        yield override.content_warning or ""
    if post.link is not None:
        yield from (post.link.url, post.link.title, post.link.description)
        if post.link.thumbnail is not None:
            yield from (post.link.thumbnail.file, post.link.thumbnail.alt)
    for image in post.images:
        yield from (image.file, image.alt)
    for part in post.thread:
        yield part.text
        for override in part.overrides.values():
            yield override.text or ""
            yield override.content_warning or ""
        for image in part.images:
            yield from (image.file, image.alt)


def _campaign_texts(campaign: Campaign) -> Iterator[str]:
    """The texts of campaign.yaml, some of which rendering adds to posts (the helpline)."""
    for value in vars(campaign).values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, tuple):
            yield from (item for item in value if isinstance(item, str))
        elif isinstance(value, Mapping):
            yield from (item for item in value.values() if isinstance(item, str))


def _fields(post: Post, lines: PostLines) -> Iterator[_Field]:
    if not lines.generated_id and lines.display_id is not None:
        yield _Field("id", "The post's `id`", lines.display_id, lines.at("id"), public=False)
    yield _Field("text", "The post's text", post.text, lines.at("text"))
    if post.content_warning:
        yield _Field("content_warning", "The post's content warning", post.content_warning, lines.at("content_warning"))
    for platform, override in post.overrides.items():
        yield from _override_fields(platform, override, "The post's", f"{platform}.", lines.at(platform))
    if post.link is not None:
        link, line = post.link, lines.at("link")
        yield _Field("link.url", "The address of the post's link", link.url, line)
        if link.title:
            yield _Field("link.title", "The title of the post's link", link.title, line)
        if link.description:
            yield _Field("link.description", "The description of the post's link", link.description, line)
        if link.thumbnail is not None:
            yield from _image_fields(link.thumbnail, "link.thumbnail.", "the link's thumbnail", line)
    for number, image in enumerate(post.images, start=1):
        line = lines.images[number - 1] if number <= len(lines.images) else lines.at("images")
        yield from _image_fields(image, f"images.{number}.", f"image {number}", line)
    for number, part in enumerate(post.thread, start=1):
        part_lines = lines.thread[number - 1] if number <= len(lines.thread) else PartLines(part.line or lines.line)
        reply = f"thread reply {number}"
        yield _Field(f"thread.{number}.text", f"The text of {reply}", part.text, _part_line(part_lines, "text"))
        for platform, override in part.overrides.items():
            line = _part_line(part_lines, platform)
            whose, prefix = f"{reply.capitalize()}'s", f"thread.{number}.{platform}."
            yield from _override_fields(platform, override, whose, prefix, line)
        for index, image in enumerate(part.images, start=1):
            line = part_lines.images[index - 1] if index <= len(part_lines.images) else _part_line(part_lines, "images")
            yield from _image_fields(image, f"thread.{number}.images.{index}.", f"image {index} of {reply}", line)


def _part_line(part_lines: PartLines, key: str) -> int | None:
    return part_lines.keys.get(key, part_lines.line)


def _override_fields(
    platform: str, override: PlatformOverride, whose: str, prefix: str, line: int | None
) -> Iterator[_Field]:
    name = PLATFORM_NAMES.get(platform, platform)
    if override.text:
        yield _Field(f"{prefix}text", f"{whose} {name} text (`{platform}: text`)", override.text, line)
    if override.content_warning:
        label = f"{whose} {name} content warning (`{platform}: content_warning`)"
        yield _Field(f"{prefix}content_warning", label, override.content_warning, line)


def _image_fields(image: Image, prefix: str, which: str, line: int | None) -> Iterator[_Field]:
    yield _Field(f"{prefix}file", f"The file name of {which}", image.file, line, public=False)
    if image.alt:
        yield _Field(f"{prefix}alt", f"The alt text of {which}", image.alt, line)


def _where(item: _Field, lines: PostLines, sheet: SheetPlaces | None) -> tuple[str, str | None]:
    """How the message names the field, and in a spreadsheet the place of its cell ("row 4, column E (text)"),
    which is printed before the message."""
    if sheet is None:
        return item.label, None
    key = _SHEET_KEYS.get(item.key)
    if key is None or key not in sheet.columns:
        return item.label, sheet.place(lines.row or lines.line)
    return "This cell", sheet.place(lines.row or lines.line, key)


# --- the checks ----------------------------------------------------------------------------------------


def _check_characters(
    report: SafetyReport, file: str, item: _Field, at: tuple[str, str | None], lines: PostLines, source: str
) -> None:
    where, place = at
    found = UNSAFE.findall(item.value)
    if not found:
        return
    first = found[0]
    position = item.value.index(first)
    before = item.value[:position].rsplit("\n", 1)[-1].strip()[-20:]
    after = f"after “{before}”" if before else "at the start"
    names = list(dict.fromkeys(character_name(char) for char in found))
    if len(found) == 1:
        what = f"an invisible character, {names[0]}, {after}"
    else:
        what = f"{len(found)} invisible characters ({', '.join(names)}); the first is {after}"
    them = f"the invisible character {names[0]}" if len(names) == 1 else "the invisible characters"
    hint = character_hint(first)
    if source == "yaml":
        escapes = " and ".join(dict.fromkeys(_yaml_escapes(char) for char in found))
        fix = (
            f"Remove {them}: in double quotes {'it is' if len(found) == 1 else 'they are'} written as an escape "
            f"({escapes}); otherwise retype the text around {'it' if len(found) == 1 else 'them'} (such characters "
            "come in with text copied from other programs)."
        )
        if first == "\r":
            hint = " For a new line, write \\n instead (or use a | block)."
    else:
        fix = (
            f"Remove {them} from that cell: retype the text around {'it' if len(found) == 1 else 'them'}, or paste "
            "the cell's text into a plain-text editor and back (such characters come in with text copied from "
            "other programs)."
        )
    report.problems.append(
        Problem(
            "error",
            "control-character",
            file,
            f"{where} has {what}.",
            fix + hint,
            post_id=lines.display_id,
            line=item.line,
            place=place,
        )
    )


def _yaml_escapes(char: str) -> str:
    code = ord(char)
    plain = f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}"
    special = _YAML_ESCAPES.get(code)
    return f"{special} or {plain}" if special else plain  # as written in a double-quoted YAML string


def _check_secrets(
    report: SafetyReport, file: str, item: _Field, at: tuple[str, str | None], lines: PostLines, known: Sequence[str]
) -> None:
    where, place = at
    if any(secret in item.value for secret in known):
        report.problems.append(
            Problem(
                "error",
                "secret-in-text",
                file,
                f"{where} contains one of the passwords or tokens this scheduler signs in with; it is not "
                "repeated here. Anything in a calendar may end up posted publicly.",
                "Delete it from the file now. As the file may have been shared, also make a new one, revoke this "
                "one (Bluesky: Settings > Privacy and security > App passwords; Mastodon: Preferences > "
                "Development) and put the new one where the scheduler's settings are kept (the environment or "
                ".env).",
                post_id=lines.display_id,
                line=item.line,
                place=place,
            )
        )
        return
    if not item.public:
        return
    kind, matched = _token_shape(item.value)
    if kind is None:
        return
    report.masks.add(matched)
    report.problems.append(
        Problem(
            "error",
            "secret-in-text",
            file,
            f"{where} contains what looks like {kind}; it is not repeated here. Anything in a calendar may end up "
            "posted publicly.",
            "Remove it: passwords and tokens belong in the scheduler's settings (the environment or .env), never in "
            "a calendar. If it is a real one, also revoke it and make a new one, as the file may have been shared. "
            "If it is not a password or token, reword that part so that it does not look like one.",
            post_id=lines.display_id,
            line=item.line,
            place=place,
        )
    )


def _token_shape(text: str) -> tuple[str | None, str]:
    """What kind of token the text seems to hold and the string that looks like it, or (None, "")."""
    # Cheap looks first (most texts have no word as long as the shortest token, nor the words that start one);
    # the patterns only ever read the long words, which are whole between spaces.
    long_words = [word for word in text.split() if len(word) >= 19]
    if long_words:
        kind, matched = _long_token(" ".join(long_words))
        if kind is not None:
            return kind, matched
    if "Bearer" in text:
        for match in _BEARER.finditer(text):
            if any(c.isdigit() for c in match.group()):
                return "an access token (after the word Bearer)", match.group()
    if "eyJ" in text:
        jwt = _JWT.search(text)
        if jwt is not None:
            return "a sign-in token (a JWT, starting eyJ)", jwt.group()
    if "-----BEGIN" in text:
        key = _PRIVATE_KEY.search(text)
        if key is not None:
            return "a private key", key.group()
    if "=" in text:
        in_address = _URL_CREDENTIAL.search(text)
        if in_address is not None:
            return "a password or token written into a web address", in_address.group(1)
    return None, ""


def _long_token(text: str) -> tuple[str | None, str]:
    for match in _APP_PASSWORD.finditer(text):
        candidate = match.group()
        # Bluesky draws them from lowercase base32 (no 0, 1, 8 or 9, so no year); one digit at least, so that
        # four hyphenated words are not one (about 1 in 28 real ones has no digit and is missed).
        if set(candidate) <= _BASE32 and any(c.isdigit() for c in candidate):
            return "a Bluesky app password (four groups of four letters and digits joined by hyphens)", candidate
    for match in _ACCESS_TOKEN.finditer(text):
        candidate = match.group()
        if (
            any(c.isdigit() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
        ):
            return "a Mastodon access token (43 letters, digits, hyphens and underscores in a row)", candidate
    return None, ""


def _check_rendered(
    report: SafetyReport,
    file: str,
    post: Post,
    at: tuple[PostLines, str | None],
    parts: Sequence[RenderedPart],
    known: Sequence[str],
) -> None:
    """What the post's own fields do not explain but its rendering has came from campaign.yaml (its helpline)."""
    lines, place = at
    for part in parts:
        texts = [part.text, part.spoiler_text, *(image.alt for image in part.images)]
        if part.link_card is not None:
            texts += [part.link_card.url, part.link_card.title, part.link_card.description]
        for text in texts:
            bad = UNSAFE.search(text)
            secret = any(secret in text for secret in known)
            if bad is None and not secret:
                continue
            what = (
                f"an invisible character, {character_name(bad.group())},"
                if bad is not None
                else "one of the passwords or tokens this scheduler signs in with (not repeated here),"
            )
            report.problems.append(
                Problem(
                    "error",
                    "control-character" if bad is not None else "secret-in-text",
                    file,
                    f"The post as it would be sent has {what} which comes from the campaign's settings "
                    "(campaign.yaml), not from the calendar.",
                    "Remove it from campaign.yaml (look at the helpline and the hashtags).",
                    post_id=lines.display_id,
                    line=lines.line,
                    place=place,
                )
            )
            report.unsafe_posts.add(post.id)
            return
