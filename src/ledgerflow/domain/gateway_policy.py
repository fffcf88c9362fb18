"""The MCP gateway's policy (issue #22 item 4): per upstream tool, `allow`, `deny` or `ask: PLAYBOOK`.

    timeout: 10m                  # how long an `ask` waits for the decision (default 10m)
    default: deny                 # tools the policy does not name (default deny)
    tools:
      read_file: allow
      delete_repo: deny
      send_payment: {ask: agent-action-approval}

A tool the policy does not name takes `default`, so a tool the upstream adds later is never allowed by
accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ledgerflow.domain.durations import parse_duration
from ledgerflow.domain.errors import InvalidInput

ALLOW, DENY, ASK = "allow", "deny", "ask"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """What the gateway does with one tool: allow, deny, or ask a person through `playbook`."""

    kind: str
    playbook: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    tools: dict[str, Rule] = field(default_factory=dict)
    default: Rule = Rule(kind=DENY)
    timeout: timedelta = timedelta(minutes=10)

    def rule(self, tool: str) -> Rule:
        return self.tools.get(tool, self.default)


def _rule(value: Any, where: str) -> Rule:
    if value in (ALLOW, DENY):
        return Rule(kind=str(value))
    if isinstance(value, dict) and set(value) == {ASK} and isinstance(value[ASK], str) and value[ASK]:
        return Rule(kind=ASK, playbook=value[ASK])
    raise InvalidInput(f"{where}: write allow, deny or {{ask: PLAYBOOK}}, not {value!r}", rule="bad-policy")


def load_policy(data: Any) -> Policy:
    """A policy from its parsed YAML.

    Raises:
        InvalidInput: `bad-policy`, naming the entry that is wrong.
    """
    if not isinstance(data, dict) or not isinstance(data.get("tools", {}), dict):
        raise InvalidInput("a gateway policy is a mapping with `tools: {TOOL: allow | deny | {ask: PLAYBOOK}}`",
                           rule="bad-policy")
    unknown = set(data) - {"tools", "default", "timeout"}
    if unknown:
        raise InvalidInput(f"unknown policy keys: {', '.join(sorted(unknown))}", rule="bad-policy")
    try:
        timeout = parse_duration(str(data.get("timeout", "10m")))
    except ValueError as exc:
        raise InvalidInput(f"timeout: {exc}", rule="bad-policy") from None
    return Policy(tools={str(name): _rule(value, f"tools.{name}") for name, value in data.get("tools", {}).items()},
                  default=_rule(data.get("default", DENY), "default"), timeout=timeout)
