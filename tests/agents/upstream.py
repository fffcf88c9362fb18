"""A small upstream MCP server for the gateway tests, written with the SDK: it logs every call it really runs.

    python tests/agents/upstream.py LOGFILE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

LOG = Path(sys.argv[1])
server = MCPServer("upstream")


def _ran(tool: str, arguments: dict[str, Any]) -> None:
    with LOG.open("a", encoding="utf-8") as log:
        log.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    _ran("echo", {"text": text})
    return text


@server.tool()
def wipe(target: str) -> str:
    """Delete everything under a target."""
    _ran("wipe", {"target": target})
    return f"wiped {target}"


@server.tool()
def pay(order: int, amount: float) -> dict[str, Any]:
    """Refund an order."""
    _ran("pay", {"order": order, "amount": amount})
    return {"refund": f"RF-{order}", "amount": amount}


if __name__ == "__main__":
    server.run("stdio")
