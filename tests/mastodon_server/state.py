"""The stateful heart of the test server: accounts, tokens, statuses, media, scheduled statuses, tags,
idempotency keys and rate-limit counters of one Mastodon instance, with Mastodon 4.x's rules.

Everything here runs under `Instance.lock`; the HTTP layer (server.py) turns requests into these calls and
`ApiError`s into Mastodon's error answers.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import text as textmod
from .clock import ServerClock, SnowflakeGenerator
from .config import ServerConfig
from .faults import FaultPlan
from .media import MediaFacts, UnsupportedMedia, UnverifiableMedia, inspect_media
from .ratelimit import ThrottleState, WindowCounters

VISIBILITIES = ("public", "unlisted", "private", "direct")
QUOTE_POLICIES = ("public", "followers", "nobody")
FALSY = {"0", "f", "false", "off", "F", "FALSE", "False", "OFF", "Off"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def validation_failed(*messages: str) -> ApiError:
    return ApiError(422, "Validation failed: " + ", ".join(messages))


def truthy(value: Any) -> bool:
    """Rails' ActiveModel::Type::Boolean for request parameters."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value) not in FALSY and str(value) != ""


def iso_ms(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    cleaned = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass
class Account:
    id: int
    username: str
    domain: str | None  # None: local to this instance
    display_name: str
    note: str
    url: str
    uri: str
    created_at: datetime
    avatar: str
    header: str
    locked: bool = False
    bot: bool = False
    discoverable: bool | None = None  # a new account has not chosen (Mastodon shows null)
    indexable: bool = False
    default_language: str = "en"  # the language of statuses posted without one (the user's locale)
    language_setting: str | None = None  # the "default posting language" preference, unset by default
    quote_policy: str = "public"
    remote_counts: dict[str, int] = field(default_factory=dict)  # statuses/followers/following of remotes

    @property
    def local(self) -> bool:
        return self.domain is None

    @property
    def acct(self) -> str:
        return self.username if self.domain is None else f"{self.username}@{self.domain}"


@dataclass
class Token:
    id: int
    value: str
    account_id: int
    application: str
    revoked: bool = False


@dataclass
class Media:
    id: int
    account_id: int
    facts: MediaFacts
    data: bytes
    file_key: str
    created_at: datetime
    description: str | None = None
    focus: tuple[float, float] | None = None
    polls_remaining: int = 0
    processed_later: bool = False  # it needed polls after its upload (not processed in the upload's request)
    status_id: int | None = None
    scheduled_status_id: int | None = None
    thumbnail: bytes | None = None

    @property
    def processed(self) -> bool:
        return self.polls_remaining <= 0


@dataclass
class Status:
    id: int
    account_id: int
    created_at: datetime
    text: str  # the source text ("" for statuses received from a peer)
    spoiler_text: str
    content: str  # HTML
    visibility: str
    sensitive: bool
    language: str | None
    uri: str
    url: str | None
    in_reply_to_id: int | None = None
    in_reply_to_account_id: int | None = None
    media_ids: list[int] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)
    mention_ids: list[int] = field(default_factory=list)
    application: str | None = None
    quoted_status_id: int | None = None
    quote_policy: str = "public"
    idempotency_key: str | None = None
    deleted_at: datetime | None = None
    edited_at: datetime | None = None
    favourited_by: set[int] = field(default_factory=set)
    reblogged_by: set[int] = field(default_factory=set)
    remote_counts: dict[str, int] = field(default_factory=dict)
    remote_media: list[dict[str, Any]] = field(default_factory=list)
    origin: str | None = None  # base URL of the instance it came from (None: local)

    @property
    def local(self) -> bool:
        return self.origin is None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass
class ScheduledStatus:
    id: int
    account_id: int
    scheduled_at: datetime
    params: dict[str, Any]
    media_ids: list[int]
    idempotency_key: str | None
    application: str | None
    created_at: datetime


@dataclass
class TagRecord:
    id: int
    name: str  # first spelling seen


@dataclass
class Viewer:
    """Who makes a request: a token's account, or anonymous."""

    account: Account | None = None
    token: Token | None = None

    @property
    def account_id(self) -> int | None:
        return self.account.id if self.account else None


class Instance:
    """One Mastodon server's data and rules."""

    def __init__(self, config: ServerConfig, *, base_url: str = "http://127.0.0.1") -> None:
        self.lock = threading.RLock()
        self.clock = ServerClock()
        self.initial_config = config
        self.config = config
        self.base_url = base_url
        self.faults = FaultPlan()
        self.counters = WindowCounters()
        self.ids = SnowflakeGenerator()
        self.peers: list[str] = []
        self.outbox: deque[tuple[str, dict[str, Any]]] = deque()
        self.outbox_ready = threading.Condition(self.lock)
        self.request_log: deque[dict[str, Any]] = deque(maxlen=5000)
        self.generation = 0  # counts resets: a late write begun before a reset is dropped, not written after it
        self.late_writes = 0  # requests of the "write_late" fault still waiting to write
        self._clear_data()

    # ------------------------------------------------------------------ lifecycle

    @property
    def domain(self) -> str:
        return self.base_url.split("://", 1)[1].rstrip("/")

    def _clear_data(self) -> None:
        self.accounts: dict[int, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.statuses: dict[int, Status] = {}
        self.media: dict[int, Media] = {}
        self.scheduled: dict[int, ScheduledStatus] = {}
        self.tags: dict[str, TagRecord] = {}
        self.idempotency: dict[tuple[int, str], tuple[str, int, float]] = {}
        # indexes, so counts and per-account figures do not scan every status
        self.replies_of: dict[int, list[int]] = {}
        self.quotes_of: dict[int, list[int]] = {}
        self.statuses_by_account: dict[int, list[int]] = {}
        self.next_scheduled_id = 1
        self.next_tag_id = 1
        self.next_token_id = 1

    def reset(self, config: ServerConfig | None = None) -> None:
        with self.lock:
            self.generation += 1
            self._clear_data()
            self.config = config or self.initial_config
            self.clock.reset()
            self.ids.reset()
            self.counters.reset()
            self.faults.clear()
            self.peers.clear()
            self.outbox.clear()
            self.request_log.clear()

    def now(self) -> datetime:
        return self.clock.now()

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    # ------------------------------------------------------------------ accounts and tokens

    def local_account(self, username: str) -> Account | None:
        for account in self.accounts.values():
            if account.local and account.username.lower() == username.lower():
                return account
        return None

    def account_by_acct(self, acct: str) -> Account | None:
        acct = acct.lstrip("@")
        if "@" in acct:
            username, domain = acct.split("@", 1)
            if domain.lower() == self.domain.lower():
                return self.local_account(username)
            for account in self.accounts.values():
                if (
                    account.domain
                    and account.domain.lower() == domain.lower()
                    and account.username.lower() == username.lower()
                ):
                    return account
            return None
        return self.local_account(acct)

    def create_account(
        self,
        username: str,
        *,
        display_name: str = "",
        note: str = "",
        bot: bool = False,
        locked: bool = False,
        default_language: str | None = None,
        url: str | None = None,
    ) -> Account:
        with self.lock:
            if not username or not all(ch.isalnum() or ch == "_" for ch in username):
                raise ValueError("username: letters, digits and underscores only")
            if self.local_account(username) is not None:
                raise ValueError(f"username {username!r} is taken")
            now = self.now()
            account_id = self.ids.next_id(self.now_ms())
            account = Account(
                id=account_id,
                username=username,
                domain=None,
                display_name=display_name,
                note=f"<p>{textmod._h(note)}</p>" if note else "",
                url=url or f"{self.base_url}/@{username}",
                uri=f"{self.base_url}/ap/users/{account_id}",
                created_at=now.replace(hour=0, minute=0, second=0, microsecond=0),
                avatar=f"{self.base_url}/avatars/original/missing.png",
                header=f"{self.base_url}/headers/original/missing.png",
                locked=locked,
                bot=bot,
                default_language=default_language or "en",
                language_setting=default_language,
            )
            self.accounts[account.id] = account
            return account

    def issue_token(self, account: Account, application: str = "campaign-scheduler tests") -> Token:
        with self.lock:
            token = Token(self.next_token_id, secrets.token_urlsafe(32), account.id, application)
            self.next_token_id += 1
            self.tokens[token.value] = token
            return token

    def revoke_token(self, value: str) -> bool:
        with self.lock:
            token = self.tokens.get(value)
            if token is None:
                return False
            token.revoked = True
            return True

    def delete_token(self, value: str) -> bool:
        with self.lock:
            return self.tokens.pop(value, None) is not None

    def token_for(self, authorization: str | None) -> tuple[Token | None, str | None]:
        """(token, problem) from an Authorization header; problem is Doorkeeper's description."""
        if not authorization:
            return None, None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, "The access token is invalid"
        token = self.tokens.get(value.strip())
        if token is None:
            return None, "The access token is invalid"
        if token.revoked:
            return token, "The access token was revoked"
        return token, None

    # ------------------------------------------------------------------ rate limits

    def throttle(
        self, *, method: str, path: str, query: dict[str, list[str]], token: Token | None, client_ip: str
    ) -> tuple[list[ThrottleState], ThrottleState | None]:
        """Rack::Attack: count the request in every throttle that applies, in Mastodon's order, stopping at
        the first one over its limit (that one answers 429)."""
        now = self.clock.time()
        throttles = self.config.throttles
        account_id = str(token.account_id) if token else None
        api = path.startswith("/api")
        paging = any(query.get(key) for key in ("page", "min_id", "max_id", "since_id"))
        checks: list[tuple[str, str | None]] = [
            ("throttle_authenticated_api", account_id if api else None),
            ("throttle_per_token_api", str(token.id) if token and api else None),
            ("throttle_unauthenticated_api", client_ip if api and token is None else None),
            (
                "throttle_api_media",
                account_id if method == "POST" and path.rstrip("/") in ("/api/v1/media", "/api/v2/media") else None,
            ),
            ("throttle_authenticated_paging", account_id if paging else None),
            ("throttle_unauthenticated_paging", client_ip if paging and token is None else None),
            ("throttle_api_delete", account_id if _is_delete_request(method, path) else None),
        ]
        states: list[ThrottleState] = []
        for name, discriminator in checks:
            if discriminator is None:
                continue
            state = self.counters.hit(name, discriminator, throttles[name], now)
            states.append(state)
            if state.exceeded:
                return states, state
        return states, None

    def set_throttle_count(self, throttle: str, discriminator: str, count: int) -> None:
        """Control: pretend `count` requests were already made in the current window."""
        if throttle not in self.config.throttles:
            raise ValueError(f"unknown throttle {throttle!r}")
        self.counters.set(throttle, discriminator, self.config.throttles[throttle], self.clock.time(), count)

    def statuses_family(self, account: Account) -> ThrottleState:
        return self.counters.peek("statuses", str(account.id), self.config.throttles["statuses"], self.clock.time())

    def _record_status_creation(self, account: Account) -> None:
        """RateLimiter#record! for the statuses family: refuse at the limit, else count."""
        state = self.statuses_family(account)
        if state.count >= state.limit:
            raise ApiError(429, "Too many requests", headers=state.headers(remaining=0))
        self.counters.hit("statuses", str(account.id), self.config.throttles["statuses"], self.clock.time())

    # ------------------------------------------------------------------ media

    def upload_media(
        self,
        account: Account,
        data: bytes | None,
        *,
        description: str | None,
        focus: str | None,
        thumbnail: bytes | None = None,
    ) -> Media:
        with self.lock:
            if not data:
                raise validation_failed("File can't be blank")
            try:
                facts = inspect_media(data)
            except UnverifiableMedia as error:
                raise ApiError(422, str(error)) from error
            except UnsupportedMedia as error:
                raise validation_failed(str(error)) from error
            limit = self.config.image_size_limit if facts.kind == "image" else self.config.video_size_limit
            if len(data) > limit:
                raise validation_failed(f"File file size must be less than {limit // (1024 * 1024)} MB")
            if (
                facts.width
                and facts.height
                and facts.kind == "image"
                and facts.width * facts.height > self.config.image_matrix_limit
            ):
                raise validation_failed("File dimensions exceed the allowed matrix limit")
            self._check_description(description)
            polls = self.config.image_processing_polls if facts.kind == "image" else self.config.video_processing_polls
            media = Media(
                id=self.ids.next_id(self.now_ms()),
                account_id=account.id,
                facts=facts,
                data=data,
                file_key=secrets.token_hex(8),
                created_at=self.now(),
                description=description or None,
                focus=_parse_focus(focus),
                polls_remaining=max(0, polls),
                processed_later=polls > 0,
                thumbnail=thumbnail,
            )
            self.media[media.id] = media
            return media

    def _check_description(self, description: str | None) -> None:
        if description and len(description) > self.config.description_limit:
            raise validation_failed(f"Description is too long (maximum is {self.config.description_limit} characters)")

    def own_unattached_media(self, account: Account, media_id: str) -> Media:
        media = self.media.get(_int_id(media_id))
        if media is None or media.account_id != account.id or media.status_id is not None:
            raise ApiError(404, "Record not found")
        return media

    def poll_media(self, account: Account, media_id: str) -> Media:
        with self.lock:
            media = self.own_unattached_media(account, media_id)
            if media.polls_remaining > 0:
                media.polls_remaining -= 1
            return media

    def update_media(
        self,
        account: Account,
        media_id: str,
        *,
        description: str | None,
        focus: str | None,
        thumbnail: bytes | None = None,
    ) -> Media:
        with self.lock:
            media = self.own_unattached_media(account, media_id)
            if thumbnail:
                media.thumbnail = thumbnail
            if description is not None:
                self._check_description(description)
                media.description = description or None
            if focus is not None:
                media.focus = _parse_focus(focus)
            return media

    def finish_media(self) -> int:
        """Control: mark every upload still processing as processed. Returns how many changed."""
        with self.lock:
            changed = 0
            for media in self.media.values():
                if media.polls_remaining > 0:
                    media.polls_remaining = 0
                    changed += 1
            return changed

    # ------------------------------------------------------------------ statuses

    def visible_to(self, status: Status, viewer: Viewer) -> bool:
        if status.deleted:
            return False
        if status.visibility in ("public", "unlisted"):
            return True
        if viewer.account_id is None:
            return False
        if viewer.account_id == status.account_id:
            return True
        return status.visibility == "direct" and viewer.account_id in status.mention_ids

    def find_status(self, status_id: str | int, viewer: Viewer, *, message: str = "Not Found") -> Status:
        status = self.statuses.get(_int_id(status_id))
        if status is None or not self.visible_to(status, viewer):
            raise ApiError(404, message)
        return status

    def _resolve_mention(self, username: str, domain: str | None) -> tuple[str, str] | None:
        account = self.account_by_acct(f"{username}@{domain}" if domain else username)
        if account is None:
            return None
        return account.url, account.username

    def _tag(self, name: str) -> TagRecord:
        key = textmod.normalize_hashtag(name)
        record = self.tags.get(key)
        if record is None:
            record = TagRecord(self.next_tag_id, name)
            self.next_tag_id += 1
            self.tags[key] = record
        return record

    def post_status(
        self,
        account: Account,
        params: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        application: str | None = None,
        with_rate_limit: bool = True,
        created_at: datetime | None = None,
        check_idempotency: bool = True,
    ) -> Status | ScheduledStatus:
        """PostStatusService#call, in Mastodon's order: thread and quote lookup (404), idempotency (the
        original answer, unvalidated), media checks, then either a scheduled status or a new status.
        `check_idempotency=False`: the key was looked up earlier (the "write_late" fault), so it is only
        remembered now, as an older Mastodon did after a write it had not locked the key for."""
        with self.lock:
            viewer = Viewer(account)
            thread: Status | None = None
            if params.get("in_reply_to_id") not in (None, ""):
                try:
                    thread = self.find_status(str(params["in_reply_to_id"]), viewer)
                except ApiError:
                    raise ApiError(404, "The post you are trying to reply to does not appear to exist.") from None
            quoted: Status | None = None
            if params.get("quoted_status_id") not in (None, ""):
                try:
                    quoted = self.find_status(str(params["quoted_status_id"]), viewer)
                except ApiError:
                    raise ApiError(404, "The post you are trying to quote does not appear to exist.") from None

            if idempotency_key and check_idempotency:
                original = self.idempotent_answer(account, idempotency_key)
                if original is not None:
                    return original

            media = self._validate_media(account, params.get("media_ids"))

            text = params.get("status")
            text = "" if text is None else str(text)
            spoiler_text = str(params.get("spoiler_text") or "")
            if not text.strip() and spoiler_text.strip():
                text, spoiler_text = spoiler_text, ""
            if "sensitive" in params and params["sensitive"] is not None:
                sensitive = truthy(params["sensitive"])
            else:
                sensitive = bool(spoiler_text.strip())
            visibility = str(params.get("visibility") or "public")
            if visibility not in VISIBILITIES:
                raise validation_failed("Visibility is not included in the list")
            language = params.get("language") or account.default_language
            quote_policy = str(params.get("quote_approval_policy") or account.quote_policy)
            if quote_policy not in QUOTE_POLICIES:
                raise validation_failed("Quote approval policy is not included in the list")
            scheduled_at: datetime | None = None
            if params.get("scheduled_at") not in (None, ""):
                try:
                    scheduled_at = parse_time(str(params["scheduled_at"]))
                except ValueError:
                    raise ApiError(422, "Record invalid") from None
                if scheduled_at <= self.now():
                    scheduled_at = None  # Mastodon posts a status "scheduled" in the past right away

            text = textmod.ruby_strip(text)
            spoiler_text = textmod.ruby_strip(spoiler_text)
            errors = self._status_errors(text, spoiler_text, language, has_media=bool(media))

            if scheduled_at is not None:
                if errors:
                    raise ApiError(422, "Record invalid")
                return self._schedule(account, params, scheduled_at, media, idempotency_key, application)

            if errors:
                raise validation_failed(*errors)
            if with_rate_limit:
                self._record_status_creation(account)
            status = self._create_status(
                account,
                text=text,
                spoiler_text=spoiler_text,
                sensitive=sensitive,
                visibility=visibility,
                language=str(language),
                thread=thread,
                quoted=quoted,
                quote_policy=quote_policy,
                media=media,
                application=application,
                created_at=created_at,
                idempotency_key=idempotency_key,
            )
            if idempotency_key:
                self.idempotency[(account.id, idempotency_key)] = (
                    "status",
                    status.id,
                    self.clock.time() + self.config.idempotency_ttl_seconds,
                )
            return status

    def idempotent_answer(self, account: Account, idempotency_key: str) -> Status | ScheduledStatus | None:
        """What a repeat of `idempotency_key` answers while the key is remembered: the original (404 when it
        has been deleted since), else None."""
        with self.lock:
            remembered = self.idempotency.get((account.id, idempotency_key))
            if not remembered or remembered[2] <= self.clock.time():
                return None
            kind, record_id, _ = remembered
            if kind == "scheduled":
                if record_id not in self.scheduled:
                    raise ApiError(404, "Record not found")
                return self.scheduled[record_id]
            original = self.statuses.get(record_id)
            if original is None or original.deleted:
                raise ApiError(404, "Record not found")
            return original

    def _status_errors(self, text: str, spoiler_text: str, language: Any, *, has_media: bool) -> list[str]:
        errors: list[str] = []
        if not text and not has_media:
            errors.append("Text can't be blank")
        if textmod.status_length(text, spoiler_text) > self.config.max_characters:
            errors.append(f"Text character limit of {self.config.max_characters} exceeded")
        if language is not None and not _valid_language(str(language)):
            errors.append("Language is invalid")
        return errors

    def _validate_media(self, account: Account, raw_ids: Any) -> list[Media]:
        if raw_ids in (None, "", []):
            return []
        ids = raw_ids if isinstance(raw_ids, list) else [raw_ids]
        if len(ids) > self.config.max_media_attachments:
            raise ApiError(422, f"Cannot attach more than {self.config.max_media_attachments} files")
        wanted = [_int_id(value) for value in ids[: self.config.max_media_attachments]]
        found = [
            self.media[media_id]
            for media_id in wanted
            if media_id in self.media
            and self.media[media_id].account_id == account.id
            and self.media[media_id].status_id is None
            and self.media[media_id].scheduled_status_id is None
        ]
        missing = [str(media_id) for media_id in wanted if media_id not in {m.id for m in found}]
        if missing:
            raise ApiError(422, f"Media {', '.join(missing)} not found or already attached to another post")
        if len(found) > 1 and any(m.facts.kind in ("video", "gifv", "audio") for m in found):
            raise ApiError(422, "Cannot attach a video to a post that already contains images")
        if any(not m.processed for m in found):
            raise ApiError(422, "Cannot attach files that have not finished processing. Try again in a moment!")
        return found

    def _create_status(
        self,
        account: Account,
        *,
        text: str,
        spoiler_text: str,
        sensitive: bool,
        visibility: str,
        language: str | None,
        thread: Status | None,
        quoted: Status | None,
        quote_policy: str,
        media: list[Media],
        application: str | None,
        created_at: datetime | None,
        idempotency_key: str | None,
    ) -> Status:
        now = self.now()
        if created_at is not None and created_at < now:
            status_id = self.ids.id_at(int(created_at.timestamp() * 1000))
        else:
            created_at = now
            status_id = self.ids.next_id(self.now_ms())
        content = textmod.render_content(text, base_url=self.base_url, resolve_mention=self._resolve_mention)
        if quoted is not None and quoted.url:
            content = f'<p class="quote-inline">RE: {textmod.shortened_link(quoted.url)}</p>' + content
        mention_ids: list[int] = []
        for entity in textmod.mentions(text):
            mentioned = self.account_by_acct(entity.value)
            if mentioned is not None and mentioned.id not in mention_ids:
                mention_ids.append(mentioned.id)
        tag_names = [self._tag(name).name for name in textmod.hashtags(text)]
        status = Status(
            id=status_id,
            account_id=account.id,
            created_at=created_at,
            text=text,
            spoiler_text=spoiler_text,
            content=content,
            visibility=visibility,
            sensitive=sensitive,
            language=language,
            uri=f"{self.base_url}/ap/users/{account.id}/statuses/{status_id}",
            url=f"{self.base_url}/@{account.username}/{status_id}",
            in_reply_to_id=thread.id if thread else None,
            in_reply_to_account_id=thread.account_id if thread else None,
            media_ids=[m.id for m in media],
            tag_names=tag_names,
            mention_ids=mention_ids,
            application=application,
            quoted_status_id=quoted.id if quoted else None,
            quote_policy=quote_policy,
            idempotency_key=idempotency_key,
        )
        for item in media:
            item.status_id = status.id
        self._index(status)
        if visibility == "public":
            self._enqueue_federation("Create", status)
        return status

    def _schedule(
        self,
        account: Account,
        params: dict[str, Any],
        scheduled_at: datetime,
        media: list[Media],
        idempotency_key: str | None,
        application: str | None,
    ) -> ScheduledStatus:
        now = self.now()
        if scheduled_at < now + timedelta(seconds=self.config.scheduled_min_offset_seconds):
            raise validation_failed("Scheduled at date must be in the future")
        pending = [s for s in self.scheduled.values() if s.account_id == account.id]
        same_day = [s for s in pending if s.scheduled_at.date() == scheduled_at.astimezone(UTC).date()]
        if len(same_day) >= self.config.scheduled_daily_limit:
            raise validation_failed(
                f"You have exceeded the limit of {self.config.scheduled_daily_limit} scheduled posts for today"
            )
        if len(pending) >= self.config.scheduled_total_limit:
            raise validation_failed(
                f"You have exceeded the limit of {self.config.scheduled_total_limit} scheduled posts"
            )
        scheduled = ScheduledStatus(
            id=self.next_scheduled_id,
            account_id=account.id,
            scheduled_at=scheduled_at.astimezone(UTC),
            params={
                key: params.get(key)
                for key in (
                    "status",
                    "sensitive",
                    "spoiler_text",
                    "visibility",
                    "language",
                    "in_reply_to_id",
                    "quoted_status_id",
                    "quote_approval_policy",
                )
            },
            media_ids=[m.id for m in media],
            idempotency_key=idempotency_key,
            application=application,
            created_at=now,
        )
        self.next_scheduled_id += 1
        for item in media:
            item.scheduled_status_id = scheduled.id
        self.scheduled[scheduled.id] = scheduled
        if idempotency_key:
            self.idempotency[(account.id, idempotency_key)] = (
                "scheduled",
                scheduled.id,
                self.clock.time() + self.config.idempotency_ttl_seconds,
            )
        return scheduled

    def update_scheduled(self, account: Account, scheduled_id: str, scheduled_at: str) -> ScheduledStatus:
        with self.lock:
            scheduled = self.own_scheduled(account, scheduled_id)
            try:
                moment = parse_time(scheduled_at)
            except ValueError:
                raise ApiError(422, "Record invalid") from None
            if moment < self.now() + timedelta(seconds=self.config.scheduled_min_offset_seconds):
                raise validation_failed("Scheduled at date must be in the future")
            scheduled.scheduled_at = moment.astimezone(UTC)
            return scheduled

    def own_scheduled(self, account: Account, scheduled_id: str) -> ScheduledStatus:
        scheduled = self.scheduled.get(_int_id(scheduled_id))
        if scheduled is None or scheduled.account_id != account.id:
            raise ApiError(404, "Record not found")
        return scheduled

    def cancel_scheduled(self, account: Account, scheduled_id: str) -> None:
        with self.lock:
            scheduled = self.own_scheduled(account, scheduled_id)
            for media_id in scheduled.media_ids:
                if media_id in self.media:
                    self.media[media_id].scheduled_status_id = None
            del self.scheduled[scheduled.id]

    def publish_due_scheduled(self) -> list[Status]:
        """Mastodon's scheduler publishing statuses whose time has come (no statuses-family count)."""
        published: list[Status] = []
        with self.lock:
            now = self.now()
            for scheduled in sorted(self.scheduled.values(), key=lambda s: (s.scheduled_at, s.id)):
                if scheduled.scheduled_at > now:
                    continue
                account = self.accounts[scheduled.account_id]
                del self.scheduled[scheduled.id]
                media = [self.media[m] for m in scheduled.media_ids if m in self.media]
                for item in media:
                    item.scheduled_status_id = None
                params = dict(scheduled.params)
                thread = self.statuses.get(_int_id(params["in_reply_to_id"])) if params.get("in_reply_to_id") else None
                text = textmod.ruby_strip(str(params.get("status") or ""))
                spoiler = textmod.ruby_strip(str(params.get("spoiler_text") or ""))
                if not text and spoiler:
                    text, spoiler = spoiler, ""
                sensitive = truthy(params["sensitive"]) if params.get("sensitive") is not None else bool(spoiler)
                status = self._create_status(
                    account,
                    text=text,
                    spoiler_text=spoiler,
                    sensitive=sensitive,
                    visibility=str(params.get("visibility") or "public"),
                    language=str(params.get("language") or account.default_language),
                    thread=thread if thread and not thread.deleted else None,
                    quoted=None,
                    quote_policy=str(params.get("quote_approval_policy") or account.quote_policy),
                    media=media,
                    application=scheduled.application,
                    created_at=None,
                    idempotency_key=None,
                )
                published.append(status)
        return published

    def delete_status(self, account: Account, status_id: str, *, delete_media: bool = False) -> Status:
        """Like Mastodon: by default a deletion is a "redraft": the media are detached and can be attached
        to a new status; with delete_media they are gone."""
        with self.lock:
            status = self.statuses.get(_int_id(status_id))
            if status is None or status.deleted or status.account_id != account.id:
                raise ApiError(404, "Record not found")
            status.deleted_at = self.now()
            for media_id in status.media_ids:
                if media_id not in self.media:
                    continue
                if not delete_media:
                    self.media[media_id].status_id = None  # else it stays with the deleted status, unusable
            if status.visibility == "public":
                self._enqueue_federation("Delete", status)
            return status

    # ------------------------------------------------------------------ engagement

    def favourite(self, account: Account, status: Status, on: bool = True) -> Status:
        with self.lock:
            (status.favourited_by.add if on else status.favourited_by.discard)(account.id)
            return status

    def reblog(self, account: Account, status: Status, on: bool = True) -> Status:
        with self.lock:
            if on and status.visibility not in ("public", "unlisted"):
                raise ApiError(422, "Validation failed: Reblog of status is not permitted")
            (status.reblogged_by.add if on else status.reblogged_by.discard)(account.id)
            return status

    def _index(self, status: Status) -> None:
        self.statuses[status.id] = status
        self.statuses_by_account.setdefault(status.account_id, []).append(status.id)
        if status.in_reply_to_id is not None:
            self.replies_of.setdefault(status.in_reply_to_id, []).append(status.id)
        if status.quoted_status_id is not None:
            self.quotes_of.setdefault(status.quoted_status_id, []).append(status.id)

    def _live(self, ids: list[int]) -> list[Status]:
        return [self.statuses[i] for i in ids if not self.statuses[i].deleted]

    def counts(self, status: Status) -> dict[str, int]:
        replies = len(self._live(self.replies_of.get(status.id, [])))
        quotes = len(self._live(self.quotes_of.get(status.id, [])))
        base = status.remote_counts
        return {
            "replies_count": base.get("replies_count", 0) + replies,
            "reblogs_count": base.get("reblogs_count", 0) + len(status.reblogged_by),
            "favourites_count": base.get("favourites_count", 0) + len(status.favourited_by),
            "quotes_count": base.get("quotes_count", 0) + quotes,
        }

    def helper_account(self, prefix: str = "fan") -> Account:
        """A fresh local account standing for "someone else" (engagement, third-party posts)."""
        with self.lock:
            index = 1
            while self.local_account(f"{prefix}_{index}") is not None:
                index += 1
            return self.create_account(f"{prefix}_{index}", display_name=f"{prefix.title()} {index}")

    # ------------------------------------------------------------------ timelines

    def limit_param(self, raw: str | None) -> int:
        if raw in (None, ""):
            return self.config.default_limit
        try:
            value = abs(int(str(raw).strip()))
        except ValueError:
            value = 0
        return min(value, self.config.max_limit)

    @staticmethod
    def paginate(
        items: list[Status], limit: int, max_id: str | None, since_id: str | None, min_id: str | None
    ) -> list[Status]:
        """Mastodon's paginate_by_id: newest first; with min_id, the oldest `limit` above it."""
        upper = _int_id(max_id) if max_id else None
        ordered = sorted(items, key=lambda s: s.id)
        if min_id:
            lower = _int_id(min_id)
            chosen = [s for s in ordered if s.id > lower and (upper is None or s.id < upper)][:limit]
            return list(reversed(chosen))
        lower = _int_id(since_id) if since_id else None
        chosen = [s for s in reversed(ordered) if (upper is None or s.id < upper) and (lower is None or s.id > lower)]
        return chosen[:limit]

    def tag_timeline(
        self,
        tag: str,
        viewer: Viewer,
        *,
        any_tags: list[str],
        all_tags: list[str],
        none_tags: list[str],
        local: bool,
        remote: bool,
        only_media: bool,
    ) -> list[Status]:
        wanted_any = {textmod.normalize_hashtag(t) for t in [tag, *any_tags]}
        wanted_all = {textmod.normalize_hashtag(t) for t in all_tags}
        unwanted = {textmod.normalize_hashtag(t) for t in none_tags}
        if textmod.normalize_hashtag(tag) not in self.tags:
            return []
        result = []
        for status in self.statuses.values():
            if status.deleted or status.visibility != "public":
                continue
            names = {textmod.normalize_hashtag(n) for n in status.tag_names}
            if not names & wanted_any or not wanted_all <= names or names & unwanted:
                continue
            if local and not remote and not status.local:
                continue
            if remote and not local and status.local:
                continue
            if only_media and not (status.media_ids or status.remote_media):
                continue
            result.append(status)
        return result

    def account_statuses(
        self,
        account: Account,
        viewer: Viewer,
        *,
        exclude_replies: bool,
        only_media: bool,
        pinned: bool,
        tagged: str | None,
        exclude_direct: bool,
    ) -> list[Status]:
        if pinned:
            return []
        author = viewer.account_id == account.id
        result = []
        for status in (self.statuses[i] for i in self.statuses_by_account.get(account.id, [])):
            if status.deleted:
                continue
            if not author and status.visibility not in ("public", "unlisted"):
                continue
            if exclude_direct and status.visibility == "direct":
                continue
            if exclude_replies and status.in_reply_to_id is not None and status.in_reply_to_account_id != account.id:
                continue
            if only_media and not (status.media_ids or status.remote_media):
                continue
            if tagged and textmod.normalize_hashtag(tagged) not in {
                textmod.normalize_hashtag(n) for n in status.tag_names
            }:
                continue
            result.append(status)
        return result

    def context(self, status: Status, viewer: Viewer) -> tuple[list[Status], list[Status]]:
        ancestors: list[Status] = []
        parent_id = status.in_reply_to_id
        while parent_id is not None and parent_id in self.statuses:
            parent = self.statuses[parent_id]
            if not self.visible_to(parent, viewer):
                break
            ancestors.append(parent)
            parent_id = parent.in_reply_to_id
        ancestors.reverse()
        descendants: list[Status] = []

        def walk(node: Status) -> None:
            children = sorted((self.statuses[i] for i in self.replies_of.get(node.id, [])), key=lambda s: s.id)
            for child in children:
                if self.visible_to(child, viewer):
                    descendants.append(child)
                    walk(child)

        walk(status)
        return ancestors, descendants

    def last_status_at(self, account: Account) -> str | None:
        times = [s.created_at for s in self._live(self.statuses_by_account.get(account.id, []))]
        return max(times).strftime("%Y-%m-%d") if times else None

    def statuses_count(self, account: Account) -> int:
        local = len(self._live(self.statuses_by_account.get(account.id, [])))
        return account.remote_counts.get("statuses_count", local) if not account.local else local

    def tag_history(self, record: TagRecord) -> list[dict[str, str]]:
        today = self.now().replace(hour=0, minute=0, second=0, microsecond=0)
        key = textmod.normalize_hashtag(record.name)
        history = []
        for days_ago in range(7):
            start = today - timedelta(days=days_ago)
            end = start + timedelta(days=1)
            used = [
                s
                for s in self.statuses.values()
                if not s.deleted
                and start <= s.created_at < end
                and key in {textmod.normalize_hashtag(n) for n in s.tag_names}
            ]
            history.append(
                {
                    "day": str(int(start.timestamp())),
                    "accounts": str(len({s.account_id for s in used})),
                    "uses": str(len(used)),
                }
            )
        return history

    # ------------------------------------------------------------------ federation

    def _enqueue_federation(self, kind: str, status: Status) -> None:
        if not status.local or not self.peers:
            return
        from .entities import federation_payload  # late import: entities imports this module

        payload = federation_payload(self, status, kind)
        for peer in self.peers:
            self.outbox.append((peer, payload))
        self.outbox_ready.notify_all()

    def federate_now(self, status: Status, peers: list[str] | None = None) -> None:
        """Control: (re)deliver a status to peers, e.g. to refresh its counts there."""
        from .entities import federation_payload

        with self.lock:
            payload = federation_payload(self, status, "Delete" if status.deleted else "Create")
            for peer in peers or self.peers:
                self.outbox.append((peer, payload))
            self.outbox_ready.notify_all()

    def receive(self, payload: dict[str, Any]) -> Status | None:
        """A peer's Create/Delete of one of its statuses: keep a copy with our own id, their uri."""
        with self.lock:
            data = payload["status"]
            existing = next((s for s in self.statuses.values() if s.uri == data["uri"]), None)
            if payload["type"] == "Delete":
                if existing is not None and existing.deleted_at is None:
                    existing.deleted_at = self.now()
                return existing
            account = self._remote_account(payload["origin"], data["account"])
            counts = {
                key: int(data.get(key) or 0)
                for key in ("replies_count", "reblogs_count", "favourites_count", "quotes_count")
            }
            if existing is not None:
                existing.remote_counts = counts
                existing.content = data["content"]
                return existing
            created_at = parse_time(data["created_at"])
            origin_id = int(data["id"])
            status_id = self.ids.id_at(int(created_at.timestamp() * 1000), avoid=origin_id)
            parent = None
            if payload.get("in_reply_to_uri"):
                parent = next((s for s in self.statuses.values() if s.uri == payload["in_reply_to_uri"]), None)
            tag_names = [self._tag(tag["name"]).name for tag in data.get("tags", [])]
            status = Status(
                id=status_id,
                account_id=account.id,
                created_at=created_at,
                text="",
                spoiler_text=data.get("spoiler_text") or "",
                content=data["content"],
                visibility=data["visibility"],
                sensitive=bool(data.get("sensitive")),
                language=data.get("language"),
                uri=data["uri"],
                url=data.get("url"),
                in_reply_to_id=parent.id if parent else None,
                in_reply_to_account_id=parent.account_id if parent else None,
                tag_names=tag_names,
                remote_counts=counts,
                remote_media=[_remote_media(item) for item in data.get("media_attachments", [])],
                origin=payload["origin"],
            )
            self._index(status)
            return status

    def _remote_account(self, origin: str, data: dict[str, Any]) -> Account:
        for account in self.accounts.values():
            if account.uri == data["uri"]:
                account.remote_counts = {"statuses_count": int(data.get("statuses_count") or 0)}
                return account
        domain = origin.split("://", 1)[1].rstrip("/")
        account = Account(
            id=self.ids.next_id(self.now_ms()),
            username=data["username"],
            domain=domain,
            display_name=data.get("display_name") or "",
            note=data.get("note") or "",
            url=data.get("url") or data["uri"],
            uri=data["uri"],
            created_at=parse_time(data["created_at"]),
            avatar=data.get("avatar") or f"{self.base_url}/avatars/original/missing.png",
            header=data.get("header") or f"{self.base_url}/headers/original/missing.png",
            bot=bool(data.get("bot")),
            locked=bool(data.get("locked")),
            remote_counts={"statuses_count": int(data.get("statuses_count") or 0)},
        )
        self.accounts[account.id] = account
        return account


def _remote_media(item: dict[str, Any]) -> dict[str, Any]:
    copy = dict(item)
    copy["remote_url"] = item.get("url")
    copy["preview_remote_url"] = item.get("preview_url")
    return copy


def _is_delete_request(method: str, path: str) -> bool:
    parts = path.rstrip("/").split("/")
    # /api/v1/statuses/:id (DELETE) or /api/v1/statuses/:id/unreblog (POST)
    if len(parts) == 5 and parts[:4] == ["", "api", "v1", "statuses"] and parts[4].isdigit():
        return method == "DELETE"
    return (
        len(parts) == 6
        and parts[:4] == ["", "api", "v1", "statuses"]
        and parts[4].isdigit()
        and parts[5] == "unreblog"
        and method == "POST"
    )


def _int_id(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return -1


def _parse_focus(value: str | None) -> tuple[float, float] | None:
    if not value:
        return None
    try:
        x, y = (max(-1.0, min(1.0, float(part))) for part in str(value).split(","))
    except ValueError:
        return None
    return x, y


def _valid_language(code: str) -> bool:
    # ISO 639-1 / 639-3 codes, with an optional region as Mastodon accepts (e.g. "en", "ast", "zh-TW").
    base = code.split("-", 1)[0]
    return base.isalpha() and base.isascii() and 2 <= len(base) <= 3
