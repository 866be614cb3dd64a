"""Storage of what the collectors bring back: mentions (once each, private by default), the collectors' cursors,
back-off and leases, engagement snapshots of our own posts, and a record of every run.

names.py puts hashtags, account names and user text in comparable, safe forms; hashing.py keeps the keyed
hashes that stand in for third parties; mentions.py stores mentions; collector_state.py holds each collector's
cursor, lease, back-off and runs; snapshots.py stores engagement snapshots.

The collectors themselves live in scheduler/collecting.py; everything here is plain store access that the CLI,
the Celery tasks, the tests and the benchmarks call alike.
"""

from scheduler.collection.collector_state import (
    ENGAGEMENT,
    MENTIONS,
    Claim,
    CollectorKey,
    LeaseLost,
    RunRecord,
    advance_cursor,
    campaigns_in_store,
    claim_collector,
    collector_states,
    finish_collector,
    recent_runs,
    record_skip,
    store_mention_page,
)
from scheduler.collection.hashing import HASH_BYTES, HASH_KEY_SETTING, hash_key, keyed_hash, keyed_int
from scheduler.collection.mentions import (
    WRITE_CHUNK,
    MentionPolicy,
    MentionWriter,
    WriteResult,
    store_mentions,
)
from scheduler.collection.names import account_names, clean_text, identities, search_tags, tag_name
from scheduler.collection.snapshots import (
    DuePost,
    SnapshotPolicy,
    posts_due_for_snapshot,
    store_snapshots,
)
from scheduler.collection.sql import utc

__all__ = [
    "ENGAGEMENT",
    "HASH_BYTES",
    "HASH_KEY_SETTING",
    "MENTIONS",
    "WRITE_CHUNK",
    "Claim",
    "CollectorKey",
    "DuePost",
    "LeaseLost",
    "MentionPolicy",
    "MentionWriter",
    "RunRecord",
    "SnapshotPolicy",
    "WriteResult",
    "account_names",
    "advance_cursor",
    "campaigns_in_store",
    "claim_collector",
    "clean_text",
    "collector_states",
    "finish_collector",
    "hash_key",
    "identities",
    "keyed_hash",
    "keyed_int",
    "posts_due_for_snapshot",
    "recent_runs",
    "record_skip",
    "search_tags",
    "store_mention_page",
    "store_mentions",
    "store_snapshots",
    "tag_name",
    "utc",
]
