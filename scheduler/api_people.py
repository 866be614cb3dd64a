"""The application API's people: who may sign in, with what role (scheduler/users.py does the work)."""

from __future__ import annotations

from scheduler import users
from scheduler.api_base import ApiBase
from scheduler.errors import NotFound
from scheduler.users import Person


class PeopleApi(ApiBase):
    def people(self) -> list[Person]:
        return users.people(self.wiring.store)

    def person(self, name: str) -> Person:
        """Who `name` is; NotFound when the workspace does not know them."""
        found = users.find_person(self.wiring.store, name)
        if found is None:
            raise NotFound(
                f"There is no user called {name!r} here: an admin adds one with `campaign users add {name} --role ...`."
            )
        return found

    def add_person(self, name: str, role: str, *, password: str | None, actor: str) -> Person:
        return users.add_user(
            self.wiring.store, name, users.role_of(role), password=password, actor=actor, now=self.clock.now()
        )

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        users.set_password(self.wiring.store, name, password, actor=actor, now=self.clock.now())

    def set_role(self, name: str, role: str, *, actor: str) -> Person:
        return users.set_role(self.wiring.store, name, users.role_of(role), actor=actor, now=self.clock.now())

    def remove_person(self, name: str, *, actor: str) -> None:
        users.remove_user(self.wiring.store, name, actor=actor, now=self.clock.now())

    def sign_out_everywhere(self, name: str, *, actor: str) -> None:
        users.end_sessions(self.wiring.store, name, actor=actor, now=self.clock.now())

    def sign_in(self, name: str, password: str) -> users.SignIn:
        return users.authenticate(self.wiring.store, name, password, self.clock.now())

    def first_admin(self, *, actor: str) -> tuple[str, str] | None:
        """On a first start with nobody to sign in: an `admin` with a new password, to be shown once."""
        return users.first_admin(self.wiring.store, actor=actor, now=self.clock.now())
