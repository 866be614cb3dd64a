"""What ships, checked without Docker (no Docker daemon runs here to notice when a package moves).

- The image: the Dockerfile's instructions are followed in a temporary folder that stands for the image's
  filesystem (WORKDIR, COPY from the repository, ENV); its `pip install` builds and installs the distribution
  from exactly what was copied by then into a fresh virtualenv. The installed `campaign` (the ENTRYPOINT)
  then runs from a folder outside the repository with PYTHONPATH unset, so only the installed copy can be
  imported: a top-level package that the Dockerfile forgets to copy is missing there, and the test says which.
- The deployment file: docker-compose.yml conforms to the Compose Specification's JSON schema.

Both need a download once into tests/.cache/packaging/ (not committed): wheels of pyproject's
build-system.requires from PyPI (the build then runs offline from them, isolated as Docker's is; the
project's dependencies come from the test's own virtualenv), and the Compose Specification's schema
(Apache-2.0) as the npm package dclint ships it (MIT; pinned by version and integrity).
`python -m tests.test_packaging` fetches both (a step of scripts/test) and the tests fetch on demand. Without
the registries the tests skip on a developer's machine and fail under CI (CI=true).
"""

from __future__ import annotations

import base64
import copy
import glob
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import pytest
import yaml
from jsonschema import Draft7Validator

from cli.listen import listen_process

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "tests" / ".cache" / "packaging"
# The top-level packages the project promises (README's floors); the check itself reads pyproject.toml.
FLOORS = {"content_calendar", "platforms", "scheduler", "workers", "cli"}
DCLINT = "dclint@3.1.0"
DCLINT_INTEGRITY = "sha512-afTGdzRFUXK4yCpIiEW/LOR+9TOMEDhNldDp56VCWzn7JDmD451PcUi640GGlMHgbHKJ10rDBm4PtpcBbjqlXw=="
DCLINT_SCHEMA = "package/schemas/compose.schema.json"
# Before every post of the shipped calendars: "already in the past" warnings would only be noise.
VALIDATE_NOW = "2026-12-01T00:00+00:00"


class Unavailable(RuntimeError):
    """A registry could not be reached (or its client is missing): skip locally, fail under CI."""


def _unavailable(message: str) -> NoReturn:
    """Fail under CI (CI=true: a missing setup step must not pass silently), skip on a developer's machine."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _run(command: list[str], *, timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **options)


def _tail(done: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    return "\n".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-lines:])


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------- downloads


def ensure_build_wheels(cache_dir: Path = CACHE_DIR) -> Path:
    """A folder holding wheels for pyproject's build-system.requires (for pip's --no-index --find-links)."""
    requires = list(_pyproject()["build-system"]["requires"])
    target = cache_dir / "build-wheels"
    stamp = target / ".complete"
    if stamp.exists() and stamp.read_text() == "\n".join(requires):
        return target
    target.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "--dest", str(target), *requires]
    try:
        done = _run(command, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Unavailable(f"pip download {' '.join(requires)} failed: {error}") from error
    if done.returncode != 0:
        raise Unavailable(f"pip download {' '.join(requires)} failed (no PyPI?): {_tail(done, 3)}")
    stamp.write_text("\n".join(requires))
    return target


def ensure_compose_schema(cache_dir: Path = CACHE_DIR) -> Path:
    """The Compose Specification's JSON schema, from the npm package dclint (checked against its pinned
    integrity), with dclint's licence beside it."""
    target = cache_dir / "compose-spec" / "compose.schema.json"
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed (scripts/setup_bluesky_net.sh installs Node and npm)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="npm-pack-", dir=target.parent) as staging:
        command = [npm, "pack", DCLINT, "--pack-destination", staging, "--silent"]
        try:
            done = _run(command, timeout=300, cwd=staging)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise Unavailable(f"npm pack {DCLINT} failed: {error}") from error
        tarballs = sorted(Path(staging).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise Unavailable(f"npm pack {DCLINT} failed (no npm registry?): {_tail(done, 3)}")
        data = tarballs[0].read_bytes()
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if integrity != DCLINT_INTEGRITY:
            raise RuntimeError(f"{DCLINT} from the registry is not the pinned tarball: {integrity}")
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            members = {name: archive.extractfile(name) for name in (DCLINT_SCHEMA, "package/LICENSE")}
            contents = {name: member.read() for name, member in members.items() if member is not None}
        (target.parent / "LICENSE.dclint").write_bytes(contents["package/LICENSE"])
        partial = target.with_suffix(".partial")
        partial.write_bytes(contents[DCLINT_SCHEMA])
        partial.replace(target)
    return target


@pytest.fixture(scope="module")
def build_wheels() -> Path:
    try:
        return ensure_build_wheels()
    except Unavailable as error:
        _unavailable(f"the build requirements' wheels are not available: {error}")


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    try:
        path = ensure_compose_schema()
    except Unavailable as error:
        _unavailable(f"the Compose Specification schema is not available: {error}")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


# --------------------------------------------------------------------------------------------- the image


def expected_packages() -> list[str]:
    """The top-level packages of the distribution, as pyproject.toml tells setuptools to find them in the
    repository (a new package there that pyproject.toml also names, e.g. web, is expected in the image)."""
    packages = _pyproject().get("tool", {}).get("setuptools", {}).get("packages")
    assert packages is not None, "pyproject.toml leaves packages to setuptools' discovery: teach this test it"
    if isinstance(packages, list):
        return sorted({name.split(".")[0] for name in packages})
    find = packages["find"]
    assert find.get("where", ["."]) == ["."], "packages.find with another `where`: teach this test about it"
    include, exclude = find.get("include", ["*"]), find.get("exclude", [])
    return sorted(
        folder.name
        for folder in ROOT.iterdir()
        if (folder / "__init__.py").is_file()
        and any(fnmatch(folder.name, pattern) for pattern in include)
        and not any(fnmatch(folder.name, pattern) for pattern in exclude)
    )


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int


def dockerfile_instructions(dockerfile: Path) -> list[Instruction]:
    """The instructions, continuation lines joined, comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(dockerfile.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = ""
    return instructions


@dataclass
class Image:
    """The image's filesystem as a folder: `root` stands for its "/"."""

    root: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    installed_from: list[Path] = field(default_factory=list)

    def path(self, value: str) -> Path:
        """An image path: absolute ones under `root`, relative ones under the current WORKDIR."""
        posix = PurePosixPath(value)
        return self.root.joinpath(*posix.parts[1:]) if posix.is_absolute() else self.workdir.joinpath(*posix.parts)


def _copy(image: Image, instruction: Instruction) -> None:
    """COPY as Docker does it from the repository as build context: a folder's contents into the
    destination, files into it (a destination ending in / or several sources) or as it."""
    arguments = instruction.arguments
    words: list[str] = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
    flags = [word for word in words if word.startswith("--")]
    assert not any(flag.startswith("--from") for flag in flags), f"line {instruction.line}: COPY --from is not modelled"
    *sources, destination = [word for word in words if not word.startswith("--")]
    target = image.path(destination)
    into = destination.endswith("/") or len(sources) > 1
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")  # bytecode: changes nothing in the build
    for source in sources:
        matches = sorted(ROOT.glob(source)) if glob.has_magic(source) else [ROOT / source]
        missing = [str(path.relative_to(ROOT)) for path in matches if not path.exists()]
        assert matches and not missing, (
            f"Dockerfile line {instruction.line}: COPY {source}: not in the repository, the image build would fail"
        )
        for path in matches:
            if path.is_dir():
                shutil.copytree(path, target, ignore=ignore, dirs_exist_ok=True)
            elif into or target.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def _env_pairs(arguments: str) -> dict[str, str]:
    words = shlex.split(arguments)
    if words and "=" not in words[0]:  # the legacy form: ENV KEY value with spaces
        return {words[0]: arguments.split(None, 1)[1] if len(words) > 1 else ""}
    return dict(word.split("=", 1) for word in words)


def follow_dockerfile(dockerfile: Path, root: Path, install: Callable[[Path], None]) -> Image:
    """WORKDIR, COPY and ENV into `root`; a `RUN pip install` installs its WORKDIR as it is at that point
    with `install`. Other instructions (FROM, USER, ENTRYPOINT, RUN of other commands) change no file
    this test needs."""
    assert not (ROOT / ".dockerignore").exists(), (
        ".dockerignore exists: teach this test to leave out what it leaves out of the build context"
    )
    root.mkdir(parents=True, exist_ok=True)
    image = Image(root=root, workdir=root)
    for instruction in dockerfile_instructions(dockerfile):
        if instruction.keyword == "WORKDIR":
            image.workdir = image.path(instruction.arguments)
            image.workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            _copy(image, instruction)
        elif instruction.keyword == "ADD":
            raise AssertionError(f"Dockerfile line {instruction.line}: ADD is not modelled by this test")
        elif instruction.keyword == "ENV":
            for key, value in _env_pairs(instruction.arguments).items():
                image.env[key] = str(image.path(value)) if value.startswith("/") else value
        elif instruction.keyword == "RUN" and re.search(r"\bpip\s+install\b", instruction.arguments):
            install(image.workdir)
            image.installed_from.append(image.workdir)
    return image


def _project_entries() -> set[str]:
    """Names in the test's site-packages that belong to the project itself (its editable install)."""
    names = set(expected_packages())
    try:
        distribution = importlib.metadata.distribution(_pyproject()["project"]["name"])
    except importlib.metadata.PackageNotFoundError:
        return names
    for file in distribution.files or []:
        if file.parts and file.parts[0] not in ("..", "__pycache__"):
            names.add(file.parts[0])
    return names


def fresh_virtualenv(where: Path) -> Path:
    """A virtualenv (python -m venv, no pip of its own) that sees the test interpreter's dependencies
    through symlinks, without the project itself: only an installed copy of the project can be imported.
    (`venv --system-site-packages` made from a virtualenv sees the base interpreter's packages, not those.)"""
    venv = where / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    assert done.returncode == 0, _tail(done)
    dependencies = where / "dependencies"
    dependencies.mkdir()
    skip = _project_entries()
    for site in dict.fromkeys(Path(sysconfig.get_path(name)) for name in ("purelib", "platlib")):
        for entry in site.iterdir():
            if entry.name in skip or entry.suffix == ".pth" or entry.name == "__pycache__":
                continue
            if not (dependencies / entry.name).exists():
                (dependencies / entry.name).symlink_to(entry)
    venv_site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (venv_site / "dependencies.pth").write_text(f"{dependencies}\n")
    return venv


def _environment(venv: Path, image: Image | None = None) -> dict[str, str]:
    """The environment without PYTHONPATH (nor any other PYTHON*, or the project's settings), the image's ENV."""
    dropped = ("PYTHON", "CAMPAIGN_", "BLUESKY_", "MASTODON_", "VIRTUAL_ENV", "PIP_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing written through the dependency symlinks
    env.update(image.env if image is not None else {})
    return env


# Run by the installed interpreter in isolated mode (-I: no PYTHON* variables, no current folder on sys.path).
_WHERE_FROM = """
import importlib.util, json, sys
print(json.dumps({name: getattr(importlib.util.find_spec(name), "origin", None) for name in sys.argv[1:]}))
"""


def check_image(dockerfile: Path, where: Path, wheels: Path) -> str:
    """Build the image's install as `dockerfile` says into `where` and check the installed copy; raises
    AssertionError naming what is wrong, returns the output of `campaign calendar validate`."""
    venv = fresh_virtualenv(where)
    python = venv / "bin" / "python"

    def install(folder: Path) -> None:
        command = [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--find-links", str(wheels)]
        command += ["--no-cache-dir", "--disable-pip-version-check", "--quiet", str(folder)]
        done = _run(command, timeout=600, env=_environment(venv), cwd=where)
        assert done.returncode == 0, f"pip install of the image's {folder.name} failed:\n{_tail(done)}"

    image = follow_dockerfile(dockerfile, where / "image", install)
    assert len(image.installed_from) == 1, f"expected one `RUN pip install`, found {len(image.installed_from)}"
    outside = where / "elsewhere"
    outside.mkdir()
    assert not outside.resolve().is_relative_to(ROOT)
    env = _environment(venv, image)

    expected = expected_packages()
    assert set(expected) >= FLOORS, f"pyproject.toml's packages {expected} lack some of {sorted(FLOORS)}"
    done = _run([str(python), "-I", "-c", _WHERE_FROM, *expected], timeout=120, env=env, cwd=outside)
    assert done.returncode == 0, _tail(done)
    origins: dict[str, str | None] = json.loads(done.stdout)
    missing = [name for name, origin in origins.items() if origin is None]
    assert not missing, (
        f"the image lacks the top-level packages {missing}: the Dockerfile copies no such folder before its "
        f"`pip install` (add e.g. `COPY {missing[0]} ./{missing[0]}`)"
    )
    venv_site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})).resolve()
    elsewhere = {
        name: origin for name, origin in origins.items() if not Path(str(origin)).resolve().is_relative_to(venv_site)
    }
    assert not elsewhere, f"packages imported from outside the installed copy: {elsewhere}"

    campaign = venv / "bin" / "campaign"  # the ENTRYPOINT, as pip installed it
    done = _run([str(campaign), "--help"], timeout=120, env=env, cwd=outside)
    assert done.returncode == 0 and "Usage: campaign" in done.stdout, f"campaign --help failed:\n{_tail(done)}"

    campaigns = Path(image.env.get("CAMPAIGN_CAMPAIGNS_DIR", image.workdir / "campaigns"))
    calendars = sorted(p for p in campaigns.glob("*/calendars/*") if p.suffix in {".yaml", ".yml", ".csv"})
    assert calendars, f"the image has no shipped calendars under {campaigns}"
    command = [str(campaign), "calendar", "validate", "--now", VALIDATE_NOW, *map(str, calendars)]
    done = _run(command, timeout=120, env=env, cwd=outside)
    assert done.returncode == 0, f"campaign calendar validate failed in the image:\n{_tail(done)}"
    return done.stdout


@pytest.mark.slow
def test_the_dockerfile_ships_every_package_and_its_campaign_runs(tmp_path: Path, build_wheels: Path) -> None:
    output = check_image(ROOT / "Dockerfile", tmp_path, build_wheels)
    assert "OK" in output


# --------------------------------------------------------------------------------------------- compose


def _compose_problems(schema: dict[str, Any], document: Any) -> list[str]:
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message[:300]}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_docker_compose_conforms_to_the_compose_specification(compose_schema: dict[str, Any]) -> None:
    assert "draft-07" in compose_schema.get("$schema", ""), "the schema moved to another JSON Schema draft"
    Draft7Validator.check_schema(compose_schema)
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    problems = _compose_problems(compose_schema, document)
    assert not problems, "docker-compose.yml against the Compose Specification:\n" + "\n".join(problems)


def test_the_compose_listener_is_the_one_campaign_run_starts() -> None:
    """Started again whenever it ends, it must wait (not end) when there is nothing to listen to, and it listens
    when BLUESKY_RELAY is set, as `campaign run`'s does (no relay of its own)."""
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    listener = document["services"]["listener"]
    assert listener["restart"] == "unless-stopped"
    assert listener["entrypoint"] == ["campaign", *listen_process().args[3:]]
    assert "--supervised" in listener["entrypoint"]


def test_the_compose_check_catches_a_misspelt_key(compose_schema: dict[str, Any]) -> None:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    broken = copy.deepcopy(document)
    broken["services"]["redis"]["restrat"] = broken["services"]["redis"].pop("restart")
    assert any("restrat" in problem for problem in _compose_problems(compose_schema, broken))


def main() -> int:
    """Fetch what these tests need once (scripts/test runs this before the suite)."""
    failed = False
    for what, fetch in (("build requirements", ensure_build_wheels), ("compose schema", ensure_compose_schema)):
        try:
            print(f"{what}: {fetch()}")
        except Unavailable as error:
            print(f"{what} unavailable: {error}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
