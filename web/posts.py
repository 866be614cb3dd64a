"""The post page: the post as each platform will show it (from the parts we will send), and its history; and
the images those parts send, served only to people signed in and only when a part of that post sends them."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scheduler.api import Api, NotFound, Role
from web.app import render, requires
from web.approvals import approval_panel
from web.calendar import refused
from web.links import shown_path

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _api(request: Request) -> Api:
    return request.app.state.api


@requires(Role.VIEWER)
async def post_page(request: Request) -> Response:
    campaign, post_id = request.path_params["campaign"], request.path_params["post_id"]
    try:
        post = _api(request).post_page(campaign, post_id)
    except NotFound as error:
        return refused(request, error)
    source = shown_path(_api(request).settings.campaigns_dir.parent, post.source)
    return render(request, "post.html", post=post, source=source, approval=approval_panel(request, campaign, post_id))


@requires(Role.VIEWER)
async def post_image(request: Request) -> Response:
    campaign, sha256, post_id = (request.path_params[k] for k in ("campaign", "sha256", "post_id"))
    try:
        if not _SHA256.fullmatch(sha256):
            raise NotFound("There is no such image.")
        image = _api(request).post_image(campaign, post_id, sha256)
    except NotFound as error:
        return refused(request, error)
    return Response(image.data, media_type=image.media_type, headers={"content-disposition": "inline"})


ROUTES = [
    Route("/posts/{campaign}/{post_id}", post_page),
    Route("/images/{campaign}/{sha256}/{post_id}", post_image),
]
