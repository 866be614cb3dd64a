"""The calendar files page's accessibility and safe-messaging section: per file, the findings by post with a count
per kind, in the same words as `campaign calendar check --accessibility`."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.web.operator_support import Workspace, make_workspace, signed_in

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = make_workspace(tmp_path)
    yield workspace
    workspace.api.close()


async def test_the_calendar_files_page_has_an_accessibility_section(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ws.campaigns / "demo" / "calendars" / "access.yaml"
    path.write_text(
        "campaign: demo\ntimezone: Europe/London\nposts:\n"
        "  - id: shouty\n    at: 2027-02-02 09:00\n    text: 'Act now #ACTONIICSA 🧡💜💚💙'\n"
        '  - id: quiet\n    at: 2027-02-02 10:00\n    text: "Mae\'n bwysig siarad #ActOnIICSA"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(ws.folder)
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(ws.folder / "var"))
    monkeypatch.setenv("CAMPAIGN_CAMPAIGNS_DIR", str(ws.campaigns))
    _code, output = invoke("calendar", "check", "--accessibility", "--json", "campaigns/demo/calendars/access.yaml")
    expected = json.loads(output)
    assert [group["post_id"] for group in expected["posts"]] == ["shouty"]
    async with signed_in(ws.api, "vic") as browser:
        page = (await browser.get("/calendars")).text
    section = page.split("access.yaml</code>", 1)[1].split('<section class="calendar-file', 1)[0]
    access = section.split('<section class="accessibility"', 1)[1]
    assert "Accessibility and safe messaging" in access
    assert "hashtags in one case: 1; too many emoji: 1." in access
    assert "Post <bdi>shouty</bdi>" in access and "quiet" not in access
    for finding in expected["posts"][0]["findings"]:  # the same words as the command line's
        assert html.escape(finding["message"], quote=False).replace("'", "&#39;") in access.replace("&#34;", '"')
    # Listed once, in this section, not again in the table of the file's other problems; the codes are for tools.
    for finding in expected["posts"][0]["findings"]:
        assert page.replace("&#34;", '"').count(html.escape(finding["message"], quote=False).replace("'", "&#39;")) == 1
        assert f"[{finding['code']}]" not in page and f'data-code="{finding["code"]}"' in access
    assert "nothing to fix" not in section
