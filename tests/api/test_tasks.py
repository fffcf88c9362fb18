"""Tasks over HTTP: inbox, full context, commands; 403 for rights with the rule, 409 for wrong state."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.storage.store import Store
from tests.api.helpers import INPUT, PREPARED, Login, start, to_decision
from tests.engine.helpers import changes_nothing


def test_the_inbox_holds_the_callers_open_tasks_only(client: TestClient, login: Login) -> None:
    _, _, decision = to_decision(client, login)
    approver = decision["assignee"]
    other = "erin" if approver == "dave" else "dave"
    assert [t["task"] for t in client.get("/api/v1/tasks", headers=login(approver)).json()] == [decision["task"]]
    assert client.get("/api/v1/tasks", headers=login(other)).json() == []


def test_a_decision_task_comes_with_its_full_context(client: TestClient, login: Login) -> None:
    run_id, prepare, decision = to_decision(client, login)
    recommended = client.post(f"/api/v1/tasks/{decision['task']}/recommend", headers=login("carol"),
                              json={"outcome": "approve", "rationale": "Renewal covers the margin"})
    assert recommended.status_code == 200, recommended.text
    context = client.get(f"/api/v1/tasks/{decision['task']}", headers=login(decision["assignee"])).json()
    assert context["run"]["run"] == run_id and context["input"] == INPUT
    assert context["earlier_outputs"] == [{"step": "prepare", "task": prepare["task"], "by": prepare["assignee"],
                                           "on_behalf_of": None, "completed_at": "2026-03-02T08:00:00Z",
                                           "output": PREPARED}]
    (rec,) = context["recommendations"]
    assert (rec["actor"], rec["outcome"], rec["current"]) == ("carol", "approve", True)
    assert context["data_hash"] == decision["data_hash"]
    assert context["clarity"]["what"] and context["clarity"]["due"] == "1d" and context["clarity"]["owner"] == "finance"
    rights = context["rights"]
    assert rights["approve"] == "finance" and rights["separation_of_duties"] == ["prepare"]
    assert rights["options"] == ["approve", "reject", "send_back"] and rights["you_are_excluded"] is None
    sla = context["sla"]
    assert sla["sla_due_at"] == "2026-03-03T08:00:00Z" and sla["hours_to_sla"] == 24.0
    assert sla["escalations"] == [{"at": "2026-03-03T08:00:00Z", "to": "maria"}] and len(sla["nudges"]) == 2
    assert context["you_may"] == ["start", "decide"]
    decided = client.post(f"/api/v1/tasks/{decision['task']}/decide", headers=login(decision["assignee"]),
                          json={"outcome": "approve", "rationale": "Within policy"})
    assert decided.status_code == 200 and decided.json()["task"]["status"] == "decided"
    assert [t["step"] for t in decided.json()["opened"]] == ["apply"]
    later = client.get(f"/api/v1/tasks/{decided.json()['opened'][0]['task']}", headers=login("sam")).json()
    assert [d["outcome"] for d in later["decisions"]] == ["approve"]


def test_separation_of_duties_is_403_with_the_rule_in_the_problem(client: TestClient, login: Login,
                                                                  store: Store) -> None:
    _, _, decision = to_decision(client, login, by="erin")  # erin (finance) started it: routing skipped her
    assert decision["assignee"] == "dave"
    sam, maria = login("sam"), login("maria")
    with changes_nothing(store):  # the workflow owner may reassign, but never to an excluded approver
        refused = client.post(f"/api/v1/tasks/{decision['task']}/reassign", headers=sam,
                              json={"to": "erin", "reason": "dave is busy"})
        moved = client.post(f"/api/v1/tasks/{decision['task']}/reassign", headers=maria,
                            json={"to": "carol", "reason": "carol is no approver"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["rule"] == "separation-of-duties" and problem["type"].endswith("separation-of-duties")
    assert "erin started run" in problem["detail"] and problem["title"] == "Forbidden" and problem["status"] == 403
    assert moved.status_code == 403 and moved.json()["rule"] == "not-an-approver"


def test_a_participant_who_is_not_the_assignee_is_403_not_assignee(client: TestClient, login: Login,
                                                                   store: Store) -> None:
    _, prepare, decision = to_decision(client, login)
    preparer = login(prepare["assignee"])
    with changes_nothing(store):
        refused = client.post(f"/api/v1/tasks/{decision['task']}/decide", headers=preparer,
                              json={"outcome": "approve", "rationale": "I prepared it, so I approve it"})
    assert refused.status_code == 403 and refused.json()["rule"] == "not-assignee"
    assert refused.json()["assignee"] == decision["assignee"]  # details become extension members


def test_a_missing_rationale_is_403_and_a_bad_outcome_403(client: TestClient, login: Login, store: Store) -> None:
    _, _, decision = to_decision(client, login)
    approver = login(decision["assignee"])
    with changes_nothing(store):
        blank = client.post(f"/api/v1/tasks/{decision['task']}/decide", headers=approver, json={"outcome": "approve"})
        odd = client.post(f"/api/v1/tasks/{decision['task']}/decide", headers=approver,
                          json={"outcome": "maybe", "rationale": "hmm"})
    assert blank.status_code == 403 and blank.json()["rule"] == "rationale-required"
    assert odd.status_code == 403 and odd.json()["rule"] == "outcome-not-allowed"


def test_commands_on_a_task_in_the_wrong_state_are_409(client: TestClient, login: Login, store: Store) -> None:
    _, prepare, _ = to_decision(client, login)
    preparer = login(prepare["assignee"])
    with changes_nothing(store):
        again = client.post(f"/api/v1/tasks/{prepare['task']}/complete", json={"output": PREPARED}, headers=preparer)
        start_done = client.post(f"/api/v1/tasks/{prepare['task']}/start", headers=preparer)
    assert again.status_code == 409 and again.json()["rule"] == "task-state"
    assert start_done.status_code == 409


def test_an_output_violating_produces_is_422_listing_every_path(client: TestClient, login: Login,
                                                                 store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    preparer = login(prepare["assignee"])
    with changes_nothing(store):
        answer = client.post(f"/api/v1/tasks/{prepare['task']}/complete", headers=preparer,
                             json={"output": {"deal_sheet_url": "", "justification": 7}})
    assert answer.status_code == 422 and answer.json()["rule"] == "schema-violation"
    assert {v["path"] for v in answer.json()["violations"]} == {"/deal_sheet_url", "/justification"}


def test_start_then_complete_moves_the_task_through_its_states(client: TestClient, login: Login) -> None:
    prepare = start(client, login)["tasks"][0]
    headers = login(prepare["assignee"])
    started = client.post(f"/api/v1/tasks/{prepare['task']}/start", headers=headers)
    assert started.status_code == 200 and started.json()["task"]["status"] == "in_progress"
    done = client.post(f"/api/v1/tasks/{prepare['task']}/complete", headers=headers, json={"output": PREPARED})
    assert done.json()["task"]["status"] == "completed" and done.json()["run"]["status"] == "running"


def test_a_long_inbox_comes_a_page_at_a_time_in_order(client: TestClient, login: Login) -> None:
    from collections import Counter

    holders = Counter(start(client, login)["tasks"][0]["assignee"] for _ in range(8))
    who, held = holders.most_common(1)[0]
    everything = client.get("/api/v1/tasks", headers=login(who)).json()
    assert len(everything) == held >= 3
    first = client.get("/api/v1/tasks?limit=2", headers=login(who))
    assert [t["task"] for t in first.json()] == [t["task"] for t in everything[:2]]
    pages, link = [first.json()], first.headers.get("link")
    while link:
        url = link.split(";")[0].strip("<>")
        following = client.get(url, headers=login(who))
        pages.append(following.json())
        link = following.headers.get("link")
    assert [t["task"] for page in pages for t in page] == [t["task"] for t in everything]
    assert all(len(page) == 2 for page in pages[:-1]) and len(pages[-1]) <= 2
    stranger = client.get(f"/api/v1/tasks?after={everything[0]['task']}", headers=login("dave"))
    assert stranger.status_code == 400 and stranger.json()["rule"] == "bad-cursor"


def test_the_task_view_carries_the_runs_why(store: Store) -> None:
    from ledgerflow.api.models import TaskContextOut
    from ledgerflow.engine import api_queries, service
    from ledgerflow.engine.tokens import Principal
    from tests.engine.helpers import GOOD_OUTPUT, act, caller, only_open

    run, _ = service.start_run(store, "pricing-exception", {"customer": "Acme", "deal_value": 12000,
                                                            "discount_pct": 18}, caller("bob"), why="renewal")
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    view = TaskContextOut.of(api_queries.task(store, Principal(token_id="t", actor="dave"), decision.id))
    assert view.why == "renewal"


def test_a_task_view_carries_the_runs_why_as_its_starter_wrote_it(client: TestClient, login: Login) -> None:
    answer = client.post("/api/v1/runs", headers=login("bob"),
                         json={"playbook": "pricing-exception", "input": INPUT, "why": "Renewal at risk [Q3]"})
    assert answer.status_code == 201, answer.text
    task = answer.json()["tasks"][0]
    seen = client.get(f"/api/v1/tasks/{task['task']}", headers=login(task["assignee"])).json()
    assert seen["why"] == "Renewal at risk [Q3]"
