"""The mark of a demo workspace's store (`campaign demo`): a settings row, so that every face and report made from
the store says its data is made up. Kept apart from scheduler/demo.py, which builds one, so that status and
the reports can read the mark without importing the engine."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from scheduler.db import Store
from scheduler.models import Setting

DEMO_KEY = "demo"
DEMO_LABEL = "DEMO WORKSPACE: made-up data"
# Every made-up account, post and link lives under this name: .invalid is reserved (RFC 2606), so none of them
# can ever be a real account or address.
DEMO_DOMAIN = "demo.invalid"


def is_demo(store: Store) -> bool:
    """Whether `store` is a demo workspace's (made by `campaign demo`)."""
    with store.transaction() as session:
        return session.scalar(select(Setting.value).where(Setting.key == DEMO_KEY)) == "1"


def mark_demo(store: Store, now: datetime) -> None:
    with store.transaction() as session:
        row = session.get(Setting, DEMO_KEY)
        if row is None:
            session.add(Setting(key=DEMO_KEY, value="1", updated_at=now))
        else:
            row.value, row.updated_at = "1", now
