"""Single sign-on (SPEC §13): the ID token's signature, issuer, audience, expiry, nonce and the OpenID `state`
are checked, and only a verified address of a directory person signs in; every refusal signs nobody in and
writes nothing.

The provider here is a small one on a real loopback socket whose token endpoint answers the ID token a test
crafts (a real provider never issues a wrong one); `test_sso_browser.py` signs in through the real
`oidc-provider` in Chromium.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ledgerflow.storage.store import Store
from ledgerflow.web.app import create_web_app
from tests.engine.helpers import snapshot
from tests.servers import serving
from tests.web.conftest import authenticate

CLIENT_ID, CLIENT_SECRET = "ledgerflow", "client-secret"
KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key"})


@dataclass
class FakeProvider:
    """What the token endpoint answers next, and what it was asked."""

    url: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: KEY)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    state = FakeProvider()

    async def discovery(_: Request) -> JSONResponse:
        return JSONResponse({"issuer": state.url, "authorization_endpoint": f"{state.url}/authorize",
                             "token_endpoint": f"{state.url}/token", "jwks_uri": f"{state.url}/jwks",
                             "userinfo_endpoint": f"{state.url}/userinfo",
                             "id_token_signing_alg_values_supported": ["RS256"]})

    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse(KeySet([KEY]).as_dict(private=False))

    async def token(request: Request) -> JSONResponse:
        state.token_requests.append(parse_qs((await request.body()).decode()))
        id_token = jwt.encode({"alg": "RS256", "kid": "provider-key"}, state.claims, state.key)
        return JSONResponse({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})

    async def userinfo(_: Request) -> JSONResponse:
        return JSONResponse({"sub": state.claims.get("sub")})

    app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks),
                            Route("/token", token, methods=["POST"]), Route("/userinfo", userinfo)])
    with serving(app) as url:
        state.url = url
        yield state


@pytest.fixture
def sso_web(store: Store, provider: FakeProvider) -> Iterator[tuple[TestClient, Store]]:
    db = Store(store.url, settings=replace(store.settings, oidc_issuer=provider.url, oidc_client_id=CLIENT_ID,
                                           oidc_client_secret=CLIENT_SECRET))
    with TestClient(create_web_app(db, authenticate, secret="sso-secret"), follow_redirects=False) as client:
        yield client, db
    db.close()


def _begin(client: TestClient) -> dict[str, str]:
    """Start a sign-in: where the browser is sent, with its state, nonce and PKCE challenge."""
    answer = client.get("/signin/sso")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["nonce"]
    return query


def _claims(provider: FakeProvider, sent_nonce: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": provider.url, "aud": CLIENT_ID, "sub": "u-1", "iat": now, "exp": now + 300,
              "nonce": sent_nonce, "email": "alice@example.com", "email_verified": True}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_directory_person_signs_in_with_the_provider(sso_web: tuple[TestClient, Store],
                                                       provider: FakeProvider) -> None:
    client, _ = sso_web
    query = _begin(client)
    provider.claims = _claims(provider, query["nonce"], email="ALICE@example.com")
    answer = client.get(f"/signin/sso/callback?code=c-1&state={query['state']}")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert 'id="actor">alice<' in client.get("/").text
    asked = provider.token_requests[-1]
    assert asked["code"] == ["c-1"] and asked["code_verifier"][0]  # the PKCE verifier went with the code
    assert "max-age=43200" in answer.headers["set-cookie"].lower()  # the session lasts LEDGERFLOW_SESSION_HOURS


REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "wrong audience": ({"aud": "another-app"}, "could not be completed"),
    "expired": ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "could not be completed"),
    "missing nonce": ({"nonce": None}, "could not be completed"),
    "another nonce": ({"nonce": "not-the-one-sent"}, "could not be completed"),
    "another issuer": ({"iss": "https://impostor.example"}, "could not be completed"),
    "unknown address": ({"email": "mallory@elsewhere.example"}, "not a person in the ledgerflow directory"),
    "unverified address": ({"email_verified": False}, "is not verified"),
    "no address": ({"email": None}, "did not say your email"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_sign_in_that_does_not_hold_signs_nobody_in_and_writes_nothing(
        sso_web: tuple[TestClient, Store], provider: FakeProvider, case: str) -> None:
    client, db = sso_web
    before = snapshot(db)
    query = _begin(client)
    changes, said = REFUSALS[case]
    provider.claims = _claims(provider, query["nonce"], **changes)
    answer = client.get(f"/signin/sso/callback?code=c-2&state={query['state']}")
    assert answer.status_code == 403 and said in answer.text, answer.text
    assert client.get("/").status_code == 303  # still signed out: back to the sign-in page
    assert snapshot(db) == before


def test_an_id_token_signed_by_another_key_is_refused(sso_web: tuple[TestClient, Store],
                                                      provider: FakeProvider) -> None:
    client, _ = sso_web
    query = _begin(client)
    provider.claims, provider.key = _claims(provider, query["nonce"]), OTHER_KEY
    try:
        answer = client.get(f"/signin/sso/callback?code=c-3&state={query['state']}")
    finally:
        provider.key = KEY
    assert answer.status_code == 403 and client.get("/").status_code == 303


def test_a_callback_with_a_state_this_browser_was_not_given_is_refused(sso_web: tuple[TestClient, Store],
                                                                       provider: FakeProvider) -> None:
    client, _ = sso_web
    query = _begin(client)
    provider.claims = _claims(provider, query["nonce"])
    asked = len(provider.token_requests)
    answer = client.get("/signin/sso/callback?code=c-4&state=forged-state")
    assert answer.status_code == 403 and len(provider.token_requests) == asked  # the code was never redeemed
    assert client.get("/").status_code == 303


def test_without_a_provider_the_sign_in_page_offers_tokens_only(web: TestClient) -> None:
    assert "/signin/sso" not in web.get("/signin").text
    assert web.get("/signin/sso").status_code == 404
