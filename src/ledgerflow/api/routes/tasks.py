"""Tasks: the caller's inbox, a task with its full context, and the task commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ledgerflow.api.deps import Actor, ActorMutation, Anyone, AnyoneMutation, Mutation, StoreDep
from ledgerflow.api.errors import documented
from ledgerflow.api.models import CompleteIn, DecideIn, ReassignIn, RecommendIn, TaskContextOut, TaskOut, TaskResult
from ledgerflow.api.one_hop import OneHopRoute
from ledgerflow.engine import api_commands, api_queries

COMMAND_ERRORS = documented(400, 403, 404, 409, 422)


def _command(call: Mutation, verb: str, task_id: str, **args: Any) -> Response:
    return call.answer(lambda: TaskResult.of(
        api_commands.task_command(call.store, call.principal, verb, task_id, **args)))


def router(*, max_page_size: int) -> APIRouter:
    api = APIRouter(prefix="/tasks", tags=["tasks"], responses=documented(401))

    @api.get("", response_model=list[TaskOut], responses=documented(400))
    def inbox(request: Request, response: Response, store: StoreDep, who: Actor,
              after: Annotated[str | None, Query(description="The last task of the previous page.")] = None,
              limit: Annotated[int, Query(ge=1, description="Page size (capped by the server's maximum).")]
              = max_page_size) -> list[TaskOut]:
        """The caller's inbox: open tasks assigned to it, oldest ready first, a page at a time. A full page
        comes with a `Link: <…>; rel="next"` header to the following one."""
        size = min(limit, max_page_size)
        tasks, about = api_queries.inbox(store, who, after=after, limit=size)
        if len(tasks) == size:
            following = request.url.include_query_params(after=tasks[-1].id, limit=size)
            response.headers["Link"] = f'<{following}>; rel="next"'
        return [TaskOut.of(t, about.get(t.run or "")) for t in tasks]

    @api.get("/{task_id}", response_model=TaskContextOut, responses=documented(404))
    def show_task(store: StoreDep, who: Anyone, task_id: str) -> TaskContextOut:
        """A task with its full context: the run's input, the outputs it can read, recommendations,
        decisions, clarity answers, rights at this step and its clocks. A guest sees its own task only,
        without the case data."""
        return TaskContextOut.of(api_queries.task(store, who, task_id))

    return api


def add_commands(api: APIRouter, prefix: str) -> None:
    """The task commands, as one-hop routes (api/one_hop.py) on `api`: the app's own router, ahead of the routers
    it includes, so that a command is found among the first routes tried."""

    def command(path: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        def add(endpoint: Callable[..., Response]) -> Callable[..., Response]:
            api.add_api_route(prefix + path, endpoint, methods=["POST"], response_model=TaskResult, tags=["tasks"],
                              responses={**documented(401), **COMMAND_ERRORS}, route_class_override=OneHopRoute)
            return endpoint

        return add

    @command("/{task_id}/start")
    def start_task(call: ActorMutation, task_id: str) -> Response:
        """ready -> in_progress, by the assignee."""
        return _command(call, "start", task_id)

    @command("/{task_id}/complete")
    def complete_task(call: AnyoneMutation, task_id: str, body: CompleteIn | None = None) -> Response:
        """Complete a task with its output (checked against the step's `produces`), by the assignee or by a
        guest invited to it."""
        return _command(call, "complete", task_id, output=body.output if body is not None else None,
                        attachments=body.attachments if body is not None else [])

    @command("/{task_id}/decide")
    def decide_task(call: ActorMutation, task_id: str, body: DecideIn) -> Response:
        """Decide a decision task (approve, reject, send_back) with a rationale."""
        return _command(call, "decide", task_id, outcome=body.outcome, rationale=body.rationale, to=body.to)

    @command("/{task_id}/recommend")
    def recommend_task(call: ActorMutation, task_id: str, body: RecommendIn) -> Response:
        """Record a recommendation on an open decision (holders of `recommend`)."""
        return _command(call, "recommend", task_id, outcome=body.outcome, rationale=body.rationale)

    @command("/{task_id}/reassign")
    def reassign_task(call: ActorMutation, task_id: str, body: ReassignIn) -> Response:
        """Move a task to another actor (the workflow owner or the outcome owner, with a reason)."""
        return _command(call, "reassign", task_id, to=body.to, reason=body.reason)
