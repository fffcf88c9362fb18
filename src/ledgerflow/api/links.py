"""OpenAPI links: how the ids in one answer feed the next operation (start a run, read its task, complete it,
decide the decision that opens). Clients can follow them, and a stateful fuzzer chains operations by them."""

from __future__ import annotations

from typing import Any

RUNS, RUN, TASKS, TASK = "/api/v1/runs", "/api/v1/runs/{run_id}", "/api/v1/tasks", "/api/v1/tasks/{task_id}"
STARTED_TASK = {"task_id": "$response.body#/tasks/0/task"}
OPENED_TASK = {"task_id": "$response.body#/opened/0/task"}

LINKS: tuple[tuple[str, str, str, str, str, str, dict[str, str]], ...] = (
    # (from path, method, status, link name, to path, method, parameters)
    (RUNS, "post", "201", "ShowRun", RUN, "get", {"run_id": "$response.body#/run"}),
    (RUNS, "post", "201", "RunEvents", RUN + "/events", "get", {"run_id": "$response.body#/run"}),
    (RUNS, "post", "201", "CancelRun", RUN + "/cancel", "post", {"run_id": "$response.body#/run"}),
    (RUNS, "post", "201", "ShowTask", TASK, "get", STARTED_TASK),
    (RUNS, "post", "201", "StartTask", TASK + "/start", "post", STARTED_TASK),
    (RUNS, "post", "201", "CompleteTask", TASK + "/complete", "post", STARTED_TASK),
    (RUNS, "get", "200", "ShowListedRun", RUN, "get", {"run_id": "$response.body#/items/0/run"}),
    (TASKS, "get", "200", "ShowListedTask", TASK, "get", {"task_id": "$response.body#/0/task"}),
    (TASKS, "get", "200", "CompleteListedTask", TASK + "/complete", "post", {"task_id": "$response.body#/0/task"}),
    (TASKS, "get", "200", "DecideListedTask", TASK + "/decide", "post", {"task_id": "$response.body#/0/task"}),
    (TASK + "/start", "post", "200", "CompleteStartedTask", TASK + "/complete", "post",
     {"task_id": "$response.body#/task/task"}),
    (TASK + "/complete", "post", "200", "ShowOpenedTask", TASK, "get", OPENED_TASK),
    (TASK + "/complete", "post", "200", "DecideOpenedTask", TASK + "/decide", "post", OPENED_TASK),
    (TASK + "/complete", "post", "200", "RecommendOnOpenedTask", TASK + "/recommend", "post", OPENED_TASK),
    (TASK + "/complete", "post", "200", "ShowRunOfTask", RUN, "get", {"run_id": "$response.body#/run/run"}),
    (TASK + "/decide", "post", "200", "ShowRunOfDecision", RUN, "get", {"run_id": "$response.body#/run/run"}),
)


def add_links(schema: dict[str, Any]) -> None:
    """Write `LINKS` into a generated OpenAPI document's responses, by the target's operationId."""
    operations = {(path, method): operation for path, methods in schema.get("paths", {}).items()
                  for method, operation in methods.items()}
    for source, method, status, name, target, target_method, parameters in LINKS:
        response = operations[(source, method)]["responses"][status]
        response.setdefault("links", {})[name] = {
            "operationId": operations[(target, target_method)]["operationId"], "parameters": parameters}
