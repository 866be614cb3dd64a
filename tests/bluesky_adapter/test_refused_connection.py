"""A connection refused before any byte is sent cannot have written anything: the attempt ends with a clean
failure, so the next attempt is dated and keyed by itself, not by the one that never reached Bluesky."""

from __future__ import annotations

from pathlib import Path

import pytest

from platforms.base import Secret, TransientError
from platforms.bluesky import BlueskyAdapter
from tests.bluesky_adapter.conftest import Publisher
from tests.bluesky_adapter.test_adapter import part
from tests.bluesky_net.proxy import FaultProxy


def test_a_refused_connection_is_not_an_unknown_outcome(publisher: Publisher, tmp_path: Path) -> None:
    with FaultProxy(publisher.network.pds_url) as proxy:
        adapter = BlueskyAdapter(
            service=proxy.url, handle=publisher.handle, app_password=Secret(publisher.app_password), data_dir=tmp_path
        )
        assert adapter.check_account().can_post  # logged in through the proxy: the session is cached on disk
        adapter.close()  # no kept-alive connection survives: the next call opens a new one
        proxy.stop()  # and the port now refuses it
        with pytest.raises(TransientError) as refused:
            adapter.publish(part("never sent"), "refused-1", reply_to=None, outcome_unknown=False)
    assert not refused.value.outcome_unknown, str(refused.value)
    assert "nothing was sent" in str(refused.value)
    assert publisher.records() == []
