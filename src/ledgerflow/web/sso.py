"""Single sign-on for the web UI (SPEC §13): OpenID Connect, authorization code with PKCE, through authlib.

authlib fetches the provider's metadata and keys, sends `state`, `nonce` and the PKCE challenge, and checks
the ID token's signature (against the provider's JWKS), issuer, audience, expiry and nonce. What is ours is
who that person is here: the configured claim (`email` by default; a verified address only) must name
exactly one person of the directory; anyone else, and every agent, gets a refusal page. Token sign-in stays
for agents and installations without a provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from httpx import HTTPError
from joserfc.errors import JoseError

from ledgerflow.domain.directory import Directory

SignIn = Callable[[Request, str], Response]
Refuse = Callable[[Request, str], Response]


@dataclass(frozen=True, slots=True)
class Provider:
    """One OpenID provider: where it is, who we are to it, and which claim names a person."""

    issuer: str
    client_id: str
    client_secret: str
    claim: str = "email"


def person_for(directory: Directory | None, claims: dict[str, Any], claim: str) -> tuple[str | None, str]:
    """The directory person the claims name, or None and the reason, said for the person at the browser."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        return None, f"The sign-in did not say your {claim}; ask your administrator to release that claim."
    if claim == "email" and claims.get("email_verified") is False:
        return None, f"{value} is not verified with your sign-in provider."
    if directory is None:
        return None, "No directory is loaded yet; ask your administrator."
    wanted = value.strip().casefold()
    found = [actor.id for actor in directory.actors if not actor.is_agent and (
        (claim == "email" and (actor.email or "").casefold() == wanted) or (claim != "email" and actor.id == value))]
    if len(found) != 1:
        return None, (f"{value} is not a person in the ledgerflow directory; ask your administrator to add you."
                      if not found else f"{value} names more than one person in the directory.")
    return found[0], ""


def router(provider: Provider, directory: Callable[[], Directory | None], sign_in: SignIn,
           refuse: Refuse) -> APIRouter:
    """`/signin/sso` sends the browser to the provider; `/signin/sso/callback` signs the person in."""
    oauth = OAuth()
    oauth.register("sso", client_id=provider.client_id, client_secret=provider.client_secret,
                   server_metadata_url=provider.issuer.rstrip("/") + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"})
    client: Any = oauth.create_client("sso")
    routes = APIRouter()

    @routes.get("/signin/sso")
    async def start(request: Request) -> Response:
        try:
            answer: Response = await client.authorize_redirect(request, str(request.url_for("sso_callback")))
        except HTTPError:
            return refuse(request, "The sign-in provider cannot be reached; try again, or sign in with a token.")
        return answer

    @routes.get("/signin/sso/callback", name="sso_callback", response_class=HTMLResponse)
    async def callback(request: Request) -> Response:
        try:
            token = await client.authorize_access_token(request)
            claims = dict(token.get("userinfo") or {})
            if provider.claim not in claims:  # some providers release it at the userinfo endpoint only
                claims.update(await client.userinfo(token=token))
        except (AuthlibBaseError, JoseError, HTTPError, KeyError, ValueError) as exc:
            detail = getattr(exc, "description", None) or getattr(exc, "error", None) or type(exc).__name__
            return refuse(request, f"The sign-in could not be completed ({detail}); please try again.")
        actor, why = person_for(directory(), claims, provider.claim)
        if actor is None:
            return refuse(request, why)
        return sign_in(request, actor)

    return routes
