"""`POST /slack/interactions`: the Slack app's request URL for buttons and modals (SPEC §13).

Nothing in a request is read before its signature and timestamp verify (`slack_sdk.signature`, over the raw
body, five minutes either way); a forged or replayed request answers 401 and changes nothing. The route
answers 404 when the Slack app is not configured.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from ledgerflow.channels import slack_app
from ledgerflow.domain import limits
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.storage.store import Store


def router(store: Store) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    settings = store.settings

    @routes.post("/slack/interactions")
    async def interactions(request: Request) -> Response:
        if not settings.slack_app:
            raise HTTPException(404, "the Slack app is not configured")
        body = await request.body()
        verifier = SignatureVerifier(str(settings.slack_signing_secret))
        if not verifier.is_valid_request(body, dict(request.headers)):
            raise HTTPException(401, "the Slack signature or its timestamp does not verify")
        try:
            fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("the interaction is not a form", rule="slack-bad-interaction") from None
        payload = limits.parse_json(next(iter(fields.get("payload", [])), ""), "The Slack payload", settings.limits)
        if not isinstance(payload, dict):
            raise InvalidInput("the Slack payload is not an object", rule="slack-bad-interaction")
        answer = await run_in_threadpool(slack_app.interact, store, payload)
        return JSONResponse(answer) if answer is not None else Response(status_code=200)

    return routes
