"""The operator's buttons: pause and resume; cancel, restore, retry and post now for one post. Each button opens a
confirmation page that names exactly what will happen (the application's own preview, the one the CLI shows);
its form then calls the same API the CLI calls, with the signed-in person's name as the actor. Editors may
cancel, restore, retry and post now; approvers and admins may also pause and resume.

A confirmation carries what it showed (a fingerprint of the preview). If the post changed before the form came
back (someone else acted on it, or it went out), nothing is done and the new preview is shown instead: a person
only ever confirms what will really happen."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.api import (
    PLATFORMS,
    Api,
    PartPreview,
    PostPreview,
    Refused,
    Resumed,
    Role,
    local_time,
    platform_name,
)
from web.app import render, requires
from web.links import shown_path

Action = Literal["cancel", "retry", "post-now", "restore"]
ACTIONS: dict[str, Action] = {"cancel": "cancel", "restore": "restore", "retry": "retry", "post-now": "post-now"}
# What became of a part posted now, in words, and how it reads.
RESULTS = {
    "published": ("Posted", "ok"),
    "skipped": ("Not posted", "warn"),
    "held": ("Held back", "bad"),
    "retry": ("Not posted yet (it is tried again)", "bad"),
    "failed": ("Failed", "bad"),
}
VERBS = {"cancel": "Cancel", "retry": "Post late", "post-now": "Post now", "restore": "Restore"}
PAUSE_WAIT = timedelta(seconds=30)  # how long the pause page waits for posts already being sent
SENDING_NOW = (
    "it is being posted right now and cannot be called back; if that attempt fails it ends cancelled. Look at "
    "the status page in a minute."
)
WENT_OUT = (
    "it went out while you were confirming, so it was not cancelled: it stays up. Delete it on the platform if it "
    "must not be up."
)
MAYBE_LIVE = (
    "its last attempt ended with an unknown outcome, so it may be live already. Check the account and delete it "
    "there if it must not be up."
)


@dataclass(frozen=True)
class Line:
    """One line of an outcome, and how it reads: "ok", "warn" or "bad"."""

    text: str
    tone: str = "ok"
    link: str = ""  # words shown as a link after the text, to `href`; then `after`
    href: str = ""
    after: str = ""


@dataclass(frozen=True)
class PreviewRow:
    """Some parts of a post on one platform that stand and change alike (as the CLI groups them)."""

    parts: str
    stands: str
    effect: str
    changes: bool
    maybe_live: bool


def _api(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


def _actor(request: Request) -> str:
    return str(request.state.visitor.person.name)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- pause and resume -----------------------------------------------------------------------------------------


@requires(Role.APPROVER)
async def pause_page(request: Request) -> Response:
    return render(request, "pause.html", title="Pause posting")


@requires(Role.APPROVER)
async def pause(request: Request) -> Response:
    reason = str((await request.form()).get("reason", "")).strip()
    if not reason:
        error = "Say why posting is paused: everyone sees the reason until someone resumes."
        return render(request, "pause.html", 400, title="Pause posting", error=error)
    still = await run_in_threadpool(_api(request).pause, reason=reason, actor=_actor(request), wait=PAUSE_WAIT)
    lines = [Line("Paused. Nothing more will be posted until someone resumes.", "warn")]
    if still:
        wait = int(PAUSE_WAIT.total_seconds())
        lines.append(Line(f"{_count(still, 'post')} were still being sent after {wait} s: they may still go out. "
                          "The status page shows them.", "bad"))  # fmt: skip
    return render(request, "done.html", title="Posting is paused", lines=lines)


@requires(Role.APPROVER)
async def resume_page(request: Request) -> Response:
    preview = await run_in_threadpool(_api(request).resume_preview)
    return render(request, "resume.html", title="Resume posting", summary=preview, chosen={})


@requires(Role.APPROVER)
async def resume(request: Request) -> Response:
    """Resume with a choice for each post whose time came while paused (form fields `late:campaign/post_id`, post
    or leave), read against the list as it stands now: a post the person was not shown has no choice, so nothing
    changes and the page is shown again with it."""
    form = await request.form()
    api = _api(request)
    preview = await run_in_threadpool(api.resume_preview)
    if not preview.paused:
        return render(request, "done.html", title="Posting was not paused", lines=[Line("Nothing changed.")])
    chosen: dict[str, Literal["post", "leave"]] = {}
    for post in preview.to_decide:
        value = form.get(f"late:{post.key}")
        if value in ("post", "leave"):
            chosen[post.key] = "post" if value == "post" else "leave"
    missing = [post for post in preview.to_decide if post.key not in chosen]
    if missing:
        error = (
            "Nothing changed, posting is still paused: choose for each post whether to post it now, late, or leave "
            "it missed."
        )
        return render(request, "resume.html", 400, title="Resume posting", summary=preview, chosen=chosen,
                      error=error, missing=missing)  # fmt: skip
    try:
        resumed = await run_in_threadpool(api.resume, actor=_actor(request), choices=chosen)
    except Refused:  # another post's time came this very moment: shown, to choose for it too
        fresh = await run_in_threadpool(api.resume_preview)
        error = "Nothing changed, posting is still paused: another post's time came just now. Choose for it too."
        missing = [post for post in fresh.to_decide if post.key not in chosen]
        return render(request, "resume.html", 409, title="Resume posting", summary=fresh, chosen=chosen,
                      error=error, missing=missing)  # fmt: skip
    if not resumed.paused:
        return render(request, "done.html", title="Posting was not paused", lines=[Line("Nothing changed.")])
    return render(request, "done.html", title="Posting resumed", lines=_resumed(resumed, api.settings.timezone))


def _resumed(resumed: Resumed, zone: str) -> list[Line]:
    pause = resumed.pause
    since = f" on {local_time(pause.paused_at, zone)}" if pause.paused_at else ""
    by = f" by {pause.paused_by}" if pause.paused_by else ""
    lines = [Line(f"Resumed. Posting was paused{by}{since}: {pause.reason or 'no reason given'}.")]
    if not pause.passed:
        return [*lines, Line("No post's time came while it was paused.")]
    posts = {post.key: post for post in pause.passed}

    def named(text: str, key: str, tone: str, after: str = ".") -> Line:
        post = posts.get(key)
        if post is None:
            return Line(f"{text}{key}{after}", tone)
        href = f"/posts/{quote(post.campaign, safe='')}/{quote(post.post_id, safe='')}"
        return Line(text, tone, link=f"“{post.first_words}”", href=href, after=after)

    lines += [named("Posted now, late: ", key, "warn") for key in resumed.posted_late]
    lines += [named("Not posted: ", key, "neutral", ". To post it later, open it and press Post late.")
              for key in resumed.left_missed]  # fmt: skip
    lines += [named("Still held by a hold: ", key, "warn") for key in resumed.still_held]
    return lines


# --- one post ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    action: Action
    campaign: str
    post_id: str
    platform: str | None

    @property
    def post_page(self) -> str:
        return f"/posts/{self.campaign}/{self.post_id}"


def _target(request: Request, form: Any = None) -> Target | Response:
    action = ACTIONS.get(request.path_params["action"])
    if action is None:
        return render(request, "error.html", 404, title="Not found", message="There is no such button.")
    raw = (form if form is not None else request.query_params).get("platform") or None
    if raw is not None and raw not in PLATFORMS:
        return render(request, "error.html", 400, title="Unknown platform",
                      message=f"Choose one of {', '.join(platform_name(p) for p in PLATFORMS)}.")  # fmt: skip
    return Target(action, request.path_params["campaign"], request.path_params["post_id"], raw)


def seen_of(preview: PostPreview) -> str:
    """What a confirmation showed, in short: each part's state and whether the action changes it."""
    shown = "|".join(f"{p.id}:{p.state}:{p.changes}:{p.late}" for p in preview.parts)
    return hashlib.sha256(f"{preview.action}|{preview.paused}|{shown}".encode()).hexdigest()[:20]


def _part_name(platform: str, part: int) -> str:
    return platform_name(platform) + (f" part {part + 1}" if part else "")


def _parts_name(platform: str, parts: list[int]) -> str:
    if len(parts) == 1:
        return _part_name(platform, parts[0])
    if parts[0] == 0:
        replies = len(parts) - 1
        return f"{platform_name(platform)}: the post and its {replies} thread repl{'y' if replies == 1 else 'ies'}"
    return f"{platform_name(platform)}: thread parts {parts[0] + 1} to {parts[-1] + 1}"


def _stands(part: PartPreview, preview: PostPreview) -> str:
    zone = preview.timezone
    when = "" if part.due_at == preview.planned_at else f" for {local_time(part.due_at, zone)}"
    if part.state == "published":
        return f"published {local_time(part.published_at, zone)}"
    if part.state == "scheduled":
        return f"scheduled{when}"
    if part.state in ("claimed", "publishing"):
        return "posting now"
    return part.state + (f" (it was due{when})" if when else "")


def preview_rows(preview: PostPreview) -> list[PreviewRow]:
    """The preview as the CLI shows it: a platform's parts that stand and change alike on one row."""
    groups: list[tuple[tuple[str, str, str, bool, bool], list[int]]] = []
    for part in preview.parts:
        key = (part.platform, _stands(part, preview), part.effect, part.changes, part.maybe_live and part.changes)
        if groups and groups[-1][0] == key and part.state != "published":
            groups[-1][1].append(part.part)
        else:
            groups.append((key, [part.part]))
    return [PreviewRow(_parts_name(k[0], parts), k[1], k[2], k[3], k[4]) for k, parts in groups]


def _shown_file(api: Api, source: str) -> str:
    return shown_path(api.settings.campaigns_dir.parent, source)


def _confirm(request: Request, target: Target, preview: PostPreview, status_code: int = 200, **notes: Any) -> Response:
    api = _api(request)
    title = f"{VERBS[target.action]}: post {preview.post_id}"
    return render(request, "confirm.html", status_code, title=title, target=target, preview=preview,
                  rows=preview_rows(preview), seen=seen_of(preview), source=_shown_file(api, preview.source),
                  verb=VERBS[target.action], **notes)  # fmt: skip


def _told(request: Request, target: Target, refusal: Refused) -> Response:
    """A refused action: the application's own words, and the way back. Nothing was done."""
    return render(request, "refused.html", 409, title="Nothing was done", target=target, lines=refusal.lines)


@requires(Role.EDITOR)
async def confirm(request: Request) -> Response:
    target = _target(request)
    if isinstance(target, Response):
        return target
    if target.action == "post-now" and target.platform is None:
        return render(request, "choose_platform.html", title=f"Post {target.post_id} now: where?", target=target,
                      platforms=PLATFORMS)  # fmt: skip
    try:
        preview = await run_in_threadpool(
            _api(request).describe_post, target.post_id, target.action, campaign=target.campaign,
            platform=target.platform,
        )  # fmt: skip
    except Refused as refusal:
        return _told(request, target, refusal)
    return _confirm(request, target, preview)


@requires(Role.EDITOR)
async def act(request: Request) -> Response:
    form = await request.form()
    target = _target(request, form)
    if isinstance(target, Response):
        return target
    api, actor = _api(request), _actor(request)
    # The preview again, as it is now: only what the person confirmed is done.
    try:
        preview = await run_in_threadpool(
            api.describe_post, target.post_id, target.action, campaign=target.campaign,
            platform=target.platform,
        )  # fmt: skip
    except Refused as refusal:
        return _told(request, target, refusal)
    if form.get("seen") != seen_of(preview):
        return _confirm(request, target, preview, 409, changed=True)
    late = str(form.get("late", ""))
    if target.action == "restore" and preview.late and late not in ("post", "leave"):
        return _confirm(request, target, preview, 400, error="Choose whether to post it now, late, or leave it missed.")
    try:
        lines = await run_in_threadpool(_do, api, target, preview, actor, late, str(form.get("reason", "")).strip())
    except Refused as refusal:
        return _told(request, target, refusal)
    return render(request, "done.html", title=f"{VERBS[target.action]}: post {target.post_id}", lines=lines,
                  target=target)  # fmt: skip


def _do(api: Api, target: Target, preview: PostPreview, actor: str, late: str, reason: str) -> list[Line]:
    post_id, campaign, platform = target.post_id, preview.campaign, target.platform
    if target.action == "cancel":
        cancelled = api.cancel(post_id, actor=actor, campaign=campaign)
        lines = [Line(f"Cancelled {post_id}: {_count(len(cancelled.cancelled), 'part')} will not be posted.")]
        lines += [Line(f"{where}: {SENDING_NOW}", "warn") for where in cancelled.in_flight]
        # What the confirmation said would be cancelled, but went out in the moment between: said, not hidden.
        done = set(cancelled.cancelled) | set(cancelled.in_flight)
        lines += [Line(f"{_part_name(p.platform, p.part)}: {WENT_OUT}", "bad") for p in preview.changing
                  if p.id not in done and f"{p.platform} part {p.part}" not in done]  # fmt: skip
        lines += [Line(f"{where}: {MAYBE_LIVE}", "warn") for where in cancelled.maybe_live]
        return lines
    if target.action == "restore":
        choice: Literal["post", "leave"] | None = None
        if preview.late:
            choice = "post" if late == "post" else "leave"
        restored = api.restore(post_id, actor=actor, reason=reason, campaign=campaign, platform=platform, late=choice)
        lines = []
        if restored.scheduled:
            lines.append(Line(f"Restored {post_id}: {_count(len(restored.scheduled), 'part')} back to scheduled."))
        if restored.posted_late:
            lines.append(Line(f"Restored {post_id}: {_count(len(restored.posted_late), 'part')} go out now, late.",
                              "warn"))  # fmt: skip
        if restored.left_missed:
            lines.append(Line(f"Restored {post_id}: {_count(len(restored.left_missed), 'part')} left missed (retry "
                              "it to post it late).", "warn"))  # fmt: skip
        lines += [Line(f"{where}: it is being posted right now; it is no longer cancelled if that attempt fails.")
                  for where in restored.in_flight]  # fmt: skip
        return lines
    if target.action == "retry":
        rearmed = api.retry(post_id, actor=actor, campaign=campaign, platform=platform)
        where = ", ".join(sorted({platform_name(p.platform) for p in preview.changing}))
        return [Line(f"{post_id}: {_count(len(rearmed), 'part')} on {where} go out late, at the scheduler's next "
                     "check (within seconds while it is running).")]  # fmt: skip
    assert platform is not None  # post now always names its platform (the confirmation asks first)
    outcomes = api.post_now(post_id, platform, actor=actor, campaign=campaign)
    names = {p.id: _part_name(p.platform, p.part) for p in preview.parts}
    lines = []
    for outcome in outcomes:
        word, tone = RESULTS.get(outcome.result, (outcome.result, "bad"))
        where = names.get(outcome.delivery_id, platform_name(platform))
        lines.append(Line(f"{word}: {post_id} on {where}" + (f": {outcome.detail}" if outcome.detail else "."), tone))
    if platform in api.settings.dry_run_platforms() and any(o.result == "published" for o in outcomes):
        lines.append(Line(f"Dry run for {platform_name(platform)}: no account is set up, so nothing was really "
                          "posted; it was only written to a file in the workspace.", "warn"))  # fmt: skip
    return lines


ROUTES = [
    Route("/pause", pause_page, methods=["GET"]),
    Route("/pause", pause, methods=["POST"]),
    Route("/resume", resume_page, methods=["GET"]),
    Route("/resume", resume, methods=["POST"]),
    Route("/posts/{campaign}/{post_id}/{action}", confirm, methods=["GET"]),
    Route("/posts/{campaign}/{post_id}/{action}", act, methods=["POST"]),
]
