"""A post's video through the real engine (Redis, a Celery worker and beat, SQLite) to the local Bluesky network:
the rendered part stored with the video and its captions, read back by the worker, posted once as an
app.bsky.embed.video (as a blob on the PDS: the local network has no video service)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content_calendar.model import Captions, RenderedPart, Video
from scheduler.models import State
from tests.bluesky_adapter.conftest import Publisher
from tests.bluesky_adapter.test_worker import bluesky_post, deliveries, make_campaign, published, running, schedule
from tests.support.engine import Engine, wait_for
from tests.support.video import write_captions, write_video

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_video_post_arrives_once_with_alt_text_aspect_ratio_and_captions(
    engine: Engine, publisher: Publisher, tmp_path: Path
) -> None:
    video_file = write_video(tmp_path / "media" / "film.mp4")
    captions = write_captions(tmp_path / "media" / "film.vtt")
    video = Video("media/film.mp4", video_file, "A grey square fades to white.", (Captions("x", captions, "en"),))
    post = bluesky_post("film", datetime.now(UTC) + timedelta(seconds=2), "Our film #ActOnIICSA", video=video)
    store = schedule(engine, [post], make_campaign(tmp_path))
    with running(engine.worker(**publisher.env()), engine.beat(**publisher.env())):
        wait_for(lambda: published(store) == 1, timeout=60, what="the video post published")
    (delivery,) = deliveries(store)
    assert delivery.state == State.PUBLISHED
    part = RenderedPart.from_json(json.loads(delivery.payload))
    assert part.video is not None and [c.lang for c in part.video.captions] == ["en"]
    [stored] = publisher.records()
    assert stored["uri"] == delivery.remote_uri
    embed = stored["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.video" and embed["alt"] == part.video.alt
    assert embed["aspectRatio"] == {"width": 64, "height": 48}
    assert embed["video"]["size"] == video_file.stat().st_size
    assert [c["lang"] for c in embed["captions"]] == ["en"]
