"""Guest links: a guest token reaches its one task (read and complete) and nothing else."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ledgerflow.domain.errors import Forbidden
from ledgerflow.engine import service, tokens
from ledgerflow.storage.store import Store
from tests.api.helpers import PREPARED, Login, bearer, start, to_decision
from tests.engine.helpers import changes_nothing, snapshot


def _invite(store: Store, task: dict[str, object], by: str | None = None) -> dict[str, str]:
    invited = tokens.invite_guest(store, str(task["task"]), "buyer@customer.example",
                                  service.Caller(actor=by or str(task["assignee"])))
    return invited


def test_a_guest_reads_and_completes_its_task_and_reaches_nothing_else(client: TestClient, login: Login,
                                                                       store: Store) -> None:
    first = start(client, login)
    other = start(client, login)["tasks"][0]
    prepare = first["tasks"][0]
    invited = _invite(store, prepare)
    assert invited["link"].startswith("http://127.0.0.1:8000/guest/lf_")
    guest = bearer(invited["link"].rsplit("/", 1)[1])

    view = client.get(f"/api/v1/tasks/{prepare['task']}", headers=guest)
    assert view.status_code == 200
    body = view.json()
    assert body["guest"] is True and body["you_may"] == ["complete"] and body["produces"]["required"]
    assert body["input"] is None and body["run"] is None and body["earlier_outputs"] == []

    for method, path in (("GET", f"/api/v1/tasks/{other['task']}"), ("GET", f"/api/v1/runs/{first['run']}"),
                         ("GET", "/api/v1/tasks"), ("GET", "/api/v1/runs"), ("GET", "/api/v1/playbooks"),
                         ("GET", f"/api/v1/runs/{first['run']}/events"), ("GET", "/api/v1/audit/verify"),
                         ("POST", f"/api/v1/tasks/{prepare['task']}/start"),
                         ("POST", f"/api/v1/tasks/{other['task']}/complete")):
        answer = client.request(method, path, headers=guest, json={"output": PREPARED} if method == "POST" else None)
        assert answer.status_code == 404, (method, path, answer.text)

    done = client.post(f"/api/v1/tasks/{prepare['task']}/complete", headers=guest, json={"output": PREPARED})
    assert done.status_code == 200 and done.json()["task"]["status"] == "completed"
    assert [t["step"] for t in done.json()["opened"]] == ["approve"]
    with store.read() as tx:
        events = tx.events(run=first["run"])
    completed = next(e for e in events if e["type"] == "task.completed")
    assert (completed["actor"], completed["channel"]) == (prepare["assignee"], "api")
    created = next(e for e in events if e["type"] == "token.created")
    assert completed["authority"] == {"kind": "guest", "detail": {
        "email": "buyer@customer.example", "token": created["data"]["token_id"], "invited_by": created["actor"]}}
    assert created["task"] == prepare["task"] and created["data"]["email"] == "buyer@customer.example"
    assert invited["link"].rsplit("/", 1)[1] not in str(events)


def test_the_guest_link_itself_answers_the_task(client: TestClient, login: Login, store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    link = _invite(store, prepare)["link"]
    answer = client.get(link.replace("http://127.0.0.1:8000", ""))
    assert answer.status_code == 200 and answer.json()["task"]["task"] == prepare["task"]
    assert answer.headers["cache-control"] == "no-store"
    actor_token = tokens.create(store, "bob", service.Caller())["token"]
    assert client.get(f"/guest/{actor_token}").status_code == 401


def test_a_guest_is_never_invited_to_a_decision(client: TestClient, login: Login, store: Store) -> None:
    _, _, decision = to_decision(client, login)
    before = snapshot(store)
    with pytest.raises(Forbidden) as refused:
        _invite(store, decision)
    assert refused.value.rule == "guest-on-decision" and refused.value.exit_code == 3
    assert snapshot(store) == before


def test_only_the_assignee_or_an_owner_invites(client: TestClient, login: Login, store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    with changes_nothing(store), pytest.raises(Forbidden) as refused:
        _invite(store, prepare, by="carol")
    assert refused.value.rule == "guest-invite-not-allowed"
    assert _invite(store, prepare, by="sam")["task"] == prepare["task"]


def test_a_revoked_guest_link_is_401(client: TestClient, login: Login, store: Store) -> None:
    prepare = start(client, login)["tasks"][0]
    invited = _invite(store, prepare)
    tokens.revoke(store, invited["id"], service.Caller(actor=str(prepare["assignee"])))
    answer = client.get(f"/api/v1/tasks/{prepare['task']}", headers=bearer(invited["link"].rsplit("/", 1)[1]))
    assert answer.status_code == 401 and answer.json()["rule"] == "token-revoked"
