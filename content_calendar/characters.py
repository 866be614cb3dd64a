"""The characters a calendar must not carry, found and named by their code point.

Control characters (NUL and the other C0 and C1 controls, DEL; tab and line break are fine) and Unicode
noncharacters and lone surrogates never belong in a post: platforms and databases refuse or mangle them
(PostgreSQL cannot store NUL at all), and some move a terminal's cursor. They are named, never shown as they
are: "U+000B (VERTICAL TAB)".
"""

from __future__ import annotations

import bisect
import re

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from content_calendar.model import Problem

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")
# The same in two parts, for speed: a class of one plane is searched many times faster than one of seventeen.
_UNSAFE_BMP = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# What a YAML file may not contain as it is (YAML's printable set): libyaml refuses the whole file.
_YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
YAML_REFUSED = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_C0 = [
    "NUL",
    "START OF HEADING",
    "START OF TEXT",
    "END OF TEXT",
    "END OF TRANSMISSION",
    "ENQUIRY",
    "ACKNOWLEDGE",
    "BELL",
    "BACKSPACE",
    "TAB",
    "LINE FEED",
    "VERTICAL TAB",
    "FORM FEED",
    "CARRIAGE RETURN",
    "SHIFT OUT",
    "SHIFT IN",
    "DATA LINK ESCAPE",
    "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO",
    "DEVICE CONTROL THREE",
    "DEVICE CONTROL FOUR",
    "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE",
    "END OF TRANSMISSION BLOCK",
    "CANCEL",
    "END OF MEDIUM",
    "SUBSTITUTE",
    "ESCAPE",
    "FILE SEPARATOR",
    "GROUP SEPARATOR",
    "RECORD SEPARATOR",
    "UNIT SEPARATOR",
]
_C1 = [
    "PADDING CHARACTER",
    "HIGH OCTET PRESET",
    "BREAK PERMITTED HERE",
    "NO BREAK HERE",
    "INDEX",
    "NEXT LINE",
    "START OF SELECTED AREA",
    "END OF SELECTED AREA",
    "CHARACTER TABULATION SET",
    "CHARACTER TABULATION WITH JUSTIFICATION",
    "LINE TABULATION SET",
    "PARTIAL LINE FORWARD",
    "PARTIAL LINE BACKWARD",
    "REVERSE LINE FEED",
    "SINGLE SHIFT TWO",
    "SINGLE SHIFT THREE",
    "DEVICE CONTROL STRING",
    "PRIVATE USE ONE",
    "PRIVATE USE TWO",
    "SET TRANSMIT STATE",
    "CANCEL CHARACTER",
    "MESSAGE WAITING",
    "START OF GUARDED AREA",
    "END OF GUARDED AREA",
    "START OF STRING",
    "SINGLE GRAPHIC CHARACTER INTRODUCER",
    "SINGLE CHARACTER INTRODUCER",
    "CONTROL SEQUENCE INTRODUCER",
    "STRING TERMINATOR",
    "OPERATING SYSTEM COMMAND",
    "PRIVACY MESSAGE",
    "APPLICATION PROGRAM COMMAND",
]


def has_unsafe(text: str) -> bool:
    """Whether the text holds a character UNSAFE finds (quickly: most texts have none)."""
    if _UNSAFE_BMP.search(text) is not None:
        return True
    return _ASTRAL.search(text) is not None and UNSAFE.search(text) is not None


def character_name(char: str) -> str:
    """'U+0000 (NUL)': the code point and what it is."""
    code = ord(char)
    if code < 0x20:
        what = _C0[code]
    elif code == 0x7F:
        what = "DELETE"
    elif 0x80 <= code <= 0x9F:
        what = _C1[code - 0x80]
    elif 0xD800 <= code <= 0xDFFF:
        what = "half of a character that lost its other half"
    else:
        what = "a code Unicode reserves as a non-character"
    return f"U+{code:04X} ({what})"


def shown(text: str) -> str:
    """The text with every unsafe character replaced by its code point in brackets, so it can be printed."""
    if not has_unsafe(text):
        return text
    return UNSAFE.sub(lambda match: f"[U+{ord(match.group()):04X}]", text)


def character_hint(char: str) -> str:
    """Where such a character usually comes from, when that helps to fix it ('' otherwise)."""
    code = ord(char)
    if code in (0x0B, 0x0C):
        return " Word and PowerPoint use this one for a line break: type an ordinary line break instead."
    if 0x80 <= code <= 0x9F:
        try:
            meant = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            return ""
        return f" It is probably a {meant} spoiled by saving in another encoding: type {meant} instead."
    return ""


def yaml_character_problem(text: str, file: str) -> Problem | None:
    """The problem of a YAML text that libyaml refused for a character it may not contain (None if it has
    none): the line and column of the first, the post and key it is in where they can still be found."""
    found = [(match.start(), match.group()) for match in YAML_REFUSED.finditer(text)]
    if not found:
        return None
    line_ends = [match.end() for match in _YAML_LINE_BREAK.finditer(text)]  # where libyaml counts a new line
    position, char = found[0]
    line = bisect.bisect_right(line_ends, position)
    start = line_ends[line - 1] if line else 0
    before = text[start:position].strip()[-20:]
    where = f"after “{before}”" if before else "at the start of the line"
    post_id, key = _post_and_key(YAML_REFUSED.sub(" ", text), line)
    inside = ""
    if key is not None:
        inside = f", in the post's `{key}`" if post_id is not None else f", in `{key}`"
    others = sorted({bisect.bisect_right(line_ends, at) + 1 for at, _ in found[1:]})
    more = ""
    if others:
        listed = ", ".join(str(n) for n in others[:10]) + (" and others" if len(others) > 10 else "")
        count = len(found) - 1
        lines = "lines" if len(others) > 1 else "line"
        more = f" The file has {count} more such character{'s' if count > 1 else ''} ({lines} {listed})."
    name = character_name(char)
    return Problem(
        "error",
        "control-character",
        file,
        f"Line {line + 1}, column {position - start + 1}{inside}: an invisible character, {name}, {where}. A "
        f"YAML file cannot contain it, so the file could not be read.{more}",
        f"Remove the invisible character {name}: retype the text around it, or paste the text into a plain-text "
        "editor and copy it back (such characters come in with text copied from other programs)."
        + character_hint(char),
        post_id=shown(post_id) if post_id is not None else None,
        line=line + 1,
    )


def _post_and_key(cleaned: str, line: int) -> tuple[str | None, str | None]:
    """The id of the post (in a calendar's `posts:`) and the key that hold 0-based `line` of a YAML text."""
    try:
        root = yaml.CSafeLoader(cleaned).get_single_node()
    except yaml.YAMLError:
        return None, None
    if not isinstance(root, MappingNode):
        return None, None
    node: MappingNode = root
    post_id = None
    for key_node, value_node in root.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "posts" and isinstance(value_node, SequenceNode):
            for item in value_node.value:
                if isinstance(item, MappingNode) and item.start_mark.line <= line <= item.end_mark.line:
                    node = item
                    ids = [v for k, v in item.value if isinstance(k, ScalarNode) and k.value == "id"]
                    if ids and isinstance(ids[0], ScalarNode) and ids[0].value.strip():
                        post_id = ids[0].value.strip()
    keys = [k.value for k, _ in node.value if isinstance(k, ScalarNode) and k.start_mark.line <= line]
    return post_id, (shown(str(keys[-1])) if keys else None)
