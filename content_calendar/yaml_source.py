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
                found = str(getattr(error, "problem", None) or error).rsplit(" ", 1)[-1]  # "... but found scalar"
                named = {"scalar": "a single value", "sequence": "a list"}.get(found, "something else")
                self.merge_errors.append((line, f"what it names is {named}, not fields to copy"))
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
    """Compose a YAML text; a syntax error becomes a Problem in plain words, with the line to look at and what
    to do (the YAML reader's own words are kept as its `detail`, shown with --debug)."""
    try:
        return YamlDocument(text), None
    except yaml.MarkedYAMLError as error:
        line, message, fix = plain_yaml_error(error, _YAML_LINE_BREAK.split(text))
        detail = " ".join(str(error).split())
        return None, Problem("error", "yaml-syntax", file, message, fix, line=line, detail=detail)
    except yaml.YAMLError as error:
        refused = yaml_character_problem(text, file) if isinstance(error, yaml.reader.ReaderError) else None
        return None, refused or Problem(
            "error",
            "yaml-syntax",
            file,
            "The file cannot be read as YAML: it has a character or a layout a YAML file cannot have.",
            "Save it as UTF-8 text and check it against the calendar format; `campaign --debug calendar validate` "
            "shows the YAML reader's own words.",
            detail=" ".join(str(error).split()),
        )


_QUOTES_FIX = (
    'End the text with the quote mark it starts with (inside the text, write a double quote as \\" between '
    "double quotes, or a single quote twice between single quotes), or write the text as a `|` block."
)
_IN_QUOTES = (
    'Put the whole text in double quotes ({key}: "..."), or write `{key}: |` and the text on the lines below it, '
    "indented."
)
_GENERIC_FIX = (
    "Check the indentation and quoting at and just above that line: the fields of a post line up under each other, "
    "each post starts with '- ', and a text containing ': ' or starting with '#', '@', '*', '&', '[' or '{' must be "
    "in quotes (or a `|` block)."
)
# The key a line gives a value to: `text: ...` or `- id: ...`
_KEY = re.compile(r"\s*(?:-\s+)?([^\s:#'\"][^:#]*?):(?:\s|$)")


def plain_yaml_error(error: yaml.MarkedYAMLError, lines: Sequence[str]) -> tuple[int | None, str, str]:
    """(line, what is wrong, what to do) for the mistakes people make in YAML by hand, in place of libyaml's
    words ("mapping values are not allowed in this context")."""
    mark = error.problem_mark or error.context_mark
    if mark is None:
        return None, "The file cannot be read as YAML.", _GENERIC_FIX
    line, column = mark.line + 1, mark.column + 1
    start = error.context_mark.line + 1 if error.context_mark is not None else line
    here = lines[line - 1] if line <= len(lines) else ""
    char = here[column - 1] if column <= len(here) else ""
    found = _KEY.match(here)
    key = found.group(1).strip() if found else "text"
    problem, context = error.problem or "", error.context or ""
    if char == "\t" or "tab character" in problem:
        return line, f"Line {line} has a tab: YAML indents with spaces only.", "Replace the tab with spaces."
    dashed = [n for n in range(start, line + 1) if n <= len(lines) and re.match(r"\s*-[^\s-]", lines[n - 1])]
    if dashed and "expected" in problem:
        return (
            dashed[0],
            f"Line {dashed[0]}: a list item starts with a dash and a space ('- ').",
            "Add the space after the dash.",
        )
    if "duplicate anchor" in context:
        return line, f"Line {line}: the anchor is also defined on line {start}.", "Give one of them another name."
    if problem.startswith("mapping values are not allowed"):
        if ": " in here[: column - 1] or here[: column - 1].rstrip().endswith(":"):
            return (
                line,
                f"Line {line}: the text after `{key}:` has a colon followed by a space, and in YAML that starts a "
                "new field, so the text cannot be read.",
                _IN_QUOTES.format(key=key),
            )
        return (
            line,
            f"Line {line} is indented further than the line above it, so it is read as part of that line's value.",
            "Line it up with the other fields of the same post (the same number of spaces before it).",
        )
    if "quoted scalar" in context:
        return start, f"Line {start}: the quote mark that starts the text is never closed.", _QUOTES_FIX
    if problem == "did not find expected key":
        return _quoted_text(lines, start, line) or (
            line,
            f"Line {line} is not where a new field can start (a name followed by a colon): its indentation does not "
            "match the lines above it.",
            _GENERIC_FIX,
        )
    if problem.startswith("did not find expected '-' indicator"):
        return (
            line,
            f"Line {line} is not indented like the list that starts on line {start}: each item of the list starts "
            "with '- ' and its fields line up under the first one.",
            "Line it up with the other fields of its post (the same number of spaces before it), or start a new "
            "item with '- '.",
        )
    if "alias" in context or "anchor" in context or problem.startswith("found undefined alias"):
        sign = "&" if "anchor" in context else "*"
        return (
            start,
            f"Line {start}: a text that starts with `{sign}` must be in quotes (YAML reads `{sign}name` as a "
            "reference to another part of the file).",
            _IN_QUOTES.format(key=key),
        )
    if "flow" in context:
        kind = "list" if "sequence" in context else "set of fields"
        return (
            start,
            f"Line {start}: a text that starts with `[` or `{{` is read as a {kind}, and it is not closed.",
            _IN_QUOTES.format(key=key),
        )
    if "cannot start any token" in problem or "expected node content" in problem or "mapping keys" in problem:
        return (
            line,
            f"Line {line}: a text cannot start with {'a backtick' if char == '`' else f'`{char}`'} unless it is in "
            "quotes.",
            _IN_QUOTES.format(key=key),
        )
    if "simple key" in context:
        return (
            start,
            f"Line {start} has no colon after its first words, so it is neither a field (`name: value`) nor part of a "
            "text above it (the lines of a `|` or `>` text are indented under it).",
            "Indent it under the text it belongs to, or add the colon after its field's name.",
        )
    if "block scalar" in context:
        return (
            line,
            f"Line {line}: after `|` or `>` the text starts on the next line.",
            "Move the text to the lines below, indented further than the field's name.",
        )
    if "another document" in problem:
        return line, f"Line {line}: `---` starts a second document; a calendar file is one.", "Remove the `---` line."
    return line, f"Line {line}, column {column}: the file cannot be read as YAML from here.", _GENERIC_FIX


def _quoted_text(lines: Sequence[str], start: int, line: int) -> tuple[int, str, str] | None:
    """A text in quotes that is never closed, or that goes on after its closing quote: the line it starts on.
    (A text closed on its own line may have closed one left open above it: the search goes on up.)"""
    for number in range(line, max(start, 1) - 1, -1):
        text = lines[number - 1] if number <= len(lines) else ""
        found = _KEY.match(text)
        value = text[found.end() :].lstrip() if found else ""
        if not value or value[0] not in "'\"":
            continue
        quote, rest = value[0], value[1:]
        closed = re.search(r'(?<!\\)"' if quote == '"' else r"'(?!')", rest)
        if closed is None:
            return (
                number,
                f"Line {number}: the quote mark that starts the text is not closed on that line.",
                _QUOTES_FIX,
            )
        after = rest[closed.end() :].strip()
        if after and not after.startswith("#"):
            return (
                number,
                f"Line {number}: the text starts with a quote mark, so it ends at the next one, but more text "
                "follows it.",
                _IN_QUOTES.format(key=found.group(1).strip() if found else "text"),
            )
    return None


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
