"""Live updates (issue #21 §7): the inbox and the board refresh over server-sent events."""

from __future__ import annotations

from fastapi import APIRouter

from ledgerflow.web.context import Web


def routes(web: Web) -> APIRouter:
    return APIRouter()
