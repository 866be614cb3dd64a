"""A post's video through the real engine (Redis, a Celery worker and beat, SQLite) to the Mastodon test server:
scheduled from its rendered part, stored and read back from the store, uploaded, processed and attached once."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content_calendar.model import Post, RenderedPart, Video
from scheduler.models import State
from tests.mastodon_adapter.helpers import api_status
from tests.mastodon_adapter.test_worker import (
    assert_each_delivery_once_on_the_server,
    deliveries,
    in_state,
    mastodon_env,
    schedule,
)
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.engine import Engine, started, wait_for
from tests.support.video import write_video

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_video_post_goes_out_once_with_its_description(
    engine: Engine, mastodon: MastodonControl, account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(video_processing_polls=2)
    path = write_video(tmp_path / "film.mp4")
    video = Video(path.name, path, "A grey square fades to white.", ())
    post = Post(
        id="film",
        at=datetime.now(UTC) + timedelta(seconds=1),
        text="Our film #ActOnIICSA",
        platforms=("mastodon",),
        language="en",
        video=video,
    )
    store = schedule(engine, [post])
    with contextmanager(started)([engine.worker(**mastodon_env(account)), engine.beat()]):
        wait_for(lambda: in_state(store, State.PUBLISHED), timeout=40, what="the video post published")
    assert_each_delivery_once_on_the_server(store, mastodon)
    (delivery,) = deliveries(store)
    part = RenderedPart.from_json(json.loads(delivery.payload))
    assert part.video is not None and part.video.alt == "A grey square fades to white."
    (attachment,) = api_status(account, delivery.remote_id or "")["media_attachments"]
    assert attachment["type"] == "video" and attachment["description"] == part.video.alt
    assert len(mastodon.request_log(method="POST", path="/api/v2/media")) == 1
