"""Mastodon.py's own recordings of a real Mastodon (vcrpy cassettes, MIT licence), from its sdist on PyPI.

    python -m tests.mastodon_server.recordings      # download once into tests/.cache/ (CI setup step)

`ensure_cassettes()` does the same on demand and raises `RecordingsUnavailable` when PyPI cannot be reached
(tests then skip on a developer's machine and fail under CI=true). The cache directory tests/.cache/ is not
committed.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MASTODON_PY_VERSION = "2.3.3"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / "tests" / ".cache" / "mastodon_py"
RECORDED_BASE_URL = "http://localhost:3000"


class RecordingsUnavailable(RuntimeError):
    pass


def _sdist(cache_dir: Path) -> Path | None:
    candidates = sorted(cache_dir.glob(f"*astodon*{MASTODON_PY_VERSION}.tar.gz"))
    return candidates[0] if candidates else None


def ensure_cassettes(cache_dir: Path = CACHE_DIR) -> Path:
    """The directory of extracted cassettes, downloading the sdist with pip if needed."""
    target = cache_dir / f"cassettes-{MASTODON_PY_VERSION}"
    if (target / ".complete").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    sdist = _sdist(cache_dir)
    if sdist is None:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"Mastodon.py=={MASTODON_PY_VERSION}",
            "-d",
            str(cache_dir),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RecordingsUnavailable(f"pip download Mastodon.py=={MASTODON_PY_VERSION} failed: {error}") from error
        sdist = _sdist(cache_dir)
        if done.returncode != 0 or sdist is None:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RecordingsUnavailable(
                f"pip download Mastodon.py=={MASTODON_PY_VERSION} failed (no PyPI?): {' | '.join(tail)}"
            )
    staging = Path(tempfile.mkdtemp(prefix="cassettes-", dir=cache_dir))
    try:
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if len(parts) < 4 or parts[1:3] != ("tests", "cassettes") or not member.isfile():
                    continue
                name = parts[-1]
                if "/" in name or name.startswith("."):
                    continue
                source = archive.extractfile(member)
                if source is not None:
                    (staging / name).write_bytes(source.read())
            license_member = next((m for m in archive.getmembers() if Path(m.name).parts[1:] == ("LICENSE",)), None)
            if license_member is not None and (source := archive.extractfile(license_member)) is not None:
                (staging / "LICENSE.Mastodon.py").write_bytes(source.read())
        (staging / ".complete").write_text(MASTODON_PY_VERSION)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


@dataclass
class Interaction:
    method: str
    uri: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int
    response_headers: dict[str, str]  # lower-case names, first value
    response_body: bytes

    @property
    def path(self) -> str:
        return "/" + self.uri.split("://", 1)[1].split("/", 1)[1]


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)


@functools.cache
def load_cassette(directory: Path, name: str) -> list[Interaction]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load((directory / f"{name}.yaml").read_text(), Loader=loader)
    interactions = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        body = request.get("body")
        if isinstance(body, str):
            body = body.encode()
        response_body = response["body"]["string"]
        if isinstance(response_body, str):
            response_body = response_body.encode()
        interactions.append(
            Interaction(
                method=request["method"],
                uri=request["uri"],
                request_headers={key: _first(value) for key, value in request["headers"].items()},
                request_body=body,
                status=int(response["status"]["code"]),
                response_headers={key.lower(): _first(value) for key, value in response["headers"].items()},
                response_body=response_body or b"",
            )
        )
    return interactions


if __name__ == "__main__":
    try:
        print(ensure_cassettes())
    except RecordingsUnavailable as error:
        print(f"recordings unavailable: {error}", file=sys.stderr)
        raise SystemExit(1) from None
