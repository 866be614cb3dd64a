"""Approve and Reject on a post's page: an approver reads the post as each platform will show it, then approves
or rejects that version with a comment, in their own name. The form carries the version it showed: if the post
was scheduled again meanwhile, nothing is recorded and they are asked to read it again. Whoever scheduled a
version cannot approve it (unless the campaign allows it): the page says so, and the application refuses it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.api import Api, ApprovalPanel, Decision, NotFound, Refused, Role, UsageRefused, local_time
from web.app import render, requires


@dataclass(frozen=True)
class Said:
    """One line of the outcome, and how it reads: "ok", "warn" or "bad"."""

    text: str
    tone: str = "ok"


@dataclass(frozen=True)
class PostLink:
    campaign: str
    post_id: str

    @property
    def post_page(self) -> str:
        return f"/posts/{self.campaign}/{self.post_id}"


def _api(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


def approval_panel(request: Request, campaign: str, post_id: str) -> ApprovalPanel | None:
    """The approval box of the post page, for the person signed in (None when there is no such post)."""
    try:
        return _api(request).approval_panel(campaign, post_id, viewer=request.state.visitor.person.name)
    except NotFound:
        return None


def _lines(decision: Decision) -> list[Said]:
    head = f"{decision.post_id} (version {decision.version}, “{decision.first_words}”)"
    when = local_time(decision.at, decision.timezone)
    if decision.verdict == "rejected":
        lines = [Said(f"Rejected {head}: it will not go out at {when} unless it is changed and approved.", "warn")]
        lines += [Said(f"{where} was already being posted: it was too late to hold it. Check the account.", "bad")
                  for where in decision.in_flight]  # fmt: skip
        return lines
    if not decision.recorded:
        return [Said(f"You had approved {head} already: nothing changed.")]
    if decision.state.approved:
        return [Said(f"Approved {head}: it goes out at {when}.")]
    return [Said(f"Approved {head}: it still {decision.state.words()}.", "warn")]


async def _decide(request: Request, verdict: str) -> Response:
    form = await request.form()
    post = PostLink(request.path_params["campaign"], request.path_params["post_id"])
    comment = str(form.get("comment", "")).strip()
    version = str(form.get("version", "")) or None
    api, name = _api(request), str(request.state.visitor.person.name)
    try:
        if verdict == "approved":
            decisions = await run_in_threadpool(
                api.approve, [post.post_id], person=name, campaign=post.campaign, comment=comment,
                expected_hash=version,
            )  # fmt: skip
            decision = decisions[0]
        else:
            decision = await run_in_threadpool(
                api.reject, post.post_id, person=name, reason=comment, campaign=post.campaign, expected_hash=version
            )
    except Refused as refusal:
        status = 404 if isinstance(refusal, NotFound) else 400 if isinstance(refusal, UsageRefused) else 409
        return render(request, "refused.html", status, title="Nothing was done", target=post, lines=refusal.lines)
    title = f"{'Approved' if verdict == 'approved' else 'Rejected'}: post {post.post_id}"
    return render(request, "done.html", title=title, lines=_lines(decision), target=post)


@requires(Role.APPROVER)
async def approve(request: Request) -> Response:
    return await _decide(request, "approved")


@requires(Role.APPROVER)
async def reject(request: Request) -> Response:
    return await _decide(request, "rejected")


# Listed before the operator's /posts/{campaign}/{post_id}/{action} routes, which would otherwise take these.
ROUTES = [
    Route("/posts/{campaign}/{post_id}/approve", approve, methods=["POST"]),
    Route("/posts/{campaign}/{post_id}/reject", reject, methods=["POST"]),
]
