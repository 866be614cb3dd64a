"""The Mastodon adapter: statuses exactly once, images with alt text, threads, the instance's own limits,
hashtag mentions across instances and engagement of our own statuses, over Mastodon.py.

Exactly once rests on two things. Every write of a delivery carries its idempotency key as the
`Idempotency-Key` header, which the server remembers for one hour (a repeat answers the original status).
For longer gaps, a delivery whose earlier attempt ended with an unknown outcome (dropped connection,
timeout, 5xx, a worker killed mid-call) is first looked for among the account's own recent statuses and is
only posted when it is not there.

Mastodon.py clients are not shared between threads (a Celery worker runs several): each thread builds its
own client, with `ratelimit_method='throw'` (a worker must never sleep for a rate limit; the dispatcher
retries at the reset time) and a short request timeout.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)

from content_calendar.images import ImageProblem, prepare_image
from content_calendar.model import RenderedPart
from content_calendar.render import mastodon_length
from platforms.base import (
    AccountInfo,
    CredentialsError,
    Engagement,
    Mention,
    MentionPage,
    PermanentError,
    PublishOutcome,
    RateLimited,
    RemotePost,
    ThreadRefs,
    TransientError,
)

log = logging.getLogger("campaign.mastodon")

PLATFORM = "mastodon"
USER_AGENT = "campaign-scheduler (Mastodon.py)"
TIMELINE_PAGE_SIZE = 40  # the most a Mastodon timeline page holds
STATUSES_BATCH = 20  # GET /api/v1/statuses answers at most 20 ids
REQUIRED_SCOPES = "write:statuses write:media read"
_FIX_TOKEN = (
    "Create a new access token on the Mastodon instance (Preferences > Development > New application, "
    f"with the scopes {REQUIRED_SCOPES}), put it in MASTODON_ACCESS_TOKEN, then run `campaign accounts check`."
)
_QUOTE_POLICY_SINCE = (4, 5, 0)  # quote_approval_policy arrived with quote posts in Mastodon 4.5
_BATCH_STATUSES_SINCE = (4, 3, 0)  # GET /api/v1/statuses?id[]=


@dataclass(frozen=True)
class InstanceLimits:
    """What /api/v2/instance says about posting on this instance."""

    domain: str = ""
    version: str = ""
    max_characters: int = 500
    characters_reserved_per_url: int = 23
    max_media_attachments: int = 4
    description_limit: int = 1500
    image_size_limit: int = 16 * 1024 * 1024

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return parse_version(self.version)

    @property
    def supports_quote_policy(self) -> bool:
        return self.version_tuple >= _QUOTE_POLICY_SINCE

    @property
    def supports_batch_statuses(self) -> bool:
        return self.version_tuple >= _BATCH_STATUSES_SINCE

    def describe(self) -> str:
        return (
            f"instance limits: {self.max_characters} characters a status (every URL counts as "
            f"{self.characters_reserved_per_url}), {self.max_media_attachments} attachments, alt text up to "
            f"{self.description_limit} characters, images up to {self.image_size_limit // (1024 * 1024)} MB"
        )

    @classmethod
    def from_instance(cls, data: Mapping[str, Any]) -> InstanceLimits:
        configuration = data.get("configuration") or {}
        statuses = configuration.get("statuses") or {}
        media = configuration.get("media_attachments") or {}
        default = cls()

        def number(section: Mapping[str, Any], key: str, fallback: int) -> int:
            value = section.get(key)
            return int(value) if isinstance(value, int | float) and value > 0 else fallback

        return cls(
            domain=str(data.get("domain") or data.get("uri") or ""),
            version=str(data.get("version") or ""),
            max_characters=number(statuses, "max_characters", default.max_characters),
            characters_reserved_per_url=number(
                statuses, "characters_reserved_per_url", default.characters_reserved_per_url
            ),
            max_media_attachments=number(statuses, "max_media_attachments", default.max_media_attachments),
            description_limit=number(media, "description_limit", default.description_limit),
            image_size_limit=number(media, "image_size_limit", default.image_size_limit),
        )


def parse_version(version: str) -> tuple[int, int, int]:
    """Versions such as "4.3.0+glitch" or "4.5.0-beta.2" -> (4, 3, 0) / (4, 5, 0); anything unreadable -> (0, 0, 0)."""
    match = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", version.split(" ")[0].split("+")[0])
    if not match:
        return (0, 0, 0)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def snowflake_at(moment: datetime) -> int:
    """The smallest Mastodon id a status created at `moment` can have (ids are milliseconds << 16)."""
    return int(moment.timestamp() * 1000) << 16


class _PlainText(HTMLParser):
    """Status HTML to plain text: paragraphs become blank lines, <br> a line break, links their full text
    (Mastodon hides part of a long URL in an "invisible" span: the text is still there). Script and style
    contents are dropped; nothing is ever rendered or executed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "br":
            self.pieces.append("\n")
        elif tag == "p" and self.pieces:
            self.pieces.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.pieces.append(data)


def html_to_plain(content: str) -> str:
    parser = _PlainText()
    parser.feed(content or "")
    parser.close()
    text = "".join(parser.pieces)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_REMOTE_MENTION = re.compile(r"(?<![\w/])@([A-Za-z0-9_]+)@[\w.-]+\w")


def _loose(text: str) -> str:
    """Text as it survives Mastodon's HTML: @user@domain may show as @user, whitespace runs collapse."""
    return " ".join(_REMOTE_MENTION.sub(r"@\1", text).split())


def _host(base_url: str) -> str:
    return urlsplit(base_url if "://" in base_url else f"https://{base_url}").netloc or base_url


def _normal_base_url(base_url: str) -> str:
    base_url = base_url.strip().rstrip("/")
    return base_url if "://" in base_url else f"https://{base_url}"


def _get(entity: Any, key: str, default: Any = None) -> Any:
    """Mastodon.py entities are dicts with attribute access; read them as dicts."""
    if isinstance(entity, Mapping):
        value = entity.get(key, default)
        return default if value is None else value
    return getattr(entity, key, default)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _remote_post(status: Any) -> RemotePost:
    return RemotePost(
        remote_id=str(_get(status, "id")),
        url=str(_get(status, "url") or _get(status, "uri") or ""),
        uri=str(_get(status, "uri") or ""),
        cid=None,
        created_at=_as_datetime(_get(status, "created_at")),
    )


def _api_error_parts(error: MastodonAPIError) -> tuple[int | None, str]:
    """(HTTP status, the server's reason) of a Mastodon.py API error."""
    args = error.args
    status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    reason = ""
    if len(args) > 3 and args[3]:
        reason = str(args[3])
    elif len(args) > 2 and args[2]:
        reason = str(args[2])
    elif args:
        reason = str(args[0])
    return status, reason


@dataclass
class ReadBudget:
    """What one collection run may spend reading one instance: at most `requests` calls, and, when reading with
    our own token (an instance that hides its hashtag timelines from anonymous readers), never the token's last
    `token_reserve` requests of its rate-limit window: posting needs them. Reading stops early (what was read is
    kept, the cursor says where to go on) and `stopped` says why."""

    requests: int
    token_reserve: int
    stopped: str = ""
    spent: int = 0
    # Reply parents resolved during this run: (instance, status id) -> the parent's uri (None: not visible)
    parents: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def spend(self, client: Mastodon, *, authenticated: bool) -> bool:
        """Whether one more request may be made with `client` (counting it when so)."""
        if self.stopped:
            return False
        if self.requests <= 0:
            self.stopped = f"this run's {self.spent} requests are spent; the next run goes on"
            return False
        reserve = self.token_reserve if authenticated else 0
        remaining, reset = getattr(client, "ratelimit_remaining", None), getattr(client, "ratelimit_reset", None)
        window_open = getattr(client, "ratelimit_lastcall", None) is not None and isinstance(reset, int | float)
        if window_open and reset > time.time() and isinstance(remaining, int) and remaining <= reserve:
            self.stopped = (
                f"{remaining} requests left in the rate-limit window, kept for posting"
                if authenticated
                else "the instance's rate limit for anonymous readers is reached"
            )
            return False
        self.requests -= 1
        self.spent += 1
        return True


def _needs_an_account(error: MastodonError) -> bool:
    """An instance refusing an anonymous read (Mastodon answers 401, or 422 "This method requires an
    authenticated user", when its hashtag timelines are for signed-in users only)."""
    if isinstance(error, MastodonUnauthorizedError):
        return True
    if isinstance(error, MastodonAPIError) and not isinstance(error, MastodonRatelimitError):
        status, _ = _api_error_parts(error)
        return status in (401, 403, 422)
    return False


@dataclass
class _Upload:
    media_id: str
    ready: bool


class MastodonAdapter:
    """Publishes to, and reads from, one Mastodon account (`api_base_url` + `access_token`).

    `account` (the rate limiter's key) is the instance's host: settings hold one Mastodon account, and the
    key must be known without a network call."""

    platform = PLATFORM
    dry_run = False

    def __init__(
        self,
        api_base_url: str,
        access_token: str,
        *,
        watched_instances: Sequence[str] = (),
        request_timeout: float = 10.0,
        limits_ttl: float = 600.0,
        media_first_poll: float = 0.2,
        media_max_poll: float = 2.0,
        media_deadline: float = 60.0,
        reconcile_margin: timedelta = timedelta(minutes=10),
        reconcile_pages: int = 5,
        mention_pages: int = 5,
        mention_requests: int = 40,
        token_reserve: int = 60,
        cursor_overlap: timedelta = timedelta(minutes=10),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if not api_base_url or not access_token:
            raise CredentialsError(f"Mastodon is not configured: set MASTODON_API_BASE_URL. {_FIX_TOKEN}")
        self.api_base_url = _normal_base_url(api_base_url)
        self.account = _host(self.api_base_url)
        self.watched_instances = tuple(dict.fromkeys(_normal_base_url(u) for u in watched_instances if u and u.strip()))
        self._token = access_token
        self.request_timeout = request_timeout
        self.limits_ttl = limits_ttl
        self.media_first_poll = media_first_poll
        self.media_max_poll = media_max_poll
        self.media_deadline = media_deadline
        self.reconcile_margin = reconcile_margin
        self.reconcile_pages = reconcile_pages
        self.mention_pages = mention_pages
        self.mention_requests = mention_requests  # requests a collection run may make on one instance
        self.token_reserve = token_reserve  # X-RateLimit-Remaining that reading with our token leaves for posting
        self.cursor_overlap = cursor_overlap
        self._timelines_need_token_until = float("-inf")  # our instance refused anonymous timeline reads
        self._no_batch_statuses: set[str] = set()  # instances without GET /api/v1/statuses?id[]=
        self._sleep = sleep
        self._monotonic = monotonic
        self._local = threading.local()
        self._lock = threading.Lock()
        self._limits: InstanceLimits | None = None
        self._limits_read_at = float("-inf")
        self._me: Any = None
        # Uploads of a delivery not yet attached to a status, so a retry after e.g. a 429 on the status does
        # not upload (and count against the 30-per-30-minutes media limit) again. Keyed by idempotency key.
        self._pending_uploads: dict[str, dict[tuple[str, str, str], str]] = {}
        self._posted: dict[str, str] = {}  # idempotency key -> status id this process saw created

    def __repr__(self) -> str:
        return f"MastodonAdapter({self.api_base_url!r}, access_token='********')"

    # ------------------------------------------------------------------ clients and errors

    def _safe(self, text: str) -> str:
        return text.replace(self._token, "********") if self._token else text

    def _new_client(self, base_url: str, token: str | None, version: str | None) -> Mastodon:
        options: dict[str, Any] = {
            "api_base_url": base_url,
            "access_token": token,
            "ratelimit_method": "throw",
            "request_timeout": self.request_timeout,
            "user_agent": USER_AGENT,
        }
        major, minor, patch = parse_version(version or "")
        if major >= 1:
            # Tell Mastodon.py the version we already read, so it neither asks again nor guesses: it picks
            # the v2 media endpoint (202 while processing) from it.
            options["mastodon_version"] = f"{major}.{minor}.{patch}"
            options["version_check_mode"] = "created"
        return Mastodon(**options)

    def _client(self) -> Mastodon:
        """This thread's authenticated client for our own instance."""
        limits = self.limits()
        client = getattr(self._local, "client", None)
        if client is None or getattr(self._local, "version", None) != limits.version:
            client = self._new_client(self.api_base_url, self._token, limits.version)
            self._local.client = client
            self._local.version = limits.version
        return client

    def _public_client(self, base_url: str) -> Mastodon:
        """This thread's anonymous client for another instance's public timelines."""
        clients: dict[str, Mastodon] = self._local.__dict__.setdefault("public", {})
        if base_url not in clients:
            clients[base_url] = self._new_client(base_url, None, None)
        return clients[base_url]

    def _reset_at(self, client: Mastodon | None) -> datetime | None:
        reset = getattr(client, "ratelimit_reset", None) if client is not None else None
        if isinstance(reset, int | float) and reset > time.time():
            return datetime.fromtimestamp(reset, tz=UTC)
        return None

    def _raise(
        self, error: MastodonError, *, doing: str, client: Mastodon | None = None, wrote: bool = False
    ) -> NoReturn:
        """Turn a Mastodon.py error into the dispatcher's vocabulary. `wrote`: the request was the status
        write, so a lost answer means the status may exist."""
        host = _host(self.api_base_url)
        if isinstance(error, MastodonRatelimitError):
            reset_at = self._reset_at(client)
            when = f"; it resets at {reset_at.isoformat(timespec='seconds')}" if reset_at else ""
            raise RateLimited(
                f"{host} rate limit reached while {doing}{when}. The next attempt waits for it.",
                reset_at=reset_at,
                retry_after=None if reset_at else 60.0,
            ) from None
        if isinstance(error, MastodonNetworkError):
            raise TransientError(
                self._safe(f"no answer from {host} while {doing} ({_short(error)})"), outcome_unknown=wrote
            ) from None
        if isinstance(error, MastodonServerError):
            status, reason = _api_error_parts(error)
            raise TransientError(
                self._safe(f"{host} answered {status} while {doing}: {reason}"), outcome_unknown=wrote
            ) from None
        if isinstance(error, MastodonUnauthorizedError):
            _, reason = _api_error_parts(error)
            raise CredentialsError(
                self._safe(f"{host} refused the access token while {doing} ({reason or '401'}). {_FIX_TOKEN}")
            ) from None
        if isinstance(error, MastodonAPIError):
            status, reason = _api_error_parts(error)
            if status == 403:
                raise CredentialsError(
                    self._safe(
                        f"{host} does not allow this account or token to do this ({doing}: {reason or '403'}); "
                        f"the token may lack a scope or the account may be limited. {_FIX_TOKEN}"
                    )
                ) from None
            if status == 429:  # only when a caller used another ratelimit_method
                raise RateLimited(f"{host} rate limit reached while {doing}.", reset_at=None, retry_after=60.0)
            if status is None:  # an answer that is not Mastodon JSON, e.g. a proxy's HTML page
                raise TransientError(
                    self._safe(f"{host} gave an unreadable answer while {doing}"), outcome_unknown=wrote
                ) from None
            raise PermanentError(self._safe(f"{host} refused {doing} ({status}): {reason}")) from None
        if isinstance(error, MastodonVersionError):
            raise PermanentError(f"{host} is too old for {doing}: {error}") from None
        raise TransientError(
            self._safe(f"{type(error).__name__} while {doing} on {host}: {_short(error)}"), outcome_unknown=wrote
        ) from None

    # ------------------------------------------------------------------ instance and account

    def limits(self, *, refresh: bool = False) -> InstanceLimits:
        """The instance's limits from /api/v2/instance, cached for `limits_ttl` seconds."""
        with self._lock:
            fresh = self._monotonic() - self._limits_read_at < self.limits_ttl
            if self._limits is not None and fresh and not refresh:
                return self._limits
        reader = self._new_client(self.api_base_url, self._token, None)  # some instances hide it from anonymous
        try:
            try:
                data = reader.instance_v2()
            except MastodonNotFoundError:  # before Mastodon 4.0
                data = reader.instance_v1()
        except MastodonError as error:
            if self._limits is not None:
                # Keep using what we knew rather than stop posting, and ask again in a minute, not before every
                # request (each would first wait out the timeout while the instance is down or limiting us).
                with self._lock:
                    self._limits_read_at = self._monotonic() - self.limits_ttl + min(60.0, self.limits_ttl)
                return self._limits
            self._raise(error, doing="reading the instance's limits", client=reader)
        limits = InstanceLimits.from_instance(data)
        with self._lock:
            self._limits = limits
            self._limits_read_at = self._monotonic()
        return limits

    def me(self) -> Any:
        """verify_credentials of our account, cached for the adapter's life (id and acct do not change)."""
        if self._me is None:
            client = self._client()
            try:
                self._me = client.account_verify_credentials()
            except MastodonError as error:
                self._raise(error, doing="checking the access token", client=client)
        return self._me

    def check_account(self) -> AccountInfo:
        limits = self.limits(refresh=True)
        self._me = None
        me = self.me()
        client = self._client()
        host = _host(self.api_base_url)
        notes = [f"Mastodon {limits.version or 'version unknown'} at {host}", limits.describe()]
        can_post = not bool(_get(me, "suspended", False)) and not bool(_get(me, "moved", None))
        if _get(me, "suspended", False):
            notes.append("the account is suspended: it cannot post")
        if _get(me, "moved", None):
            notes.append("the account has moved to another instance: post from the new account")
        if _get(me, "limited", False):
            notes.append("the instance's moderators have limited this account: its posts reach fewer people")
        try:
            app = client.app_verify_credentials()
            raw_scopes = _get(app, "scopes", [])
            scopes = set(raw_scopes.split() if isinstance(raw_scopes, str) else map(str, raw_scopes))
        except MastodonUnauthorizedError as error:
            self._raise(error, doing="checking the access token", client=client)
        except MastodonError:
            scopes = set()
        if scopes:
            missing = [s for s in REQUIRED_SCOPES.split() if s not in scopes and s.split(":")[0] not in scopes]
            if missing:
                can_post = can_post and not any(s.startswith("write") for s in missing)
                notes.append(f"the token lacks the scopes {' '.join(missing)}. {_FIX_TOKEN}")
            else:
                notes.append(f"token scopes: {' '.join(sorted(scopes))}")
        else:
            notes.append("the instance did not say which scopes the token has")
        notes.append(
            "quote policy: sent (allow_quotes: false -> nobody may quote)"
            if limits.supports_quote_policy
            else "quote policy: not supported by this instance (allow_quotes is ignored here)"
        )
        return AccountInfo(
            platform=PLATFORM,
            handle=f"{_get(me, 'acct')}@{limits.domain or host}",
            account_id=str(_get(me, "id")),
            service=self.api_base_url,
            can_post=can_post,
            notes=tuple(notes),
        )

    # ------------------------------------------------------------------ publishing

    def check_part(self, part: RenderedPart, limits: InstanceLimits) -> None:
        """Refuse, before any request, what this instance would refuse."""
        where = f"post {part.post_id}" + (f" (thread part {part.part})" if part.part else "")
        length = mastodon_length(part.text, limits.characters_reserved_per_url, spoiler_text=part.spoiler_text)
        if length > limits.max_characters:
            over = length - limits.max_characters
            raise PermanentError(
                f"{where}: the Mastodon text is {length} characters as {limits.domain or self.account} counts "
                f"them (content warning included, every URL as {limits.characters_reserved_per_url}), "
                f"{over} over its limit of {limits.max_characters}. Shorten the mastodon text (or its content "
                f"warning) by at least {over} characters in the calendar, e.g. with `mastodon: {{text: ...}}`."
            )
        if not part.text.strip() and not part.images:
            raise PermanentError(f"{where}: the Mastodon text is empty. Write a text for it in the calendar.")
        if len(part.images) > limits.max_media_attachments:
            raise PermanentError(
                f"{where}: {len(part.images)} images, but {limits.domain or self.account} takes at most "
                f"{limits.max_media_attachments}. Remove some images or move them to a thread part."
            )
        for number, image in enumerate(part.images, start=1):
            if not image.alt.strip():
                raise PermanentError(f"{where}: image {number} has no alt text. Write one in the calendar.")
            if len(image.alt) > limits.description_limit:
                raise PermanentError(
                    f"{where}: the alt text of image {number} is {len(image.alt)} characters; "
                    f"{limits.domain or self.account} takes at most {limits.description_limit}. Shorten it."
                )

    def publish(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None,
        outcome_unknown: bool,
        written_at: datetime | None = None,
    ) -> PublishOutcome:
        limits = self.limits()
        self.check_part(part, limits)
        if outcome_unknown:
            found = self.find_published(part, idempotency_key, reply_to=reply_to, written_at=written_at)
            if found is not None:
                self._pending_uploads.pop(idempotency_key, None)
                return PublishOutcome(found, already_existed=True)
        media_ids = self._upload_images(part, idempotency_key, limits)
        client = self._client()
        options: dict[str, Any] = {
            "in_reply_to_id": reply_to.parent.remote_id if reply_to is not None else None,
            "media_ids": media_ids or None,
            "sensitive": bool(part.spoiler_text),
            "visibility": part.visibility or "public",
            "spoiler_text": part.spoiler_text or None,
            "language": part.language or None,
            "idempotency_key": idempotency_key,
        }
        if not part.allow_quotes and limits.supports_quote_policy:
            options["quote_approval_policy"] = "nobody"
        try:
            status = client.status_post(part.text, **options)
        except MastodonAPIError as error:
            code, reason = _api_error_parts(error)
            if code == 422 and "process" in reason.lower():
                # An attachment the server has not finished with: nothing was created, try again shortly.
                raise TransientError(
                    f"{self.account}: {reason} (the next attempt waits a few seconds)", retry_after=5.0
                ) from None
            if code == 422:
                raise PermanentError(
                    self._safe(
                        f"{self.account} refused post {part.post_id} part {part.part}: {reason}. "
                        "Fix the post in the calendar and schedule it again."
                    )
                ) from None
            if code == 404 and reply_to is not None:
                parent_ref = reply_to.parent.url or reply_to.parent.remote_id
                raise PermanentError(
                    f"{self.account}: the status this thread part answers ({parent_ref}) is gone ({reason}). "
                    "The rest of the thread cannot be attached to it."
                ) from None
            self._raise(error, doing="posting the status", client=client, wrote=True)
        except (MastodonIllegalArgumentError, ValueError) as error:  # refused by Mastodon.py before any request
            raise PermanentError(f"post {part.post_id} part {part.part}: {error}") from None
        except MastodonError as error:
            self._raise(error, doing="posting the status", client=client, wrote=True)
        post = _remote_post(status)
        attached = {str(_get(m, "id")) for m in _get(status, "media_attachments", [])}
        replayed = self._posted.get(idempotency_key) == post.remote_id or (
            bool(media_ids) and attached != set(media_ids)
        )
        self._posted[idempotency_key] = post.remote_id
        self._pending_uploads.pop(idempotency_key, None)
        return PublishOutcome(post, already_existed=replayed)

    def _upload_images(self, part: RenderedPart, idempotency_key: str, limits: InstanceLimits) -> list[str]:
        if not part.images:
            return []
        client = self._client()
        earlier = self._pending_uploads.setdefault(idempotency_key, {})
        uploads: list[_Upload] = []
        for number, image in enumerate(part.images, start=1):
            fingerprint = (image.sha256, image.alt, json.dumps(image.focus))
            reused = self._still_unattached(client, earlier.get(fingerprint))
            if reused is not None:
                uploads.append(reused)
                continue
            try:
                prepared = prepare_image(Path(image.path), limits.image_size_limit)
            except ImageProblem as problem:
                raise PermanentError(f"post {part.post_id}, image {number}: {problem}") from None
            try:
                media = client.media_post(
                    prepared.data,
                    mime_type=prepared.mime_type,
                    description=image.alt,
                    focus=image.focus,
                    file_name=Path(image.path).name,
                )
            except MastodonAPIError as error:
                code, reason = _api_error_parts(error)
                if code == 422:
                    raise PermanentError(
                        self._safe(f"{self.account} refused image {number} of post {part.post_id}: {reason}")
                    ) from None
                self._raise(error, doing=f"uploading image {number}", client=client)
            except MastodonIllegalArgumentError as error:
                raise PermanentError(f"post {part.post_id}, image {number}: {error}") from None
            except MastodonError as error:
                self._raise(error, doing=f"uploading image {number}", client=client)
            upload = _Upload(str(_get(media, "id")), bool(_get(media, "url")))
            earlier[fingerprint] = upload.media_id
            uploads.append(upload)
        self._wait_for_processing(client, uploads)
        return [u.media_id for u in uploads]

    def _forget_upload(self, media_id: str) -> None:
        for uploads in self._pending_uploads.values():
            for fingerprint, known in list(uploads.items()):
                if known == media_id:
                    del uploads[fingerprint]

    def _still_unattached(self, client: Mastodon, media_id: str | None) -> _Upload | None:
        """An upload of an earlier attempt, if the server still has it unattached (GET answers 404 once
        it belongs to a status)."""
        if media_id is None:
            return None
        try:
            media = client.media(media_id)
        except MastodonError:
            return None
        return _Upload(media_id, bool(_get(media, "url")))

    def _wait_for_processing(self, client: Mastodon, uploads: list[_Upload]) -> None:
        """Poll GET /api/v1/media/:id until every upload has its url: short doubling waits, one deadline."""
        waiting = [u for u in uploads if not u.ready]
        pause = self.media_first_poll
        deadline = self._monotonic() + self.media_deadline
        while waiting:
            if self._monotonic() + pause > deadline:
                raise TransientError(
                    f"{self.account} was still processing {len(waiting)} image(s) after "
                    f"{self.media_deadline:.0f} s; the next attempt reuses the uploads",
                    retry_after=30.0,
                )
            self._sleep(pause)
            pause = min(pause * 2, self.media_max_poll)
            for upload in list(waiting):
                try:
                    media = client.media(upload.media_id)
                except MastodonNotFoundError:
                    self._forget_upload(upload.media_id)
                    raise TransientError(
                        f"{self.account} lost an image upload while processing it; the next attempt uploads it again",
                        retry_after=5.0,
                    ) from None
                except MastodonError as error:
                    self._raise(error, doing="waiting for an image to be processed", client=client)
                if _get(media, "url"):
                    upload.ready = True
                    waiting.remove(upload)

    # ------------------------------------------------------------------ reconciling

    def find_published(
        self,
        part: RenderedPart,
        idempotency_key: str,
        *,
        reply_to: ThreadRefs | None = None,
        written_at: datetime | None = None,
    ) -> RemotePost | None:
        """The status an earlier attempt of this delivery created, looked for among the account's own statuses
        since the earlier of the part's planned time and the attempt that may have written it (`post-now` can
        send it well before its plan), minus a margin for clock skew: same text, content warning, reply
        parent and number of attachments. Bounded: `reconcile_pages` pages of 40."""
        client = self._client()
        me = self.me()
        known = self._posted.get(idempotency_key)
        lower = min(part.at, written_at or part.at) - self.reconcile_margin
        max_id: str | None = None
        for _ in range(self.reconcile_pages):
            try:
                page = client.account_statuses(
                    _get(me, "id"),
                    exclude_reblogs=True,
                    since_id=str(snowflake_at(lower)),
                    max_id=max_id,
                    limit=TIMELINE_PAGE_SIZE,
                )
            except MastodonError as error:
                self._raise(error, doing="looking for an earlier attempt's status", client=client)
            if not page:
                return None
            for status in page:
                if known is not None and str(_get(status, "id")) == known:
                    return _remote_post(status)
                if self._same_delivery(client, status, part, reply_to, lower):
                    return _remote_post(status)
            if len(page) < TIMELINE_PAGE_SIZE:
                return None
            max_id = str(_get(page[-1], "id"))
        return None

    def _same_delivery(
        self, client: Mastodon, status: Any, part: RenderedPart, reply_to: ThreadRefs | None, lower: datetime
    ) -> bool:
        created = _as_datetime(_get(status, "created_at"))
        if created is not None and created < lower:
            return False
        if (_get(status, "spoiler_text", "") or "").strip() != part.spoiler_text.strip():
            return False
        parent = _get(status, "in_reply_to_id")
        if reply_to is not None:
            if str(parent) != str(reply_to.parent.remote_id):
                return False
        elif (parent is None) != (part.part == 0):  # part 0 answers nothing, every later part answers something
            return False
        if len(_get(status, "media_attachments", [])) != len(part.images):
            return False
        if _loose(html_to_plain(_get(status, "content", ""))) != _loose(part.text):
            return False
        # The HTML matched loosely; the source text decides exactly (mentions, spacing).
        try:
            source = client.status_source(_get(status, "id"))
        except (MastodonNotFoundError, MastodonVersionError):
            return True  # no /source on this server: the loose match is the best evidence there is
        except MastodonError as error:
            self._raise(error, doing="reading a status's source", client=client)
        return str(_get(source, "text", "")).strip() == part.text.strip()

    # ------------------------------------------------------------------ reading: mentions

    def search_mentions(
        self, tags: Sequence[str], *, since: datetime | None, cursor: str | None, budget: ReadBudget | None = None
    ) -> MentionPage:
        """Hashtag timelines of our own instance and the watched ones. The cursor is a position, not a page
        token: it is returned after every call (even an empty one) and should be stored and passed back."""
        instances = [self.api_base_url, *[u for u in self.watched_instances if u != self.api_base_url]]
        return self.search_mentions_on(instances, tags, since=since, cursor=cursor, budget=budget)

    def read_budget(self) -> ReadBudget:
        """A fresh budget for one collection run on one instance (see ReadBudget)."""
        return ReadBudget(self.mention_requests, self.token_reserve)

    def search_mentions_on(
        self,
        instances: Sequence[str],
        tags: Sequence[str],
        *,
        since: datetime | None,
        cursor: str | None,
        budget: ReadBudget | None = None,
    ) -> MentionPage:
        """Read anonymously (public timelines need no account, and our token's rate limit is left to posting);
        only our own instance, when it hides its timelines from anonymous readers, is read with our token, and
        then never down to the token's last `token_reserve` requests. `budget` bounds a run's requests (one
        call gets a fresh one): when it runs out the page so far comes back with the cursor after it, and the
        next call with the same budget reads nothing more."""
        budget = budget or self.read_budget()
        positions = _decode_cursor(cursor)
        mentions: dict[str, Mention] = {}
        for base_url in dict.fromkeys(_normal_base_url(u) for u in instances):
            # Mastodon matches tags case-insensitively: #ItsNotOK and #ItsNotOk are one timeline.
            for tag in {
                t.strip().lstrip("#").casefold(): t.strip().lstrip("#") for t in tags if t.strip("# ")
            }.values():
                key = f"{base_url}|{tag.casefold()}"
                for mention in self._read_tag(base_url, tag, since=since, positions=positions, key=key, budget=budget):
                    earlier = mentions.get(mention.uri)
                    if earlier is None:
                        mentions[mention.uri] = mention
                    else:
                        mentions[mention.uri] = _merge(earlier, mention)
        if budget.stopped:
            log.info("reading mentions on %s stopped early: %s", ", ".join(map(_host, instances)), budget.stopped)
        ordered = sorted(mentions.values(), key=lambda m: (m.created_at, m.uri))
        return MentionPage(mentions=ordered, cursor=json.dumps({"v": 1, "min_id": positions}, sort_keys=True))

    def rewind_cursor(self, cursor: str, since: datetime) -> str:
        """A cursor whose every tag reads again from no later than `since` (a backfill): each position becomes
        the earlier of itself and `since`, so nothing between an old position and `since` is skipped."""
        floor = snowflake_at(since)
        positions = {key: str(min(int(position), floor)) for key, position in _decode_cursor(cursor).items()}
        return json.dumps({"v": 1, "min_id": positions}, sort_keys=True)

    def _timeline_client(self, base_url: str) -> tuple[Mastodon, bool]:
        """(client, authenticated) to read `base_url`'s hashtag timelines: anonymous, unless it is our own
        instance and it refused anonymous reads lately (checked again every `limits_ttl` seconds)."""
        if base_url == self.api_base_url and self._monotonic() < self._timelines_need_token_until:
            return self._client(), True
        return self._public_client(base_url), False

    def _read_tag(
        self,
        base_url: str,
        tag: str,
        *,
        since: datetime | None,
        positions: dict[str, str],
        key: str,
        budget: ReadBudget,
    ) -> Iterator[Mention]:
        own = base_url == self.api_base_url
        client, authenticated = self._timeline_client(base_url)
        start = positions.get(key)
        # A tag with a position goes on from it; one without (a first read, a variant added later) starts at
        # `since`, and only with neither does it read just the newest page.
        min_id = start or (str(snowflake_at(since)) if since is not None else None)
        newest_page = min_id is None
        earliest = since if start is None else None  # a position is authoritative: nothing after it is dropped

        def fetch(**paging: str) -> list[Any] | None:
            """A page, or None when the budget allows no more requests."""
            nonlocal client, authenticated
            while True:
                if not budget.spend(client, authenticated=authenticated):
                    return None
                try:
                    return list(client.timeline_hashtag(tag, limit=TIMELINE_PAGE_SIZE, **paging) or [])
                except MastodonError as error:
                    if authenticated or not _needs_an_account(error):
                        self._raise(error, doing=f"reading #{tag} on {_host(base_url)}", client=client)
                    if not own:
                        _, reason = _api_error_parts(error) if isinstance(error, MastodonAPIError) else (None, "")
                        raise PermanentError(
                            f"{_host(base_url)} shows its hashtag timelines only to its own signed-in users "
                            f"({reason or 'refused'}): remove it from mastodon_instances in campaign.yaml."
                        ) from None
                    # Our own instance keeps them for signed-in users: read with our token, within the reserve.
                    self._timelines_need_token_until = self._monotonic() + self.limits_ttl
                    client, authenticated = self._client(), True

        def mentions_of(page: list[Any]) -> list[Mention] | None:
            """The page's mentions with their reply parents resolved, or None when the budget ran out first
            (the page is then not taken: the next run reads it again)."""
            by_id = {str(_get(s, "id")): s for s in page}
            kept = []
            for status in page:
                created = _as_datetime(_get(status, "created_at"))
                if earliest is None or created is None or created >= earliest:
                    kept.append(status)
            wanted = [
                str(parent)
                for status in kept
                if (parent := _get(status, "in_reply_to_id")) is not None
                and str(parent) not in by_id
                and (base_url, str(parent)) not in budget.parents
            ]
            if wanted and not self._resolve_parents(client, authenticated, base_url, wanted, budget):
                return None
            return [self._mention(base_url, status, by_id, budget.parents) for status in kept]

        # Forward from the stored position: the position always moves to the highest id read, so a burst
        # larger than one call's pages is read over several calls, never re-read forever.
        for _ in range(self.mention_pages):
            page = fetch(**({"min_id": min_id} if min_id is not None else {}))
            if not page:
                break
            mentions = mentions_of(page)
            if mentions is None:
                return
            yield from mentions
            highest = max((str(_get(s, "id")) for s in page), key=int)
            positions[key] = highest
            if newest_page or len(page) < TIMELINE_PAGE_SIZE:
                break
            min_id = highest
        if start is not None and self.cursor_overlap > timedelta(0):
            # A status that reaches this instance late gets an id from its own creation time, below the
            # position already read past: re-read the `cursor_overlap` window just below where this call
            # started, newest first. Mentions read twice are the same uri: the store keeps one.
            floor = str(max(0, int(start) - (int(self.cursor_overlap.total_seconds() * 1000) << 16)))
            max_id = start
            for _ in range(self.mention_pages):
                page = fetch(max_id=max_id, since_id=floor)
                if not page:
                    break
                mentions = mentions_of(page)
                if mentions is None:
                    return
                yield from mentions
                if len(page) < TIMELINE_PAGE_SIZE:
                    break
                max_id = min((str(_get(s, "id")) for s in page), key=int)

    def _resolve_parents(
        self, client: Mastodon, authenticated: bool, base_url: str, ids: Sequence[str], budget: ReadBudget
    ) -> bool:
        """The uris of replies' parents not in their page, into `budget.parents`: 20 a request where the
        instance has GET /api/v1/statuses?id[]= (4.3+), else one by one, within the budget. A parent the instance
        does not show (private, deleted) resolves to None. False when the budget ran out first."""
        pending = list(dict.fromkeys(ids))
        doing = f"reading replies' parents on {_host(base_url)}"
        while pending and base_url not in self._no_batch_statuses:
            chunk = pending[:STATUSES_BATCH]
            if not budget.spend(client, authenticated=authenticated):
                return False
            try:
                found = {str(_get(s, "id")): str(_get(s, "uri") or "") or None for s in client.statuses(chunk)}
            except (MastodonNotFoundError, MastodonVersionError):
                self._no_batch_statuses.add(base_url)  # before Mastodon 4.3: one by one below
                break
            except MastodonRatelimitError as error:
                self._raise(error, doing=doing, client=client)
            except MastodonError:
                found = {}  # refused: these parents stay unknown, as they would one by one
            for parent in chunk:
                budget.parents[(base_url, parent)] = found.get(parent)
            pending = pending[len(chunk) :]
        for parent in pending:
            if not budget.spend(client, authenticated=authenticated):
                return False
            try:
                budget.parents[(base_url, parent)] = str(_get(client.status(parent), "uri") or "") or None
            except MastodonRatelimitError as error:
                self._raise(error, doing=doing, client=client)
            except MastodonError:
                budget.parents[(base_url, parent)] = None  # private, deleted or not visible to us
        return True

    def _mention(
        self,
        base_url: str,
        status: Any,
        page: Mapping[str, Any],
        parents: Mapping[tuple[str, str], str | None],
    ) -> Mention:
        account = _get(status, "account", {})
        # Identity from what the instance vouches for: the account's ActivityPub uri (its host is checked against
        # the server that signs for it), else its acct qualified with the instance it was read on. Never the
        # profile `url`: a remote server sets that to anything, e.g. an allow-listed organisation's profile.
        acct = str(_get(account, "acct", ""))
        if acct and "@" not in acct:
            acct = f"{acct}@{_host(base_url)}"
        author_id = str(_get(account, "uri", "") or "") or acct
        parent_id = _get(status, "in_reply_to_id")
        in_reply_to_uri: str | None = None
        if parent_id is not None:
            parent_id = str(parent_id)
            if parent_id in page:
                in_reply_to_uri = str(_get(page[parent_id], "uri") or "") or None
            else:
                in_reply_to_uri = parents.get((base_url, parent_id))
        created = _as_datetime(_get(status, "created_at")) or datetime.now(UTC)
        return Mention(
            platform=PLATFORM,
            uri=str(_get(status, "uri") or _get(status, "url") or ""),
            url=str(_get(status, "url") or _get(status, "uri") or ""),
            author_handle=acct,
            author_id=author_id,
            text=html_to_plain(str(_get(status, "content", ""))),
            created_at=created,
            tags=tuple(str(_get(t, "name", "")) for t in _get(status, "tags", []) if _get(t, "name", "")),
            in_reply_to_uri=in_reply_to_uri,
            like_count=int(_get(status, "favourites_count", 0)),
            repost_count=int(_get(status, "reblogs_count", 0)),
            reply_count=int(_get(status, "replies_count", 0)),
            seen_on=base_url,
        )

    # ------------------------------------------------------------------ reading: engagement

    def engagement(self, remote_ids: Iterable[str]) -> list[Engagement]:
        """Counts of our own statuses, 20 a request where the instance has GET /api/v1/statuses (4.3+),
        else one by one. Statuses that are gone are left out."""
        ids = list(dict.fromkeys(str(i) for i in remote_ids))
        if not ids:
            return []
        client = self._client()
        statuses: list[Any] = []
        batched = self.limits().supports_batch_statuses
        for start in range(0, len(ids), STATUSES_BATCH):
            chunk = ids[start : start + STATUSES_BATCH]
            if batched:
                try:
                    statuses.extend(client.statuses(chunk))
                    continue
                except (MastodonNotFoundError, MastodonVersionError):
                    batched = False
                except MastodonError as error:
                    self._raise(error, doing="reading engagement", client=client)
            for status_id in chunk:
                try:
                    statuses.append(client.status(status_id))
                except MastodonNotFoundError:
                    continue
                except MastodonError as error:
                    self._raise(error, doing="reading engagement", client=client)
        found = {str(_get(s, "id")): s for s in statuses}
        return [
            Engagement(
                remote_id=status_id,
                likes=int(_get(found[status_id], "favourites_count", 0)),
                reposts=int(_get(found[status_id], "reblogs_count", 0)),
                replies=int(_get(found[status_id], "replies_count", 0)),
                quotes=int(_get(found[status_id], "quotes_count", 0)),
            )
            for status_id in ids
            if status_id in found
        ]


def _short(error: BaseException) -> str:
    text = html.unescape(str(error))
    return text if len(text) <= 300 else text[:297] + "..."


def _merge(first: Mention, second: Mention) -> Mention:
    """One status seen on two instances: the highest counts any instance knows, the first place seen."""
    from dataclasses import replace

    return replace(
        first,
        like_count=max(first.like_count, second.like_count),
        repost_count=max(first.repost_count, second.repost_count),
        reply_count=max(first.reply_count, second.reply_count),
        in_reply_to_uri=first.in_reply_to_uri or second.in_reply_to_uri,
        tags=tuple(dict.fromkeys((*first.tags, *second.tags))),
    )


def _decode_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    positions = data.get("min_id") if isinstance(data, dict) else None
    if not isinstance(positions, dict):
        return {}
    return {str(k): str(v) for k, v in positions.items() if str(v).isdigit()}


__all__ = ["InstanceLimits", "MastodonAdapter", "ReadBudget", "html_to_plain", "parse_version", "snowflake_at"]
