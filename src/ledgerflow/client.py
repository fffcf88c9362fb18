"""A Python client for the REST API, and the approval gateway for AI agents and other systems.

    client = Client("https://ledgerflow.internal", token=os.environ["LEDGERFLOW_TOKEN"])
    approval = client.request_approval("agent-action-approval", action="refund", arguments={"order": 42},
                                       reason="the customer was charged twice", timeout=3600)
    client.consume(approval, {"order": 42})   # the server's single-use grant; raises ApprovalDenied if refused

An approval is bound to the exact action: the server keeps a grant (SPEC §11) bound to the token's actor, the
action's name, the SHA-256 of its arguments, the playbook version and an expiry, usable once; the decision's
`data_hash` covers the run's input too, so `approval.covers(action, arguments)` fails for anything else. It
names who decided and under what authority. `guard` wraps a function so that it runs only after a person with
the right authority approved that exact call and the server let this call use the grant, and records its
result on the run (the approval playbook's `execute` task, assigned to the agent).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import httpx

from ledgerflow.domain.canonical import digest

P = ParamSpec("P")
R = TypeVar("R")
DECIDING = ("task.decided", "run.completed", "run.rejected", "run.cancelled")


class ApiError(Exception):
    """An error answer (application/problem+json): its status, rule and detail."""

    def __init__(self, status: int, problem: dict[str, Any]):
        super().__init__(f"HTTP {status} [{problem.get('rule')}]: {problem.get('detail') or problem.get('title')}")
        self.status = status
        self.rule = problem.get("rule")
        self.problem = problem


class ApprovalDenied(Exception):
    """The decision was not `approve` (or no decision came in time); the action must not run."""

    def __init__(self, approval: Approval | None, message: str):
        super().__init__(message)
        self.approval = approval


@dataclass(frozen=True, slots=True)
class Approval:
    """A person's decision on one proposed action."""

    run: str
    task: str
    outcome: str
    approval: str
    """The server's approval id: the grant that `Client.consume` uses."""
    rationale: str | None
    decider: str
    authority: dict[str, Any]
    data_hash: str
    input: dict[str, Any]

    @property
    def approved(self) -> bool:
        return self.outcome == "approve"

    def covers(self, action: str, arguments: dict[str, Any]) -> bool:
        """True only for the exact action and arguments that were decided on."""
        return (self.input.get("action") == action and digest(self.input.get("arguments")) == digest(arguments)
                and digest({"input": self.input, "outputs": {}}) == self.data_hash)


def _answer(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text}
    raise ApiError(response.status_code, problem if isinstance(problem, dict) else {"detail": problem})


def _approval(run: dict[str, Any], step: str, approval: str) -> Approval | None:
    decided = [e for e in run["timeline"] if e["type"] == "task.decided" and e["step"] == step]
    if not decided:
        return None
    event = decided[-1]
    return Approval(run=run["run"], task=event["task"], outcome=event["data"]["outcome"], approval=approval,
                    rationale=event["data"].get("rationale"), decider=event["actor"], authority=event["authority"],
                    data_hash=event["data"]["data_hash"], input=run["input"])


def _sse(lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """(seq, type) of each server-sent event."""
    seq, kind = 0, ""
    for line in lines:
        if line.startswith("id:"):
            seq = int(line[3:].strip())
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line == "" and kind:
            yield seq, kind
            kind = ""


class Client:
    """The REST API over httpx (sync). Every method raises `ApiError` on an error answer."""

    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 30.0):
        self.http = httpx.Client(base_url=base_url.rstrip("/") + "/api/v1", transport=transport, timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, path: str, **params: Any) -> Any:
        return _answer(self.http.get(path, params={k: v for k, v in params.items() if v is not None}))

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _answer(self.http.post(path, json=body or {}, headers=headers))

    def start_run(self, playbook: str, input: dict[str, Any], *, why: str | None = None,
                  idempotency_key: str | None = None, attachments: Sequence[str] = ()) -> Any:
        """Start a run; `attachments` are hashes `upload` answered."""
        return self.post("/runs", {"playbook": playbook, "input": input, "why": why, "attachments": list(attachments)},
                         idempotency_key=idempotency_key)

    def upload(self, name: str, data: bytes) -> Any:
        """Store a document (an agent attaching what it gathered); refer to the `sha256` it answers in
        `start_run` or `complete`."""
        return _answer(self.http.post("/attachments", files={"file": (name, data)}))

    def attachment(self, sha256: str) -> bytes:
        """A document's bytes (rights as for reading a run it is attached to)."""
        response = self.http.get(f"/attachments/{sha256}")
        if response.is_error:
            _answer(response)
        return response.content

    def run(self, run_id: str) -> Any:
        return self.get(f"/runs/{run_id}")

    def inbox(self, *, after: str | None = None, limit: int | None = None) -> Any:
        """A page of the caller's open tasks, oldest ready first; pass the last task's id as `after` for more."""
        return self.get("/tasks", after=after, limit=limit)

    def task(self, task_id: str) -> Any:
        return self.get(f"/tasks/{task_id}")

    def complete(self, task_id: str, output: dict[str, Any] | None = None, *, attachments: Sequence[str] = ()) -> Any:
        return self.post(f"/tasks/{task_id}/complete", {"output": output, "attachments": list(attachments)})

    def decide(self, task_id: str, outcome: str, rationale: str | None = None, to: str | None = None) -> Any:
        return self.post(f"/tasks/{task_id}/decide", {"outcome": outcome, "rationale": rationale, "to": to})

    def recommend(self, task_id: str, outcome: str, rationale: str) -> Any:
        return self.post(f"/tasks/{task_id}/recommend", {"outcome": outcome, "rationale": rationale})

    def wait_for(self, run_id: str, kinds: tuple[str, ...], timeout: float) -> bool:
        """Follow the run's event stream until one of `kinds` arrives; False on timeout."""
        deadline, after = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            seconds = max(min(deadline - time.monotonic(), 60.0), 0.1)
            with self.http.stream("GET", f"/runs/{run_id}/events/stream",
                                  params={"after": after, "seconds": seconds}) as response:
                if not response.is_success:
                    response.read()
                    _answer(response)
                for seq, kind in _sse(response.iter_lines()):
                    after = max(after, seq)
                    if kind in kinds:
                        return True
        return False

    def request_approval(self, playbook: str, *, action: str, arguments: dict[str, Any], reason: str,
                         step: str = "approve", timeout: float = 3600.0) -> Approval:
        """Ask the server for an approval of one action (a grant bound to this token's actor) and wait for a
        person's decision.

        Raises:
            ApprovalDenied: no decision within `timeout`.
        """
        asked = self.post("/approvals", {"playbook": playbook, "action": action,
                                         "arguments": json.loads(json.dumps(arguments)), "reason": reason})
        run_id = asked["run"]
        self.wait_for(run_id, DECIDING, timeout)
        approval = _approval(self.run(run_id), step, asked["approval"])
        if approval is None:
            raise ApprovalDenied(None, f"no decision on run {run_id} within {timeout:.0f} s")
        return approval

    def approval(self, approval_id: str) -> Any:
        """The server's view of an approval: pending, approved (with its grant), rejected or expired."""
        return self.get(f"/approvals/{approval_id}")

    def consume(self, approval: Approval, arguments: dict[str, Any]) -> Any:
        """Use the approval's grant, once, for these exact arguments, right before acting.

        Raises:
            ApprovalDenied: the server refused the use (approval-mismatch, approval-used, approval-expired...).
        """
        try:
            return self.post(f"/approvals/{approval.approval}/consume", {"arguments": arguments})
        except ApiError as exc:
            if exc.status != 409 and exc.status != 403:
                raise
            raise ApprovalDenied(approval, f"the server refused the grant [{exc.rule}]: "
                                           f"{exc.problem.get('detail')}") from exc

    def record_result(self, approval: Approval, result: Any, *, step: str = "execute") -> Any:
        """Complete the approval run's `execute` task with the action's result."""
        run = self.run(approval.run)
        for task in run["tasks"]:
            if task["step"] == step and task["status"] in ("ready", "in_progress"):
                return self.complete(task["task"], {"result": json.loads(json.dumps(result, default=str))})
        return None

    def guard(self, playbook: str, *, reason: str,
              timeout: float = 3600.0) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: the call runs only after a person approved exactly these arguments and the server let
        this call use the grant (once); its result is recorded.

        Raises (from the wrapped call):
            ApprovalDenied: rejected, undecided in time, the approval does not cover this exact call, or the
                server refused the grant (used, expired, other arguments).
        """
        def wrap(function: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(function)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                action = f"{function.__module__}.{function.__qualname__}"
                arguments = json.loads(json.dumps({"args": list(args), "kwargs": kwargs}))
                approval = self.request_approval(playbook, action=action, arguments=arguments, reason=reason,
                                                 timeout=timeout)
                if not approval.approved:
                    raise ApprovalDenied(approval, f"{approval.decider} decided {approval.outcome}: "
                                                   f"{approval.rationale}")
                if not approval.covers(action, arguments):
                    raise ApprovalDenied(approval, "the approval does not cover this exact call")
                self.consume(approval, arguments)
                result = function(*args, **kwargs)
                self.record_result(approval, result)
                return result
            return guarded
        return wrap


class AsyncClient:
    """The same API for asyncio code: each call runs the sync client in a worker thread."""

    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 30.0):
        self.sync = Client(base_url, token, transport=transport, timeout=timeout)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def start_run(self, playbook: str, input: dict[str, Any], *, why: str | None = None) -> Any:
        return await asyncio.to_thread(self.sync.start_run, playbook, input, why=why)

    async def run(self, run_id: str) -> Any:
        return await asyncio.to_thread(self.sync.run, run_id)

    async def inbox(self) -> Any:
        return await asyncio.to_thread(self.sync.inbox)

    async def decide(self, task_id: str, outcome: str, rationale: str | None = None) -> Any:
        return await asyncio.to_thread(self.sync.decide, task_id, outcome, rationale)

    async def complete(self, task_id: str, output: dict[str, Any] | None = None) -> Any:
        return await asyncio.to_thread(self.sync.complete, task_id, output)

    async def request_approval(self, playbook: str, *, action: str, arguments: dict[str, Any], reason: str,
                               timeout: float = 3600.0) -> Approval:
        return await asyncio.to_thread(functools.partial(self.sync.request_approval, playbook, action=action,
                                                         arguments=arguments, reason=reason, timeout=timeout))

    async def consume(self, approval: Approval, arguments: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self.sync.consume, approval, arguments)
