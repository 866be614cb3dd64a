"""How the PDS answers the credential failures the adapter must turn into CredentialsError, as the
atproto SDK raises them: wrong or revoked app password, a refresh after revocation, a taken-down account."""

from __future__ import annotations

import pytest
from atproto import Client
from atproto_client.exceptions import BadRequestError, UnauthorizedError

from tests.support.bluesky_fixtures import BlueskyNetwork

pytestmark = pytest.mark.integration


def test_app_password_posts_and_revoking_it_stops_new_logins_and_refreshes(bluesky_network: BlueskyNetwork) -> None:
    account = bluesky_network.create_account("apppassword")
    app_password = bluesky_network.create_app_password(account)
    assert app_password != account.password
    worker = Client(base_url=bluesky_network.pds_url)
    worker.login(account.handle, app_password)
    assert worker.send_post("Posted with an app password").uri.startswith(f"at://{account.did}/")

    bluesky_network.revoke_app_password(account)

    with pytest.raises(UnauthorizedError) as new_login:
        Client(base_url=bluesky_network.pds_url).login(account.handle, app_password, fetch_bsky_profile=False)
    assert new_login.value.response.status_code == 401
    assert new_login.value.response.content.error == "AuthenticationRequired"
    # The access token already issued still works until it expires...
    assert worker.send_post("Still inside the old access token").uri
    # ...but it can no longer be refreshed: a 400 (not a 401) with ExpiredToken.
    with pytest.raises(BadRequestError) as refresh:
        worker._refresh_and_set_session()
    assert refresh.value.response.status_code == 400
    assert refresh.value.response.content.error == "ExpiredToken"


def test_wrong_password_is_authentication_required(bluesky_network: BlueskyNetwork) -> None:
    account = bluesky_network.create_account("wrongpassword")
    with pytest.raises(UnauthorizedError) as refused:
        Client(base_url=bluesky_network.pds_url).login(account.handle, "not-the-password", fetch_bsky_profile=False)
    assert refused.value.response.content.error == "AuthenticationRequired"


def test_taken_down_account_cannot_log_in_or_post(bluesky_network: BlueskyNetwork) -> None:
    account = bluesky_network.create_account("takedown")
    client = bluesky_network.login(account)
    bluesky_network.take_down(account)
    with pytest.raises(UnauthorizedError) as posting:
        client.send_post("after the takedown")
    assert posting.value.response.content.error == "AccountTakedown"
    with pytest.raises(UnauthorizedError) as login:
        Client(base_url=bluesky_network.pds_url).login(account.handle, account.password, fetch_bsky_profile=False)
    assert login.value.response.content.error == "AccountTakedown"
    bluesky_network.take_down(account, applied=False)
    assert bluesky_network.login(account).send_post("reinstated").uri
