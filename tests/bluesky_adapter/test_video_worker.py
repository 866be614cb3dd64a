"""A post's video through the real engine (Redis, a Celery worker and beat, SQLite) to both platforms: the local
Bluesky network (as a blob on the PDS: it has no video service) and the Mastodon test server. The rendered parts
are stored with the video and its captions, read back by the worker, and each posted once (one engine for both,
to keep the suite's time)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content_calendar.model import Captions, Post, RenderedPart, Video
from scheduler.models import State
from tests.bluesky_adapter.conftest import Publisher
from tests.bluesky_adapter.test_worker import deliveries, make_campaign, published, running, schedule
from tests.mastodon_server import MastodonControl, TestAccount
from tests.support.engine import Engine, wait_for
from tests.support.video import write_captions, write_video

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_video_post_arrives_once_on_each_platform(
    engine: Engine, publisher: Publisher, mastodon: MastodonControl, mastodon_account: TestAccount, tmp_path: Path
) -> None:
    mastodon.configure(video_processing_polls=2)
    video_file = write_video(tmp_path / "media" / "film.mp4")
    captions = write_captions(tmp_path / "media" / "film.vtt")
    video = Video("media/film.mp4", video_file, "A grey square fades to white.", (Captions("x", captions, "en"),))
    post = Post(
        id="film",
        at=datetime.now(UTC) + timedelta(seconds=2),
        text="Our film #ActOnIICSA",
        platforms=("bluesky", "mastodon"),
        language="en",
        video=video,
    )
    store = schedule(engine, [post], make_campaign(tmp_path))
    env = {
        **publisher.env(),
        "MASTODON_API_BASE_URL": mastodon_account.base_url,
        "MASTODON_ACCESS_TOKEN": mastodon_account.token,
    }
    with running(engine.worker(**env), engine.beat(**env)):
        wait_for(lambda: published(store) == 2, timeout=60, what="the video post published on both")
    rows = {d.platform: d for d in deliveries(store)}
    assert all(d.state == State.PUBLISHED for d in rows.values())

    bluesky = RenderedPart.from_json(json.loads(rows["bluesky"].payload))
    assert bluesky.video is not None and [c.lang for c in bluesky.video.captions] == ["en"]
    [stored] = publisher.records()
    assert stored["uri"] == rows["bluesky"].remote_uri
    embed = stored["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.video" and embed["alt"] == bluesky.video.alt
    assert embed["aspectRatio"] == {"width": 64, "height": 48}
    assert embed["video"]["size"] == video_file.stat().st_size
    assert [c["lang"] for c in embed["captions"]] == ["en"]

    mastodon_part = RenderedPart.from_json(json.loads(rows["mastodon"].payload))
    assert mastodon_part.video is not None and mastodon_part.video.captions == ()
    [status] = mastodon.statuses("campaign")
    assert status["id"] == rows["mastodon"].remote_id
    (attachment,) = dict(mastodon_account.client().status(status["id"]))["media_attachments"]
    assert attachment["type"] == "video" and attachment["description"] == mastodon_part.video.alt
    assert len(mastodon.request_log(method="POST", path="/api/v2/media")) == 1
