"""The post page shows a post's video as each platform gets it: its file, its alt text, and whether it has captions
(Bluesky takes the caption files; Mastodon takes none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.api import Api
from scheduler.clock import FixedClock
from tests.support.video import write_captions, write_video
from tests.web.pages import NOW, make_api, signed_in, text_of, write_campaign

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    app = make_api(tmp_path, FixedClock(NOW))
    yield app
    app.close()


async def test_the_video_its_alt_text_and_its_captions_are_shown(api: Api) -> None:
    calendar = write_campaign(api, "films", """
        - id: film
          at: "2027-02-02 09:00"
          text: "Our film #ItsNotOK"
          video:
            file: media/film.mp4
            alt: A grey square fades to white.
            captions: [{file: media/film.cy.vtt, lang: cy}]
    """)  # fmt: skip
    media = calendar.parent.parent / "media"
    write_video(media / "film.mp4")
    write_captions(media / "film.cy.vtt")
    assert api.check_calendar(calendar).ok
    api.schedule([calendar], actor="sam")
    async with signed_in(api) as browser:
        page = (await browser.get("/posts/films/film")).text
    bluesky = text_of(page.split('<section class="platform bluesky"', 1)[1].split("</section>", 1)[0])
    mastodon = text_of(page.split('<section class="platform mastodon"', 1)[1].split("</section>", 1)[0])
    assert "Video: film.mp4" in bluesky and "Alt text: A grey square fades to white." in bluesky
    assert "Captions: cy" in bluesky
    assert "Video: film.mp4" in mastodon and "Description: A grey square fades to white." in mastodon
    assert "Captions: none sent (Mastodon takes no caption file)" in mastodon
