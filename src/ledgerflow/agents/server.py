"""The Model Context Protocol server (SPEC §11): the tools and resources an AI agent works through.

Each tool is the same use case as the REST route of the same name (`remote`, `views`, `approvals`), for the
actor whose token the connection carries, recorded with channel `mcp`. A refusal comes back as a tool error
whose text starts with the rule name (`not-assignee: ...`), so a model can tell a rule from a crash and say
why; nothing is written by a refused call. Results are JSON objects shaped like the REST API's answers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ledgerflow.api.models import RunStarted, TaskContextOut, TaskOut, TaskResult, Uploaded
from ledgerflow.domain.errors import InvalidInput, LedgerflowError
from ledgerflow.engine import api_commands, api_queries, approvals, documents
from ledgerflow.engine.tokens import Principal
from ledgerflow.storage.store import Store

CHANNEL = "mcp"
Result = Annotated[CallToolResult, dict[str, Any]]
Identify = Callable[[Context], Principal]
"""Who the current call speaks for: the stdio server's token, or the HTTP request's bearer token."""
Call = Callable[[Context, Callable[[Principal], dict[str, Any]]], Awaitable[CallToolResult]]
"""Run a use case for the call's principal and answer it as a tool result."""

INSTRUCTIONS = """\
ledgerflow runs operations playbooks in which people keep the judgment and every act is recorded in a \
tamper-evident history. You act as one directory actor (an agent), with that actor's rights only.
Typical loop: list_my_tasks -> get_task (read the clarity answers: what, why, success, due; the run's data; \
the rights at the step) -> complete_task or recommend. Decide only where get_task lists `decide` in `you_may`.
Before any risky action outside ledgerflow, call request_approval with the exact arguments, poll get_approval \
until it is approved, then consume_approval with the same arguments right before acting; act only if that \
succeeds. A tool error starts with a rule name (e.g. `not-assignee:`); it means the rules refused the call and \
nothing was changed: do not retry the same call, report the rule to your operator.
The `ledgerflow://playbooks/...` resources hold the playbooks, `ledgerflow://directory` who holds which role."""

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)

TaskId = Annotated[str, Field(description="A task id, e.g. from list_my_tasks (`t_...`).")]
Rationale = Annotated[str, Field(description="Why, in a sentence or two a person can check; it is recorded.")]
ApprovalId = Annotated[str, Field(description="The approval id that request_approval answered (`ap_...`).")]
Arguments = Annotated[dict[str, Any], Field(description="The action's exact arguments, as a JSON object.")]
Attachments = Annotated[list[str], Field(
    description="SHA-256 hashes of documents you stored with attach_document, to attach to this act.")]


def refusal(exc: LedgerflowError) -> CallToolResult:
    """A tool error whose text starts with the rule name; its structured content carries rule and details."""
    return CallToolResult(content=[TextContent(type="text", text=f"{exc.rule}: {exc.message}")], is_error=True,
                          structured_content={"rule": exc.rule, "detail": exc.message, "details": exc.details})


def answer(value: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(value, default=str))],
                          structured_content=value)


async def run_command(work: Callable[[], dict[str, Any]]) -> CallToolResult:
    """Run a blocking use case off the event loop; a ledgerflow error becomes a tool error."""
    try:
        return answer(await anyio.to_thread.run_sync(work))
    except LedgerflowError as exc:
        return refusal(exc)


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return dumped


def build_server(store: Store, identify: Identify) -> MCPServer:
    """The MCP server over `store`; `identify` names the principal of each call (checked on every call, so a
    revoked token stops working at once)."""
    server = MCPServer("ledgerflow", title="ledgerflow", instructions=INSTRUCTIONS, log_level="WARNING")

    async def call(ctx: Context, work: Callable[[Principal], dict[str, Any]]) -> CallToolResult:
        try:
            principal = await anyio.to_thread.run_sync(lambda: identify(ctx))
        except LedgerflowError as exc:
            return refusal(exc)
        return await run_command(lambda: work(principal))

    def task_result(principal: Principal, verb: str, task: str, **args: Any) -> dict[str, Any]:
        return _dump(TaskResult.of(api_commands.task_command(store, principal, verb, task, channel=CHANNEL, **args)))

    @server.tool(annotations=_READ)
    async def list_my_tasks(ctx: Context, after: Annotated[str | None, Field(
            description="The last task id of the previous page, to read the next page.")] = None,
                            limit: Annotated[int, Field(ge=1, le=200)] = 50) -> Result:
        """The open tasks assigned to you, oldest first: `{"tasks": [...]}`, each with its id, step, type
        (task, decision, action, review), status, due time and the run's one-line summary. Start here; then
        call get_task on one to read what it asks for."""
        def work(who: Principal) -> dict[str, Any]:
            tasks, about = api_queries.inbox(store, who, after=after, limit=limit)
            return {"tasks": [_dump(TaskOut.of(t, about.get(t.run or ""))) for t in tasks]}
        return await call(ctx, work)

    @server.tool(annotations=_READ)
    async def get_task(ctx: Context, task: TaskId) -> Result:
        """One task with everything a person would see before acting: the clarity answers (what to do, why,
        what success looks like, owner, due), the run's input and the earlier steps' outputs it may read,
        recommendations and decisions so far, the decision rights at this step (who may approve, recommend,
        separation of duties, whether you are excluded), the SLA clock, the schema its output must meet
        (`produces`) and `you_may`: the commands you may try now. A task you take no part in is unknown."""
        return await call(ctx, lambda who: _dump(TaskContextOut.of(api_queries.task(store, who, task))))

    @server.tool(annotations=_WRITE)
    async def start_run(ctx: Context, playbook: Annotated[str, Field(description="A published playbook id.")],
                        input: Annotated[dict[str, Any], Field(
                            description="The run's data; must meet the playbook's input schema.")],
                        why: Annotated[str | None, Field(description="What this run is for, for people.")] = None,
                        attachments: Attachments | None = None) -> Result:
        """Start a run of a playbook as you. Answers `{"run", "status", "tasks"}` with the tasks it opened.
        Refused when the playbook is paused or stopped, or the input does not meet its schema."""
        def work(who: Principal) -> dict[str, Any]:
            run, opened = api_commands.start_run(store, who, playbook, input, why=why, version=None,
                                           attachments=attachments or (), channel=CHANNEL)
            return _dump(RunStarted(run=run.id, status=str(run.status), tasks=[TaskOut.of(t) for t in opened]))
        return await call(ctx, work)

    @server.tool(annotations=_WRITE)
    async def complete_task(ctx: Context, task: TaskId, output: Annotated[dict[str, Any], Field(
            description="The task's output; must meet the step's `produces` schema (see get_task).")],
                            attachments: Attachments | None = None) -> Result:
        """Complete a task assigned to you with its output, and with the documents you gathered for it (their
        hashes from attach_document); the run moves on (checks run at once). Answers the task, the run's
        status and the tasks it opened. Only the assignee may complete a task."""
        args: dict[str, Any] = {"output": output, **({"attachments": attachments} if attachments else {})}
        return await call(ctx, lambda who: task_result(who, "complete", task, **args))

    @server.tool(annotations=_WRITE)
    async def attach_document(ctx: Context, name: Annotated[str, Field(description="The file name, e.g. deal.pdf.")],
                              content_base64: Annotated[str, Field(
                                  description="The document's bytes, base64-encoded.")]) -> Result:
        """Store a document you gathered (a PDF, an image, a text or Office file) so that start_run or
        complete_task can attach it by the `sha256` this answers. Its type is read from its content; a type
        not allowed, a file too large or one the scanner refuses is a tool error, and nothing is stored."""
        def work(who: Principal) -> dict[str, Any]:
            try:
                data = base64.b64decode(content_base64, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("content_base64 is not base64", rule="bad-base64") from None
            return _dump(Uploaded(**documents.upload(store, who, name, data).record()))
        return await call(ctx, work)

    @server.tool(annotations=_WRITE)
    async def recommend(ctx: Context, task: TaskId, outcome: Annotated[str, Field(
            description="One of the decision's options, e.g. approve, reject, send_back.")],
                        rationale: Rationale) -> Result:
        """Record your recommendation on an open decision that a person will take. It never decides and
        never blocks; it is shown to the decider with the data it was based on. Allowed to holders of the
        step's `recommend` right; a newer recommendation of yours replaces the older one."""
        return await call(ctx, lambda who: task_result(who, "recommend", task, outcome=outcome,
                                                       rationale=rationale))

    @server.tool(annotations=_WRITE)
    async def decide(ctx: Context, task: TaskId, outcome: Annotated[str, Field(
            description="One of the decision's options (see get_task: rights.options).")],
                     rationale: Rationale | None = None,
                     to: Annotated[str | None, Field(description="For send_back: the step to return to.")] = None
                     ) -> Result:
        """Decide a decision task assigned to you. An agent may decide only where a guarded authority row
        names it (get_task lists `decide` in `you_may`); otherwise the call is refused and a person decides."""
        return await call(ctx, lambda who: task_result(who, "decide", task, outcome=outcome, rationale=rationale,
                                                       to=to))

    _approval_tools(server, store, call)
    _resources(server, store)
    return server


def _approval_tools(server: MCPServer, store: Store, call: Call) -> None:
    @server.tool(annotations=_WRITE)
    async def request_approval(ctx: Context, playbook: Annotated[str, Field(
            description="The approval playbook, e.g. agent-action-approval.")],
                               action: Annotated[str, Field(description="The action's name, e.g. refund.")],
                               arguments: Arguments,
                               reason: Annotated[str, Field(description="Why the action is needed, for the "
                                                                        "approver.")]) -> Result:
        """Ask a person with the authority to approve one risky action with exactly these arguments, before
        you act. Answers `{"approval", "run", "status": "pending"}`. Then poll get_approval; the grant it
        gives is single-use and bound to this action and these arguments."""
        return await call(ctx, lambda who: approvals.request(store, who, playbook, action=action,
                                                             arguments=arguments, reason=reason, channel=CHANNEL))

    @server.tool(annotations=_READ)
    async def get_approval(ctx: Context, approval: ApprovalId) -> Result:
        """The state of an approval request: `pending`, `approved`, `rejected` or `expired`; once approved,
        the grant: who approved under what authority, the action, the SHA-256 of its arguments, the playbook
        version and when the grant expires. Act only after consume_approval succeeds."""
        return await call(ctx, lambda who: approvals.get(store, who, approval))

    @server.tool(annotations=_WRITE)
    async def consume_approval(ctx: Context, approval: ApprovalId, arguments: Arguments) -> Result:
        """Use an approved grant, once, right before running the action, with the arguments you will run it
        with. Refused (`approval-mismatch`, `approval-used`, `approval-expired`, `approval-pending`,
        `approval-rejected`) when they differ from the approved ones, the grant was used, or it is no longer
        valid: then do not run the action. Every refusal is recorded."""
        return await call(ctx, lambda who: approvals.consume(store, who, approval, arguments, channel=CHANNEL))


async def _read(work: Callable[[], Any]) -> str:
    """A resource's text, read off the event loop; a ledgerflow error (an unknown playbook) is the reader's."""
    try:
        return json.dumps(await anyio.to_thread.run_sync(work))
    except LedgerflowError as exc:
        raise ResourceError(f"{exc.rule}: {exc.message}") from None


def _resources(server: MCPServer, store: Store) -> None:
    @server.resource("ledgerflow://playbooks", name="playbooks", mime_type="application/json",
                     description="Every published playbook: id, newest version, title, owners, governance state.")
    async def playbooks() -> str:
        return await _read(lambda: {"playbooks": api_queries.playbooks(store)})

    @server.resource("ledgerflow://playbooks/{playbook}", name="playbook", mime_type="application/json",
                     description="A playbook's newest published version: its YAML `source` (steps, rights, "
                                 "clarity answers, SLAs), version and governance state.")
    async def playbook(playbook: str) -> str:
        return await _read(lambda: {k: v for k, v in api_queries.playbook(store, playbook, None).items()
                                    if k != "definition"})

    @server.resource("ledgerflow://directory", name="directory", mime_type="application/json",
                     description="Who is who: people and agents with their roles and standing delegates.")
    async def directory() -> str:
        return await _read(lambda: api_queries.directory(store))
