"""The dispatch policy: what is due, who holds it, what happens when it is late, paused or fails.

Every decision takes `now` from the caller. Every transition is a guarded change inside one short
transaction (BEGIN IMMEDIATE on SQLite, row locks with SKIP LOCKED on PostgreSQL) and leaves an event.

    scheduled -> claimed -> publishing -> published | failed | missed | cancelled

A claim carries a lease. A claimed delivery whose lease runs out (its task was lost with Redis or a worker)
goes back to scheduled; a publishing one whose lease runs out also goes back, marked `outcome_unknown`, so
the adapter reconciles by idempotency key before writing again. Nothing is ever posted twice by the
dispatcher itself: the adapter's idempotency is the second lock on that door.

    policy            DispatchPolicy and the values decisions hand out (Claim, PublishJob, Skip, ...)
    transitions       record an event, change a state, lock the rows a change reads
    pausing           the pause switch
    claiming          the tick, and the claims made at once for post-now and thread replies
    attempts          begin, complete or fail a publish attempt; release a claim; extend a lease
    operator_actions  cancel, retry, bring forward
"""

from scheduler.dispatch.attempts import begin_publish, complete_publish, extend_lease, fail_publish, release
from scheduler.dispatch.claiming import claim_now, claim_replies, tick
from scheduler.dispatch.operator_actions import Cancellation, OperatorError, cancel, retry, set_due_now
from scheduler.dispatch.pausing import PAUSE_REASON_KEY, PAUSED_KEY, in_flight, is_paused, pause, pause_state, resume
from scheduler.dispatch.policy import Claim, DispatchPolicy, PublishJob, RemoteRef, Skip, TickResult
from scheduler.dispatch.transitions import record, transition

# Callers read the pause switch's row model as `dispatch.Setting` (it was imported here before the split).
from scheduler.models import Setting

__all__ = [
    "PAUSED_KEY",
    "PAUSE_REASON_KEY",
    "Cancellation",
    "Claim",
    "DispatchPolicy",
    "OperatorError",
    "PublishJob",
    "RemoteRef",
    "Setting",
    "Skip",
    "TickResult",
    "begin_publish",
    "cancel",
    "claim_now",
    "claim_replies",
    "complete_publish",
    "extend_lease",
    "fail_publish",
    "in_flight",
    "is_paused",
    "pause",
    "pause_state",
    "record",
    "release",
    "resume",
    "retry",
    "set_due_now",
    "tick",
    "transition",
]
