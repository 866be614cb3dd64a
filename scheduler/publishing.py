"""Publishing one delivery: the logic behind the `publish` task and `campaign post-now`, reachable
without a broker. It asks the dispatch policy for permission, calls the adapter with the delivery's
idempotency key, and records the outcome."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select

from content_calendar.model import RenderedPart
from platforms.base import (
    CredentialsError,
    PermanentError,
    PlatformAdapter,
    PublishOutcome,
    RateLimited,
    RemotePost,
    ThreadRefs,
    TransientError,
)
from scheduler import approval
from scheduler.clock import Clock
from scheduler.db import Store
from scheduler.dispatch import (
    Claim,
    DispatchPolicy,
    OperatorError,
    PublishJob,
    RemoteRef,
    Skip,
    begin_publish,
    claim_now,
    claim_replies,
    complete_publish,
    extend_lease,
    fail_publish,
    release,
    retry,
    set_due_now,
)
from scheduler.hold_actions import hold_for_refused_login
from scheduler.models import Delivery, PostRecord, State
from scheduler.ratelimit import RateLimiter

log = logging.getLogger("campaign.publish")

AdapterFor = Callable[[str, str], PlatformAdapter]  # (campaign, platform) -> adapter


@dataclass
class Outcome:
    delivery_id: int
    result: Literal["published", "skipped", "held", "retry", "failed"]
    detail: str = ""
    next_at: datetime | None = None
    follow_ups: list[Claim] = field(default_factory=list)  # thread parts now claimed and ready to publish


class LeaseKeeper:
    """Extends a publishing delivery's lease while its adapter call runs, so a slow but live call (large
    uploads, a platform's slow answer) is never taken for a lost one and attempted a second time alongside it.
    The lease runs out only when the worker is gone, or after `policy.max_publish_hold`."""

    def __init__(
        self, store: Store, job: PublishJob, *, clock: Clock, policy: DispatchPolicy, redact: Callable[[str], str]
    ):
        self._store, self._job, self._clock, self._policy, self._redact = store, job, clock, policy, redact
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job.delivery_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = max(0.05, self._policy.publish_lease.total_seconds() / 3)
        give_up = time.monotonic() + self._policy.max_publish_hold.total_seconds()
        while not self._stop.wait(interval):
            if time.monotonic() > give_up:
                log.warning("post part %s: no answer from the platform yet; it is tried again if none comes",
                            self._job.delivery_id)  # fmt: skip
                return
            try:
                current = extend_lease(
                    self._store,
                    self._job.delivery_id,
                    self._job.attempt_serial,
                    self._clock.now() + self._policy.publish_lease,
                )
            except Exception as error:  # the store is briefly unreachable: try again at the next beat
                log.warning(
                    "post part %s: could not note that it is still being posted: %s",
                    self._job.delivery_id,
                    self._redact(str(error)),
                )
                continue
            if not current:
                return


def _remote(ref: RemoteRef | None) -> RemotePost | None:
    if ref is None:
        return None
    return RemotePost(remote_id=ref.remote_id, url=ref.url, uri=ref.uri, cid=ref.cid)


def publish_delivery(
    store: Store,
    delivery_id: int,
    *,
    adapter_for: AdapterFor,
    clock: Clock,
    policy: DispatchPolicy,
    worker: str,
    limiter: RateLimiter | None = None,
    redact: Callable[[str], str] = str,
) -> Outcome:
    with store.transaction() as session:
        row = session.execute(
            select(
                Delivery.campaign, Delivery.platform, Delivery.state, Delivery.due_at, Delivery.misfire_grace_s
            ).where(Delivery.id == delivery_id)
        ).one_or_none()
    if row is None:
        return Outcome(delivery_id, "skipped", "no such post part")
    campaign, platform, state, due_at, grace = row
    if state != State.CLAIMED:
        return Outcome(delivery_id, "skipped", f"it is {state}")
    adapter = adapter_for(campaign, platform)

    if limiter is not None and not adapter.dry_run:
        # Its place in the account's queue is its planned time: a held backlog goes out oldest first, each post
        # at the instant the limits admit it, and a post whose turn is past its grace is reported missed then.
        now = clock.now()
        hold = limiter.acquire(
            platform,
            adapter.account,
            now=now,
            ticket=delivery_id,
            planned=due_at,
            deadline=due_at + timedelta(seconds=grace),
        )
        if hold is not None:
            release(store, delivery_id, now, worker=worker, until=hold.until, reason=hold.reason)
            return Outcome(delivery_id, "held", hold.reason, next_at=hold.until)

    job = begin_publish(store, delivery_id, clock.now(), policy, worker=worker)
    if isinstance(job, Skip):
        return Outcome(delivery_id, "skipped", job.reason)
    return _call_adapter(store, job, adapter, clock=clock, policy=policy, worker=worker, redact=redact)


def _call_adapter(
    store: Store,
    job: PublishJob,
    adapter: PlatformAdapter,
    *,
    clock: Clock,
    policy: DispatchPolicy,
    worker: str,
    redact: Callable[[str], str],
) -> Outcome:
    part = RenderedPart.from_json(job.payload)
    root, parent = _remote(job.root), _remote(job.parent)
    reply_to = ThreadRefs(root=root, parent=parent) if root and parent else None
    if job.part > 0 and reply_to is None:
        # Never let a reply go out as a post of its own.
        message = (
            f"thread part {job.part} has no published post to reply to on {job.platform} (part 0 has no remote "
            f"id); run `campaign status` and `campaign retry {job.post_id}` once the thread's first post is out"
        )
        fail_publish(store, job.delivery_id, clock.now(), policy, worker=worker, error=message, permanent=True,
                     attempt=job.attempt_serial)  # fmt: skip
        return Outcome(job.delivery_id, "failed", message)
    try:
        with LeaseKeeper(store, job, clock=clock, policy=policy, redact=redact):
            outcome = adapter.publish(
                part,
                job.idempotency_key,
                reply_to=reply_to,
                outcome_unknown=job.outcome_unknown,
                written_at=job.write_attempt_at,
            )
    except TransientError as error:  # RateLimited included: its reset time is when to try again
        now = clock.now()
        retry_after = error.retry_after
        if isinstance(error, RateLimited) and error.reset_at is not None:
            retry_after = (error.reset_at - now).total_seconds()
        next_at = fail_publish(
            store,
            job.delivery_id,
            now,
            policy,
            worker=worker,
            error=redact(str(error)),
            permanent=False,
            retry_after=retry_after,
            outcome_unknown=error.outcome_unknown,
            attempt=job.attempt_serial,
        )
        return Outcome(job.delivery_id, "retry" if next_at else "failed", redact(str(error)), next_at)
    except CredentialsError as error:  # the account, not the post: the platform is held, its posts kept
        return _login_refused(store, job, redact(str(error)), clock=clock, policy=policy, worker=worker)
    except PermanentError as error:
        fail_publish(
            store,
            job.delivery_id,
            clock.now(),
            policy,
            worker=worker,
            error=redact(str(error)),
            permanent=True,
            attempt=job.attempt_serial,
        )
        log.error("post part %s failed: %s", job.delivery_id, redact(str(error)))
        return Outcome(job.delivery_id, "failed", redact(str(error)))
    except Exception as error:  # an adapter bug: the write may or may not have happened
        message = redact(f"unexpected {type(error).__name__}: {error}")
        # Not log.exception: the traceback's own text would bypass the redactor.
        log.error("post part %s: %s\n%s", job.delivery_id, message, redact(traceback.format_exc()))
        next_at = fail_publish(
            store,
            job.delivery_id,
            clock.now(),
            policy,
            worker=worker,
            error=message,
            permanent=False,
            outcome_unknown=True,
            attempt=job.attempt_serial,
        )
        return Outcome(job.delivery_id, "retry" if next_at else "failed", message, next_at)

    post = outcome.post
    now = clock.now()
    duplicates = _duplicates(outcome, job)
    if duplicates:  # alert-worthy: a post went out twice, however briefly
        log.error("post part %s: %s", job.delivery_id, redact(duplicates))
    complete_publish(
        store,
        job.delivery_id,
        now,
        worker=worker,
        remote=RemoteRef(post.remote_id, post.uri, post.cid, post.url),
        dry_run=adapter.dry_run,
        already_existed=outcome.already_existed,
        duplicates=redact(duplicates),
    )
    follow_ups = claim_replies(store, job.delivery_id, now, policy, actor=worker)
    return Outcome(job.delivery_id, "published", post.url, follow_ups=follow_ups)


def _login_refused(
    store: Store, job: PublishJob, message: str, *, clock: Clock, policy: DispatchPolicy, worker: str
) -> Outcome:
    """A platform refused our login while posting: hold every post to it (one hold, alerted) rather than let each
    fail in turn, and keep this one to try again once the hold is released."""
    now = clock.now()
    log.error("post part %s: %s refused our login; its posts are held: %s", job.delivery_id, job.platform, message)
    hold_for_refused_login(store, job.platform, message, now, actor=worker)
    fail_publish(store, job.delivery_id, now, policy, worker=worker, error=message, permanent=False,
                 attempt=job.attempt_serial)  # fmt: skip
    return Outcome(job.delivery_id, "held", message)


def _duplicates(outcome: PublishOutcome, job: PublishJob) -> str:
    """What a person reads when a retry found a second copy of its post (an earlier attempt's, landed late)."""
    if not outcome.duplicates_deleted and not outcome.duplicates_left:
        return ""
    where = f"post {job.post_id}" + (f" part {job.part}" if job.part else "") + f" on {job.platform}"
    kept = outcome.post.url or outcome.post.remote_id
    text = f"{where} went out twice (an earlier attempt's post appeared late); it stays at {kept}"
    if outcome.duplicates_deleted:
        text += "; the newer copy was deleted: " + ", ".join(c.url or c.remote_id for c in outcome.duplicates_deleted)
    if outcome.duplicates_left:
        text += "; delete this copy on the platform, it could not be deleted: " + ", ".join(
            c.url or c.remote_id for c in outcome.duplicates_left
        )
    return text


def claim_post_now(
    store: Store, post_id: str, platform: str, *, campaign: str | None, clock: Clock, policy: DispatchPolicy, actor: str
) -> tuple[list[Claim], list[Outcome]]:
    """Make one post (and its thread) on one platform due now and claim its first unpublished part, through the
    same path and idempotency key as a scheduled delivery: once it is out, asking again posts nothing.

    Returns the claims an executor runs (the thread's following parts are claimed as each part goes out), and
    the outcomes of what will not run (already published, being published, cancelled)."""
    with store.transaction() as session:
        statement = select(Delivery).where(Delivery.post_id == post_id, Delivery.platform == platform)
        if campaign:
            statement = statement.where(Delivery.campaign == campaign)
        parts = session.scalars(statement.order_by(Delivery.part)).all()
        if not parts:
            raise OperatorError(f"{post_id!r} is not scheduled for {platform}: run `campaign schedule` first.")
        if len({d.campaign for d in parts}) > 1:
            raise OperatorError(f"The post id {post_id!r} is in several campaigns: say which with --campaign.")
        record = session.get(PostRecord, parts[0].post_pk)
        if record is not None:
            approval.refuse_unapproved(session, record)
    now = clock.now()
    if any(d.state in (State.MISSED, State.FAILED) for d in parts):
        retry(store, post_id, now, actor=actor, campaign=parts[0].campaign, platform=platform)
    set_due_now(store, [d.id for d in parts], now, actor=actor)
    with store.transaction() as session:
        current = {
            d.id: (d.state, d.remote_url)
            for d in session.scalars(select(Delivery).where(Delivery.id.in_([d.id for d in parts])))
        }
    first_unpublished = next((d for d in parts if current[d.id][0] != State.PUBLISHED), None)
    if first_unpublished is None:
        return [], [Outcome(parts[0].id, "skipped", f"already published: {current[parts[0].id][1]}")]
    claims = claim_now(store, [first_unpublished.id], now, policy, actor=actor)
    if claims:
        return claims, []
    with store.transaction() as session:  # why not, as it stands now: someone may have cancelled it meanwhile
        state = session.scalar(select(Delivery.state).where(Delivery.id == first_unpublished.id)) or State.SCHEDULED
    why: str = {
        State.CLAIMED: "the scheduler has just picked it up and is posting it: see `campaign status`",
        State.PUBLISHING: "it is being published right now: see `campaign status`",
        State.CANCELLED: "it is cancelled: put it back in the calendar and run `campaign schedule` first",
    }.get(State(state), f"it is {state}")
    return [], [Outcome(first_unpublished.id, "skipped", why)]
