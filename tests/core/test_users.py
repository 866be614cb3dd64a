"""People and roles: passwords kept only as argon2 hashes, locks after wrong passwords, sessions ended everywhere,
and the last admin kept. Through the core and through `campaign users`."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from scheduler.clock import FixedClock
from scheduler.db import Store
from scheduler.errors import NotFound, Refused, UsageRefused
from scheduler.users import (
    LOCKOUT,
    MAX_FAILURES,
    Role,
    add_user,
    authenticate,
    end_sessions,
    find_person,
    first_admin,
    remove_user,
    set_role,
)

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'campaign.db'}")


def test_a_password_is_kept_only_as_a_hash_and_checked(store: Store, tmp_path: Path) -> None:
    add_user(store, "Sam.Jones", Role.EDITOR, password="correct horse battery", actor="admin", now=NOW)
    assert authenticate(store, "sam.jones", "correct horse battery", NOW).person is not None
    wrong = authenticate(store, "sam.jones", "not it at all", NOW)
    assert wrong.person is None and wrong.reason == authenticate(store, "nobody", "not it at all", NOW).reason
    raw = (tmp_path / "campaign.db").read_bytes() + (tmp_path / "campaign.db-wal").read_bytes()
    assert b"correct horse battery" not in raw
    [stored] = sqlite3.connect(tmp_path / "campaign.db").execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$")


def test_wrong_passwords_lock_the_name_for_a_while(store: Store) -> None:
    add_user(store, "sam", Role.EDITOR, password="correct horse battery", actor="admin", now=NOW)
    for _ in range(MAX_FAILURES):
        assert authenticate(store, "sam", "guess guess guess", NOW).person is None
    locked = authenticate(store, "sam", "correct horse battery", NOW + timedelta(minutes=1))
    assert locked.person is None and "Too many wrong passwords" in locked.reason
    assert authenticate(store, "sam", "correct horse battery", NOW + LOCKOUT + timedelta(seconds=1)).person


def test_signing_out_everywhere_and_new_roles_end_sessions(store: Store) -> None:
    add_user(store, "sam", Role.EDITOR, password="correct horse battery", actor="admin", now=NOW)
    before = find_person(store, "sam")
    assert before is not None and before.may(Role.EDITOR) and not before.may(Role.APPROVER)
    end_sessions(store, "sam", actor="admin", now=NOW)
    promoted = set_role(store, "sam", Role.APPROVER, actor="admin", now=NOW)
    assert promoted.session_epoch == before.session_epoch + 2 and promoted.may(Role.APPROVER)


def test_the_last_admin_stays_and_removed_people_cannot_sign_in(store: Store) -> None:
    created = first_admin(store, actor="first start", now=NOW)
    assert created is not None and first_admin(store, actor="again", now=NOW) is None
    name, password = created
    assert authenticate(store, name, password, NOW).person is not None
    with pytest.raises(Refused, match="only admin"):
        set_role(store, name, Role.VIEWER, actor="admin", now=NOW)
    add_user(store, "sam", Role.EDITOR, password="correct horse battery", actor=name, now=NOW)
    remove_user(store, "sam", actor=name, now=NOW)
    assert authenticate(store, "sam", "correct horse battery", NOW).person is None
    with pytest.raises(NotFound):
        remove_user(store, "sam", actor=name, now=NOW)
    with pytest.raises(UsageRefused):
        add_user(store, "Sam Jones!", Role.EDITOR, password="correct horse battery", actor=name, now=NOW)


def test_campaign_users_shows_a_new_password_once(tmp_path: Path) -> None:
    env = {"CAMPAIGN_DATA_DIR": str(tmp_path), "CAMPAIGN_DATABASE_URL": f"sqlite:///{tmp_path / 'campaign.db'}"}
    Store(env["CAMPAIGN_DATABASE_URL"]).dispose()  # the workspace's database exists (`campaign init` makes it)
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "sam", "--role", "editor"], env=env)
    assert added.exit_code == 0, added.output
    [password] = re.findall(r"shown once, give it to them privately\): (\S+)", added.output)
    store = Store(env["CAMPAIGN_DATABASE_URL"])
    assert authenticate(store, "sam", password, FixedClock(NOW).now()).person is not None
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert listed.exit_code == 0 and "sam" in listed.output and password not in listed.output
    again = runner.invoke(main, ["users", "add", "sam", "--role", "viewer"], env=env)
    assert again.exit_code == 1 and "already a user called sam" in again.output
