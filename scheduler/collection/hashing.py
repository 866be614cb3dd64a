"""The per-installation hashing key, and the keyed hashes that stand in for a third party's post and account."""

from __future__ import annotations

import hashlib
import secrets
import weakref
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from scheduler.collection.sql import insert_ignore
from scheduler.db import Store
from scheduler.models import Setting

HASH_KEY_SETTING = "collection.hash_key"
HASH_BYTES = 16  # 128 bits: no collisions at any realistic volume, a small index

_hash_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def hash_key(store: Store) -> bytes:
    """The secret the store keys its hashes with (made once per database). A plain SHA-256 of a public DID
    could be reversed by hashing every known DID; a keyed hash cannot without this key."""
    cached = _hash_keys.get(store.engine)
    if cached is not None:
        return cached
    with store.transaction() as session:
        session.execute(
            insert_ignore(store, Setting, ["key"]).values(
                key=HASH_KEY_SETTING, value=secrets.token_hex(32), updated_at=datetime.now(UTC)
            )
        )
        value = session.execute(select(Setting.value).where(Setting.key == HASH_KEY_SETTING)).scalar_one()
    key = bytes.fromhex(value)
    _hash_keys[store.engine] = key
    return key


def keyed_hash(key: bytes, value: str) -> str:
    """Keyed BLAKE2b (a MAC by design, several times faster than HMAC-SHA256 on this hot path)."""
    return hashlib.blake2b(value.encode("utf-8"), key=key, digest_size=HASH_BYTES).hexdigest()


def keyed_hasher(key: bytes) -> hashlib.blake2b:
    """keyed_hash's state with the key already absorbed: `.copy()`, update with the UTF-8 value, `.hexdigest()`
    gives keyed_hash(key, value) without keying BLAKE2b again for every value."""
    return hashlib.blake2b(key=key, digest_size=HASH_BYTES)


def keyed_int(key: bytes, value: str) -> int:
    """A keyed 64-bit hash as a signed integer (fits BIGINT): for account keys, which are only counted."""
    digest = hashlib.blake2b(value.encode("utf-8"), key=key, digest_size=8, person=b"author").digest()
    return int.from_bytes(digest, "big", signed=True)
