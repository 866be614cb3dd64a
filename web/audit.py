"""Who did what, when: the events newest first, a page at a time, by one person or of one post. For approvers
and admins (it shows who signed in when, and every change to the people)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.api import Role
from web.app import render, requires

PER_PAGE = 50


@requires(Role.APPROVER)
async def audit_page(request: Request) -> Response:
    query = request.query_params
    who = query.get("who", "").strip()
    post = query.get("post", "").strip()
    campaign, _, post_id = post.rpartition("/")  # "campaign/post-id", or a post id alone
    everything = query.get("everything") == "1"
    try:
        page = max(1, int(query.get("page", "1")))
    except ValueError:
        page = 1
    found = await run_in_threadpool(
        lambda: request.app.state.api.audit(
            who=who, campaign=campaign, post_id=post_id, people_only=not everything, page=page, per_page=PER_PAGE
        )
    )
    kept = {k: v for k, v in (("who", who), ("post", post), ("everything", "1" if everything else "")) if v}

    def page_link(number: int) -> str:
        return "/audit?" + urlencode({**kept, "page": str(number)})

    return render(request, "audit.html", title="Who did what", audit=found, who=who, post=post,
                  everything=everything, page_link=page_link)  # fmt: skip


ROUTES = [Route("/audit", audit_page)]
