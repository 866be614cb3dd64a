"""People: who may sign in to the workspace and what they may do. Passwords are argon2 hashes (never stored or
shown in plain text once set); roles rank viewer < editor < approver < admin; too many wrong passwords lock a
name for a while; ending someone's sessions everywhere is one counter. Every change is an event (who, when)."""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from scheduler.db import Store
from scheduler.errors import NotFound, Refused, UsageRefused
from scheduler.models import Base, Event, UTCDateTime, utcnow


class Role(StrEnum):
    VIEWER = "viewer"  # reads the calendar, previews, status and reports
    EDITOR = "editor"  # also schedules, cancels, restores, retries, posts now
    APPROVER = "approver"  # also approves and rejects colleagues' posts, pauses and resumes
    ADMIN = "admin"  # also manages people


RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2, Role.ADMIN: 3}
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD = 10
MAX_FAILURES = 5  # wrong passwords in a row before a name is locked ...
LOCKOUT = timedelta(minutes=15)  # ... for this long

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when a name does not exist, so a wrong name takes as long as a wrong password. Made on
    first use: an argon2 hash costs tens of milliseconds, and most processes never check a password."""
    return _hasher.hash(secrets.token_urlsafe(16))


class UserRecord(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: cannot sign in to the web
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)  # bumped to end every session at once
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


@dataclass(frozen=True)
class Person:
    """Someone the workspace knows, as the faces see them: never a password or hash."""

    name: str
    role: Role
    session_epoch: int = 0
    can_sign_in: bool = False

    def may(self, needed: Role) -> bool:
        return RANK[self.role] >= RANK[needed]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "role": str(self.role), "can_sign_in": self.can_sign_in}


def _person(record: UserRecord) -> Person:
    return Person(record.name, Role(record.role), record.session_epoch, record.password_hash is not None)


def normal_name(name: str) -> str:
    cleaned = name.strip().lower()
    if not NAME.fullmatch(cleaned):
        raise UsageRefused(
            f"{name!r} cannot be a name here: use 1 to 64 lowercase letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit (e.g. sam.jones)."
        )
    return cleaned


def role_of(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise UsageRefused(f"{text!r} is not a role: choose viewer, editor, approver or admin.") from None


def new_password() -> str:
    """A password to show once: 20 characters from an unambiguous alphabet, about 100 bits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageRefused(f"That password is too short: use at least {MIN_PASSWORD} characters.")
    return _hasher.hash(password)


def _audit(session: Session, action: str, subject: str, actor: str, now: datetime, reason: str = "") -> None:
    session.add(Event(at=now, action=action, reason=reason or f"user {subject}", actor=actor))


def _record(session: Session, name: str) -> UserRecord:
    record = session.scalar(select(UserRecord).where(UserRecord.name == normal_name(name)))
    if record is None or record.disabled:
        raise NotFound(f"There is no user called {name!r}: `campaign users list` shows who there is.")
    return record


def add_user(store: Store, name: str, role: Role, *, password: str | None, actor: str, now: datetime) -> Person:
    """Add someone (or bring back a removed name). With no password they exist for the command line only."""
    name = normal_name(name)
    with store.transaction() as session:
        record = session.scalar(select(UserRecord).where(UserRecord.name == name))
        if record is not None and not record.disabled:
            raise Refused(f"There is already a user called {name}: `campaign users passwd {name}` sets a password.")
        if record is None:
            record = UserRecord(name=name)
            session.add(record)
        record.role, record.disabled = role, False
        record.password_hash = _hash(password) if password is not None else None
        record.failed_logins, record.locked_until = 0, None
        _audit(session, "user-added", name, actor, now, f"added {name} as {role}")
        session.flush()
        return _person(record)


def set_password(store: Store, name: str, password: str, *, actor: str, now: datetime) -> None:
    """A new password; every session that person had ends."""
    with store.transaction() as session:
        record = _record(session, name)
        record.password_hash = _hash(password)
        record.session_epoch += 1
        record.failed_logins, record.locked_until = 0, None
        _audit(session, "password-set", record.name, actor, now, f"new password for {record.name}")


def set_role(store: Store, name: str, role: Role, *, actor: str, now: datetime) -> Person:
    with store.transaction() as session:
        record = _record(session, name)
        if record.role == Role.ADMIN and role != Role.ADMIN and _admins(session) <= 1:
            raise Refused(f"{record.name} is the only admin: make someone else admin first.")
        record.role = role
        record.session_epoch += 1  # pages open with the old role must sign in again
        _audit(session, "role-set", record.name, actor, now, f"{record.name} is now {role}")
        return _person(record)


def remove_user(store: Store, name: str, *, actor: str, now: datetime) -> None:
    """Remove someone: they can no longer sign in or act; what they did stays in the record."""
    with store.transaction() as session:
        record = _record(session, name)
        if record.role == Role.ADMIN and _admins(session) <= 1:
            raise Refused(f"{record.name} is the only admin: make someone else admin first.")
        record.disabled, record.password_hash = True, None
        record.session_epoch += 1
        _audit(session, "user-removed", record.name, actor, now, f"removed {record.name}")


def end_sessions(store: Store, name: str, *, actor: str, now: datetime) -> None:
    """Sign someone out everywhere (every browser, at once)."""
    with store.transaction() as session:
        record = _record(session, name)
        record.session_epoch += 1
        _audit(session, "signed-out-everywhere", record.name, actor, now, f"{record.name} signed out everywhere")


def _admins(session: Session) -> int:
    return (
        session.scalar(select(func.count()).where(UserRecord.role == Role.ADMIN, UserRecord.disabled.is_(False))) or 0
    )


def people(store: Store) -> list[Person]:
    with store.transaction() as session:
        records = session.scalars(select(UserRecord).where(UserRecord.disabled.is_(False)).order_by(UserRecord.name))
        return [_person(r) for r in records]


def find_person(store: Store, name: str) -> Person | None:
    try:
        cleaned = normal_name(name)
    except UsageRefused:
        return None
    with store.transaction() as session:
        record = session.scalar(select(UserRecord).where(UserRecord.name == cleaned))
        return _person(record) if record is not None and not record.disabled else None


def has_users(store: Store) -> bool:
    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(UserRecord)) != 0


@dataclass(frozen=True)
class SignIn:
    person: Person | None
    reason: str = ""  # why not, in words that do not say whether the name exists


def authenticate(store: Store, name: str, password: str, now: datetime) -> SignIn:
    """Check a name and password. Wrong ones count toward a lock of the name; a locked name says when to try."""
    refusal = SignIn(None, "That name and password do not match.")
    try:
        cleaned = normal_name(name)
    except UsageRefused:
        cleaned = ""
    with store.transaction() as session:
        record = session.scalar(select(UserRecord).where(UserRecord.name == cleaned)) if cleaned else None
        usable = record is not None and not record.disabled and record.password_hash is not None
        if record is not None and record.locked_until is not None and record.locked_until > now:
            return SignIn(None, "Too many wrong passwords: try again in 15 minutes, or ask an admin to reset it.")
        try:
            _hasher.verify(record.password_hash if usable and record and record.password_hash else _dummy_hash(),
                           password)  # fmt: skip
            verified = usable
        except (VerificationError, InvalidHashError):
            verified = False
        if record is None:
            return refusal
        if not verified:
            record.failed_logins += 1
            if record.failed_logins >= MAX_FAILURES:
                record.locked_until, record.failed_logins = now + LOCKOUT, 0
                _audit(session, "sign-in-locked", record.name, "web", now, f"{record.name} locked: wrong passwords")
            return refusal
        record.failed_logins, record.locked_until = 0, None
        if record.password_hash and _hasher.check_needs_rehash(record.password_hash):
            record.password_hash = _hasher.hash(password)
        _audit(session, "signed-in", record.name, record.name, now, f"{record.name} signed in")
        return SignIn(_person(record))


def first_admin(store: Store, *, actor: str, now: datetime) -> tuple[str, str] | None:
    """On a first start with nobody to sign in: an admin called `admin` with a new password, returned once to be
    shown once (only its hash is kept). None when someone already exists."""
    if has_users(store):
        return None
    password = new_password()
    add_user(store, "admin", Role.ADMIN, password=password, actor=actor, now=now)
    return "admin", password
