"""The source files of calendars and campaigns: text read as UTF-8, YAML composed with line numbers.

YAML is composed with libyaml (`yaml.CSafeLoader`) into node trees that keep every value's line, so that
problems can say where they are; `mapping_entries` reports unknown, repeated and credential-like keys, and
`did_you_mean` suggests the nearest known word in messages.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from content_calendar.characters import yaml_character_problem
from content_calendar.model import Problem

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
        refused = yaml_character_problem(text, file) if isinstance(error, yaml.reader.ReaderError) else None
        return None, refused or Problem(
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
