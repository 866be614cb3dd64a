"""Builders shared by the Mastodon adapter tests: calendar posts rendered exactly as the scheduler renders
them, test images, and reading statuses back from the server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image as PillowImage

from content_calendar.model import Campaign, Image, PlatformOverride, Post, RenderedPart, ThreadPart
from content_calendar.render import render_post
from platforms.mastodon import MastodonAdapter
from tests.mastodon_server import MastodonControl, TestAccount

CW = "Child sexual abuse"


def make_image(directory: Path, name: str = "card.png", size: tuple[int, int] = (640, 400)) -> Path:
    path = directory / name
    picture = PillowImage.new("RGB", size, (40, 90, 160))
    for x in range(0, size[0], 40):
        for y in range(size[1]):
            picture.putpixel((x, y), (250, 250, 250))
    picture.save(path)
    return path


def campaign_in(directory: Path, *, instances: Sequence[str] = ()) -> Campaign:
    return Campaign(
        slug="act-on-iicsa",
        name="Act on IICSA",
        directory=directory,
        hashtags=("#ActOnIICSA",),
        mastodon_instances=tuple(instances),
    )


def mastodon_post(
    post_id: str,
    at: datetime,
    text: str,
    *,
    content_warning: str | None = None,
    images: Sequence[tuple[Path, str, tuple[float, float] | None]] = (),
    thread: Sequence[str] = (),
    visibility: str | None = None,
    allow_quotes: bool | None = None,
    language: str | None = "en",
) -> Post:
    overrides = {}
    if visibility is not None or allow_quotes is not None:
        overrides["mastodon"] = PlatformOverride(visibility=visibility, allow_quotes=allow_quotes)
    return Post(
        id=post_id,
        at=at,
        text=text,
        platforms=("mastodon",),
        content_warning=content_warning,
        language=language,
        images=tuple(Image(file=path.name, path=path, alt=alt, focus=focus) for path, alt, focus in images),
        thread=tuple(ThreadPart(text=t) for t in thread),
        overrides=overrides,
    )


def rendered(post: Post, campaign: Campaign) -> list[RenderedPart]:
    return render_post(post, campaign)["mastodon"]


def adapter_for(account: TestAccount, **options: Any) -> MastodonAdapter:
    options.setdefault("request_timeout", 5.0)
    return MastodonAdapter(account.base_url, account.token, **options)


def api_status(account: TestAccount, status_id: str) -> dict[str, Any]:
    """The status as the API shows it to its author (Mastodon.py entity, as a plain dict)."""
    client = account.client()
    return dict(client.status(status_id))


def source_of(account: TestAccount, status_id: str) -> dict[str, Any]:
    return dict(account.client().status_source(status_id))


def statuses_of(control: MastodonControl, username: str) -> list[dict[str, Any]]:
    return control.statuses(username)


def requests_to(control: MastodonControl, method: str, path_prefix: str) -> list[dict[str, Any]]:
    return [r for r in control.request_log(method=method) if r["path"].startswith(path_prefix)]
