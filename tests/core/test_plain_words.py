"""One vocabulary in every message a person reads (issue 13): the people who read them are comms officers and
directors, so the code's words (delivery, grapheme, tick, lease...) stay in the code.

The scan reads the source, it does not run it. A string is a message when a person can read it:
- anything the CLI and the web pages print: every prose string in cli/ and web/ and in the read models that word
  what they show (FACES), and the docstrings of CLI commands (they become --help);
- an argument of a call that shows or keeps a message: click's echo/secho/confirm/prompt and option help, a log
  line at warning level or above, the constructors of our own exceptions (Refused and its family, the adapters'
  errors: their text is kept as a post's last error), Problem, Skip, Outcome, Change, Line, Alert, and the reasons
  given to transition/record/release (a post's history); plus any keyword argument or attribute called reason,
  message, fix, detail, help, title, body...; and any function that passes one of its own parameters on to such a
  call (found, not listed);
- what such an argument is made of: the constant parts of an f-string, a name assigned in the same function or
  module (or imported from another), a module constant, what a function of ours it calls returns;
- the text of the web and weekly report templates, outside {% %} and {# #}, with the string literals inside {{ }}.
Identifiers stay: keys of dicts and subscripts, comparisons, code-like keywords (action=, code=, state=...), and in
the FACES a string without spaces in lowercase (an event's action code, a JSON key, a column) are not read as
prose. A string that reaches a message is checked even as one word (`unit = "graphemes"`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cli", "web", "workers", "scheduler", "content_calendar", "platforms")
# Every prose string in these is for people: the faces, and the read models that word what they show.
FACES = ("cli/", "web/", "scheduler/views/", "scheduler/reports/", "scheduler/status.py", "scheduler/rehearse.py",
         "scheduler/schedule_summary.py", "scheduler/dispatch/previews.py", "scheduler/alert_rules.py")  # fmt: skip
TEMPLATES = (("web/templates", "*.html"), ("scheduler/reports/templates", "*"))

# The code's words, and what people read instead (README.md, "Words this tool uses").
BANNED = re.compile(
    r"\b(deliver(?:y|ies)|graphemes?|re-?arm(?:s|ed|ing)?|ticks?|payloads?|idempoten(?:cy|t|tly)|misfire[sd]?"
    r"|leases?|leased|claimed)\b",
    re.IGNORECASE,
)

CLICK = {"echo", "secho", "style", "confirm", "prompt", "fail", "Abort", "ClickException", "UsageError",
         "BadParameter", "FileError", "BadOptionUsage", "BadArgumentUsage", "option", "argument", "command",
         "group", "Option", "Argument"}  # fmt: skip
LOG = {"warning", "warn", "error", "exception", "critical"}
EVENTS = {"transition", "record", "release", "fail_publish", "complete_publish"}
MESSAGES = {"Problem", "ShownProblem", "Skip", "Outcome", "Change", "Line", "Alert"}
SINKS = CLICK | LOG | EVENTS | MESSAGES
# Keyword arguments that name things rather than say them (an event's action code, a state, a colour).
CODE_KEYWORDS = {"action", "code", "kind", "state", "to_state", "from_state", "severity", "actor", "name", "queue",
                 "fg", "bg", "type", "metavar", "envvar", "cls", "style"}  # fmt: skip
KEYWORDS = {"help", "short_help", "epilog", "reason", "message", "fix", "detail", "why", "hint", "prompt", "title",
            "body"}  # fmt: skip
ATTRIBUTES = {"last_error", "reason", "message", "fix", "detail", "why", "help", "epilog"}
# Method names too common to mark every call of them as a message because one of ours passes a message on.
GENERIC = {"add", "append", "extend", "insert", "update", "get", "set", "put", "write", "run", "format", "join"}
COMMAND_DECORATORS = {"command", "group"}
MAX_DEPTH = 4


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    word: str
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.word!r} in {self.text!r}"


def is_identifier(text: str) -> bool:
    """An action code, JSON key, column or option name, not prose."""
    return not any(c.isspace() for c in text) and (text == text.lower() or any(c in "_-.:/%{}" for c in text))


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _docstring_node(node: ast.AST) -> ast.Constant | None:
    if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        return body[0].value if isinstance(body[0].value.value, str) else None
    return None


class Module:
    def __init__(self, root: Path, path: Path) -> None:
        self.file = str(path.relative_to(root))
        self.dotted = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        self.lines = path.read_text(encoding="utf-8").splitlines()
        self.tree = ast.parse("\n".join(self.lines), filename=self.file)
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for function in _functions(self.tree):
            self.functions.setdefault(function.name, []).append(function)
        self.imports: dict[str, tuple[str, str | None]] = {}  # local name -> (module, name in it or None)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
        self.docstrings = {id(d) for n in ast.walk(self.tree) if (d := _docstring_node(n)) is not None}
        self.scope: dict[ast.AST, ast.AST] = {}  # node -> the innermost function around it, or the module
        self.bindings: dict[tuple[int, str], list[ast.expr]] = {}  # (scope, name) -> values given to it there
        self.returns: dict[ast.AST, list[ast.expr]] = {}  # function -> what its own return statements return
        self._index(self.tree, self.tree)

    def _index(self, node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            self.scope[child] = scope
            if isinstance(child, ast.Assign):
                for target in child.targets:
                    self._bind(scope, target, child.value)
            elif isinstance(child, ast.AugAssign | ast.AnnAssign | ast.NamedExpr) and child.value is not None:
                self._bind(scope, child.target, child.value)
            elif isinstance(child, ast.For | ast.comprehension):
                self._bind(scope, child.target, child.iter)  # each name stands for something in what it runs over
            elif isinstance(child, ast.Return) and child.value is not None:
                self.returns.setdefault(scope, []).append(child.value)
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else scope
            self._index(child, inner)

    def _bind(self, scope: ast.AST, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.bindings.setdefault((id(scope), target.id), []).append(value)
        elif isinstance(target, ast.Tuple | ast.List):
            matched = isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts)
            for position, element in enumerate(target.elts):
                self._bind(scope, element, value.elts[position] if matched else value)  # type: ignore[attr-defined]
        elif isinstance(target, ast.Starred):
            self._bind(scope, target.value, value)

    def scope_of(self, node: ast.AST) -> ast.AST:
        return self.scope.get(node, self.tree)

    def assignments(self, scope: ast.AST, name: str) -> list[ast.expr]:
        """The values given to `name` directly in a scope (a function, or the module's top level), including
        `name += ...`, the matching element of a tuple assignment and what a `for` over it runs over."""
        return self.bindings.get((id(scope), name), [])


class Scanner:
    def __init__(self, root: Path, packages: tuple[str, ...] = PACKAGES, faces: tuple[str, ...] = FACES) -> None:
        self.root = root
        paths = sorted(p for package in packages for p in (root / package).rglob("*.py") if "migrations" not in p.parts)
        self.modules = [Module(root, path) for path in paths]
        self.by_dotted = {m.dotted: m for m in self.modules}
        self.faces = faces
        self.sinks = set(SINKS) | self._exceptions()
        self.generic: dict[str, int] = {}  # a common method name that is a message call with this many arguments
        self._discover_wrappers()
        self.findings: set[Finding] = set()

    # --- what counts as a message call -------------------------------------------------------------------

    def _is_sink(self, call: ast.Call) -> bool:
        name = _name(call.func)
        if name in self.generic:
            return len(call.args) + len(call.keywords) >= self.generic[name]
        return name in self.sinks

    def _exceptions(self) -> set[str]:
        """Our own exception classes: their text is what a refusal or a failed post says."""
        bases = {
            node.name: {_name(b) for b in node.bases}
            for m in self.modules
            for node in ast.walk(m.tree)
            if isinstance(node, ast.ClassDef)
        }
        found: set[str] = set()
        while True:
            more = {
                name
                for name, of in bases.items()
                if name not in found and any(b in found or b.endswith(("Error", "Exception", "Refused")) for b in of)
            }
            if not more:
                return found
            found |= more

    def _discover_wrappers(self) -> None:
        """A function that passes one of its own parameters to a message call is a message call too."""
        while True:
            added = False
            for module in self.modules:
                for function in _functions(module.tree):
                    params = {a.arg for a in (*function.args.posonlyargs, *function.args.args,
                                              *function.args.kwonlyargs)} - {"self", "cls"}  # fmt: skip
                    name = function.name
                    if function.name == "__init__":
                        owner = module.parent.get(function)
                        name = owner.name if isinstance(owner, ast.ClassDef) else name
                    if name in self.sinks or name in self.generic or name.startswith("__") or not params:
                        continue
                    for call in ast.walk(function):
                        if isinstance(call, ast.Call) and self._is_sink(call):
                            passed = {n.id for a in (*call.args, *(k.value for k in call.keywords))
                                      for n in ast.walk(a) if isinstance(n, ast.Name)}  # fmt: skip
                            if passed & params:
                                if name in GENERIC:  # context.add(severity, code, message, fix, ...), not set.add(x)
                                    arguments = function.args
                                    positional = len(arguments.posonlyargs) + len(arguments.args)
                                    required = positional - len(arguments.defaults)
                                    method = bool(arguments.args) and arguments.args[0].arg in ("self", "cls")
                                    self.generic[name] = max(2, required - method)
                                else:
                                    self.sinks.add(name)
                                added = True
                                break
            if not added:
                return

    # --- what a message is made of --------------------------------------------------------------------------

    def strings(self, module: Module, node: ast.AST, depth: int = 0) -> Iterator[tuple[Module, ast.AST, str]]:
        """(module, the string's node, its text) of every string an expression is made of."""
        if depth > MAX_DEPTH:
            return
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                yield module, node, node.value
        elif isinstance(node, ast.JoinedStr):
            for part in node.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield module, node, part.value  # its own position is the whole f-string's in Python 3.11
                elif isinstance(part, ast.FormattedValue):
                    yield from self.strings(module, part.value, depth)
        elif isinstance(node, ast.Name):
            yield from self._named(module, node, depth)
        elif isinstance(node, ast.Attribute):
            yield from self._attribute(module, node, depth)
        elif isinstance(node, ast.Call):
            yield from self._called(module, node, depth)
        elif isinstance(node, ast.Dict):
            for value in node.values:
                yield from self.strings(module, value, depth)
        elif isinstance(node, ast.IfExp):
            yield from self.strings(module, node.body, depth)
            yield from self.strings(module, node.orelse, depth)
        elif isinstance(node, ast.Subscript):
            yield from self.strings(module, node.value, depth)  # row["delivery_id"]: the key is not shown
        elif isinstance(node, ast.Compare | ast.Lambda):
            return  # a test, not a text
        elif isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            yield from self.strings(module, node.elt, depth)
        elif isinstance(node, ast.expr):
            for child in ast.iter_child_nodes(node):
                yield from self.strings(module, child, depth)

    def _named(self, module: Module, node: ast.Name, depth: int) -> Iterator[tuple[Module, ast.AST, str]]:
        scope: ast.AST | None = module.scope_of(node)
        while scope is not None:
            values = module.assignments(scope, node.id)
            if values:
                for value in values:
                    yield from self.strings(module, value, depth + 1)
                return
            scope = None if scope is module.tree else module.scope_of(scope)
        source = module.imports.get(node.id)
        if source and source[1] and (other := self.by_dotted.get(source[0])) is not None:
            for value in other.assignments(other.tree, source[1]):
                yield from self.strings(other, value, depth + 1)

    def _attribute(self, module: Module, node: ast.Attribute, depth: int) -> Iterator[tuple[Module, ast.AST, str]]:
        """`approval.AWAITING`: a constant of a module of ours."""
        if isinstance(node.value, ast.Name) and (source := module.imports.get(node.value.id)):
            dotted = source[0] if source[1] is None else f"{source[0]}.{source[1]}"
            if (other := self.by_dotted.get(dotted)) is not None:
                for value in other.assignments(other.tree, node.attr):
                    yield from self.strings(other, value, depth + 1)

    def _called(self, module: Module, node: ast.Call, depth: int) -> Iterator[tuple[Module, ast.AST, str]]:
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Constant | ast.JoinedStr):
            yield from self.strings(module, node.func.value, depth)  # "...".format(...), ", ".join(...)
        for argument in (*node.args, *(k.value for k in node.keywords)):
            yield from self.strings(module, argument, depth)
        for owner, function in self._functions_called(module, node.func):
            for returned in owner.returns.get(function, []):
                yield from self.strings(owner, returned, depth + 1)

    def _functions_called(
        self, module: Module, func: ast.expr
    ) -> Iterator[tuple[Module, ast.FunctionDef | ast.AsyncFunctionDef]]:
        if isinstance(func, ast.Name):
            if func.id in module.functions:
                yield from ((module, f) for f in module.functions[func.id])
            elif (source := module.imports.get(func.id)) and source[1]:
                other = self.by_dotted.get(source[0])
                if other is not None:
                    yield from ((other, f) for f in other.functions.get(source[1], []))
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in ("self", "cls"):
                yield from ((module, f) for f in module.functions.get(func.attr, []))
            elif source := module.imports.get(func.value.id):
                dotted = source[0] if source[1] is None else f"{source[0]}.{source[1]}"
                other = self.by_dotted.get(dotted)
                if other is not None:
                    yield from ((other, f) for f in other.functions.get(func.attr, []))

    # --- the scan ---------------------------------------------------------------------------------------------

    def check(self, module: Module, node: ast.AST, text: str, *, prose_only: bool = False) -> None:
        """`prose_only`: a string found by being in a face module, where identifiers abound; a string that reaches
        a message call is checked even as one word (`unit = "graphemes"`)."""
        if prose_only and is_identifier(text):
            return
        for match in BANNED.finditer(text):
            line = _line_of(module, node, match.group(0))
            self.findings.add(Finding(module.file, line, match.group(0), module.lines[line - 1].strip()[:160]))

    def scan(self) -> list[Finding]:
        for module in self.modules:
            face = module.file.startswith(self.faces)
            for node in ast.walk(module.tree):
                prose = face and isinstance(node, ast.Constant) and isinstance(node.value, str)
                if prose and id(node) not in module.docstrings:
                    self.check(module, node, node.value, prose_only=True)
                for expression in self._message_parts(module, node):
                    for owner, string, text in self.strings(module, expression):
                        self.check(owner, string, text)
            for function in _functions(module.tree):
                if self._is_command(function) and (doc := _docstring_node(function)) is not None:
                    self.check(module, doc, str(doc.value))
        for folder, pattern in TEMPLATES:
            for path in sorted((self.root / folder).glob(pattern)):
                self.findings.update(scan_template(path, str(path.relative_to(self.root))))
        return sorted(self.findings)

    def _message_parts(self, module: Module, node: ast.AST) -> Iterator[ast.expr]:
        if isinstance(node, ast.Call):
            if self._is_sink(node) or self._is_super_init_of_exception(module, node):
                yield from node.args
                yield from (k.value for k in node.keywords if k.arg not in CODE_KEYWORDS)
            else:
                yield from (k.value for k in node.keywords if k.arg in KEYWORDS)
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Attribute) and t.attr in ATTRIBUTES for t in node.targets):
                yield node.value
            for target in node.targets:  # outcome.outcome, outcome.detail = "busy", str(lost)
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for t, v in zip(target.elts, node.value.elts, strict=False):
                        if isinstance(t, ast.Attribute) and t.attr in ATTRIBUTES:
                            yield v
        elif (
            isinstance(node, ast.AugAssign | ast.AnnAssign)
            and isinstance(node.target, ast.Attribute)
            and node.target.attr in ATTRIBUTES
            and node.value is not None
        ):
            yield node.value

    def _is_super_init_of_exception(self, module: Module, call: ast.Call) -> bool:
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr == "__init__"):
            return False
        current = module.parent.get(call)
        while current is not None and not isinstance(current, ast.ClassDef):
            current = module.parent.get(current)
        return current is not None and current.name in self.sinks

    @staticmethod
    def _is_command(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        for decorator in function.decorator_list:
            called = decorator.func if isinstance(decorator, ast.Call) else decorator
            if _name(called) in COMMAND_DECORATORS:
                return True
        return False


def _line_of(module: Module, node: ast.AST, word: str) -> int:
    """The line of the word itself inside a string that spans lines."""
    start = getattr(node, "lineno", 1)
    end = getattr(node, "end_lineno", None) or start
    for number in range(start, end + 1):
        if word.lower() in module.lines[number - 1].lower():
            return number
    return start


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def _literals_only(match: re.Match[str]) -> str:
    """Inside {{ }}: keep the quoted literals (they are printed), blank the rest."""
    expression = match.group(0)
    kept = [" "] * len(expression)
    for literal in re.finditer(r"\"([^\"\n]*)\"|'([^'\n]*)'", expression):
        text = literal.group(1) if literal.group(1) is not None else literal.group(2)
        if not is_identifier(text):
            kept[literal.start() : literal.end()] = literal.group(0)
    return "".join("\n" if c == "\n" else k for c, k in zip(expression, kept, strict=True))


VISIBLE_ATTRIBUTE = re.compile(r"""\b(?:title|alt|placeholder|aria-label)\s*=\s*("[^"]*"|'[^']*')""")


def _tag_text(match: re.Match[str]) -> str:
    """An HTML tag: only the attributes a person reads (title, alt, placeholder, aria-label) stay."""
    tag = match.group(0)
    kept = [" " if c != "\n" else "\n" for c in tag]
    for attribute in VISIBLE_ATTRIBUTE.finditer(tag):
        start, end = attribute.span(1)
        kept[start:end] = tag[start:end]
    return "".join(kept)


def template_text(source: str) -> str:
    """What a person reads of a template, each character on its own line (so that line numbers hold)."""
    text = re.sub(r"\{#.*?#\}", _blank, source, flags=re.DOTALL)
    text = re.sub(r"\{%.*?%\}", _blank, text, flags=re.DOTALL)
    text = re.sub(r"\{\{.*?\}\}", _literals_only, text, flags=re.DOTALL)
    text = re.sub(r"<(script|style)\b.*?</\1\s*>", _blank, text, flags=re.DOTALL | re.IGNORECASE)
    text = re.sub(r"<!--.*?-->", _blank, text, flags=re.DOTALL)
    return re.sub(r"<[^>]*>", _tag_text, text)


def scan_template(path: Path, name: str) -> list[Finding]:
    shown = template_text(path.read_text(encoding="utf-8"))
    return [
        Finding(name, number, match.group(0), line.strip())
        for number, line in enumerate(shown.splitlines(), 1)
        for match in BANNED.finditer(line)
    ]


# --- the tests ----------------------------------------------------------------------------------------------------


def test_no_message_a_person_reads_uses_the_code_s_words() -> None:
    findings = Scanner(ROOT).scan()
    assert not findings, (
        "Messages people read use the words of README.md's 'Words this tool uses' (post, part, platform, "
        "characters, checked the schedule, too late to post...), not the code's:\n"
        + "\n".join(str(f) for f in findings)
    )


PLANTED = '''
import click
import logging
from scheduler.errors import Refused
from pack.words import NOTE

log = logging.getLogger("x")
SUFFIX = " until its lease runs out"


class Stuck(Refused):
    def __init__(self, n: int) -> None:
        super().__init__(f"{n} deliveries are stuck")


class Quiet(Exception):
    pass


def problem(code, message, fix):
    return Problem("error", code, "f.yaml", message, fix)


def _why(n):
    return f"re-armed {n} times"


@click.command()
@click.option("--grace", help="How long a misfire may wait.")
def cmd(grace):
    """Post now, with the same idempotency key."""
    click.echo(f"{grace} graphemes")
    log.warning("tick: %s", grace)
    log.info("tick: %s", grace)  # info: not for people
    transition(session, d, "missed", action="misfire", actor="w", reason="past its misfire grace")
    why = f"the delivery {grace}"
    why += SUFFIX
    record(session, action="stale-attempt", actor="w", reason=why, now=now)
    release(store, 1, now, worker="w", until=now, reason=_why(grace))
    problem("bluesky-too-long", "Too many graphemes.", "Shorten it.")
    raise Quiet("the payload is too big")
    outcome.detail = "claimed by another worker"
    click.echo(NOTE)
    click.echo(json.dumps({"delivery_id": 1, "deliveries": 2}))  # JSON keys are identifiers


def internal():
    """A delivery's lease: a developer's docstring, not help."""
    rows = select(Delivery).where(Delivery.state == "claimed")
    return "delivery internals"
'''

PLANTED_TEMPLATE = """<h1 title="Deliveries">Posts</h1>
{# the tick comment #}
{% if r.deliveries.planned %}<p>{{ r.deliveries.planned }} deliveries planned</p>{% endif %}
<a id="deliveries" href="#deliveries">{{ "re-armed twice" if x else r["deliveries"] }}</a>
<script>const tick = 1;</script>
{% set label = r.delivery
   | default("x") %}
"""


def test_the_scan_finds_every_kind_of_message_and_leaves_identifiers(tmp_path: Path) -> None:
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "cli.py").write_text(PLANTED, encoding="utf-8")
    (tmp_path / "pack" / "words.py").write_text('NOTE = "an idempotent retry"\n', encoding="utf-8")
    (tmp_path / "face").mkdir()
    (tmp_path / "face" / "page.py").write_text('"""Module docs: a tick."""\nTITLE = "Grapheme counts"\n')
    templates = tmp_path / "web" / "templates"
    templates.mkdir(parents=True)
    (templates / "page.html").write_text(PLANTED_TEMPLATE, encoding="utf-8")

    found = Scanner(tmp_path, packages=("pack", "face"), faces=("face/",)).scan()

    lines = PLANTED.splitlines()
    where = {(f.file, f.line, f.word.lower()) for f in found}
    expected = {
        ("pack/cli.py", 1 + lines.index(line), word)
        for line, word in [
            ('SUFFIX = " until its lease runs out"', "lease"),
            ('        super().__init__(f"{n} deliveries are stuck")', "deliveries"),
            ('    return f"re-armed {n} times"', "re-armed"),
            ('@click.option("--grace", help="How long a misfire may wait.")', "misfire"),
            ('    """Post now, with the same idempotency key."""', "idempotency"),
            ('    click.echo(f"{grace} graphemes")', "graphemes"),
            ('    log.warning("tick: %s", grace)', "tick"),
            (
                '    transition(session, d, "missed", action="misfire", actor="w", reason="past its misfire grace")',
                "misfire",
            ),
            ('    why = f"the delivery {grace}"', "delivery"),
            ('    problem("bluesky-too-long", "Too many graphemes.", "Shorten it.")', "graphemes"),
            ('    raise Quiet("the payload is too big")', "payload"),
            ('    outcome.detail = "claimed by another worker"', "claimed"),
        ]
    } | {
        ("pack/words.py", 1, "idempotent"),
        ("face/page.py", 2, "grapheme"),
        ("web/templates/page.html", 1, "deliveries"),
        ("web/templates/page.html", 3, "deliveries"),
        ("web/templates/page.html", 4, "re-armed"),
    }
    assert where == expected, "\n".join(str(f) for f in found)


@pytest.mark.parametrize(
    ("text", "identifier"),
    [("misfire", True), ("delivery_id", True), ("kept-published", True), ("--misfire-grace", True),
     ("Deliveries", False), ("delivery %s", False), (" graphemes", False)],
)  # fmt: skip
def test_identifiers_are_told_from_prose(text: str, identifier: bool) -> None:
    assert is_identifier(text) is identifier


# --- raw library words never reach people -----------------------------------------------------------------------

LIBYAML_WORDS = (
    "mapping values",
    "did not find",
    "while parsing",
    "while scanning",
    "token",
    "block mapping",
    "scalar",
)


@pytest.mark.parametrize(
    ("text", "line", "words", "fix"),
    [
        ("posts:\n  - id: a\n    text: Note: a colon\n", 3, "the text after `text:` has a colon followed by a space",
         'text: "..."'),
        ('posts:\n  - id: a\n    text: "Unclosed\n  - id: b\n    text: "fine"\n', 3,
         "the quote mark that starts the text is not closed", "End the text with the quote mark"),
        ('posts:\n  - id: a\n    text: "Hello" world\n', 3, "more text follows it", "double quotes"),
        ("posts:\n  - id: a\n\ttext: x\n", 3, "has a tab", "spaces"),
        ("posts:\n  - id: a\n    text: @handle hello\n", 3, "cannot start with `@` unless it is in quotes", "quotes"),
        ("posts:\n  - id: a\n    text: *important* news\n", 3, "starts with `*` must be in quotes", "quotes"),
        ("posts:\n  - id: a\n   text: x\n", 3, "not indented like the list that starts on line 2", "Line it up"),
        ("posts:\n  -id: a\n  - id: b\n", 2, "a list item starts with a dash and a space", "space after the dash"),
    ],
)  # fmt: skip
def test_a_yaml_mistake_is_told_in_plain_words_with_its_line(text: str, line: int, words: str, fix: str) -> None:
    from content_calendar.yaml_source import parse_yaml

    document, problem = parse_yaml(text, "calendar.yaml")
    assert document is None and problem is not None
    assert problem.line == line and problem.message.startswith(f"Line {line}") and words in problem.message
    assert fix in problem.fix
    said = (problem.message + problem.fix).lower()
    assert not [word for word in LIBYAML_WORDS if word in said], problem.message
    assert problem.detail and any(word in problem.detail for word in LIBYAML_WORDS)  # kept for --debug
    assert "detail" not in problem.to_json()  # the documented JSON shape stays


def test_the_yaml_reader_s_own_words_show_only_with_debug(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import main

    path = tmp_path / "calendar.yaml"
    path.write_text("campaign: x\nposts:\n  - id: a\n    at: 2027-02-01 09:00\n    text: Note: a colon\n")
    plain = CliRunner().invoke(main, ["calendar", "validate", str(path)])
    debug = CliRunner().invoke(main, ["--debug", "calendar", "validate", str(path)])
    assert plain.exit_code == debug.exit_code == 1
    assert "colon followed by a space" in plain.output and "mapping values" not in plain.output
    assert "mapping values are not allowed" in debug.output


# --- `campaign schedule` says nothing of a published post nobody changed ----------------------------------------


def test_a_published_post_is_reported_only_when_its_file_says_something_new(tmp_path: Path) -> None:
    import json
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from scheduler.db import Store
    from scheduler.models import Delivery, State
    from scheduler.sync import schedule_calendars
    from tests.support.engine import LONDON, calendar_input, campaign, post

    store = Store(f"sqlite:///{tmp_path / 'campaign.db'}")
    at = datetime(2027, 2, 1, 9, 0, tzinfo=LONDON)
    path = tmp_path / "cal.yaml"
    schedule_calendars(store, [calendar_input(path, [post("c", at)], camp=campaign(tmp_path))], at, actor="t")
    with store.transaction() as session:
        for delivery in session.scalars(select(Delivery)):
            delivery.state = State.PUBLISHED
            earlier = json.loads(delivery.payload)  # as an older version of the tool rendered the same words
            earlier["length"] += 1
            earlier.pop("allow_quotes", None)
            delivery.payload, delivery.payload_hash = json.dumps(earlier), "older rendering"

    # A new grace period for the campaign and another rendering of the same words: nothing to say.
    later = campaign(tmp_path, grace=timedelta(minutes=45))
    same = schedule_calendars(store, [calendar_input(path, [post("c", at)], camp=later)], at, actor="t")
    assert same.count("kept-published") == 0 and same.count("unchanged") == 2 and not same.changed

    edited = [post("c", at, "Edited after publishing #ActOnIICSA")]
    report = schedule_calendars(store, [calendar_input(path, edited, camp=later)], at, actor="t")
    notes = [c.detail for c in report.changes if c.action == "kept-published"]
    assert len(notes) == 2 and all(n.startswith("already published, so the change in the file does not") for n in notes)
