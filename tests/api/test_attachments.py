"""Documents over the REST API (SPEC §14): upload, refer, read back with safe headers, and the refusals
(413, 415, someone else's upload) that write nothing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerflow.api.app import ApiConfig, create_app
from ledgerflow.domain.limits import Limits
from ledgerflow.engine import tokens
from ledgerflow.storage.store import Store
from tests.api.helpers import INPUT, PREPARED, Login, bearer
from tests.conftest import ADMIN, as_
from tests.engine.helpers import changes_nothing

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
SHEET = b"deal sheet: 18% off list, margin 31%\n"


def upload(client: TestClient, login: Login, actor: str, name: str, data: bytes) -> Any:
    return client.post("/api/v1/attachments", files={"file": (name, data, "application/octet-stream")},
                       headers=login(actor))


def test_an_upload_answers_its_hash_and_a_run_start_refers_to_it(client: TestClient, login: Login) -> None:
    answer = upload(client, login, "bob", "../../etc/deal sheet.pdf", PDF)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"name": "deal sheet.pdf", "sha256": hashlib.sha256(PDF).hexdigest(),
                             "size": len(PDF), "media_type": "application/pdf"}
    started = client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT,
                                                "attachments": [answer.json()["sha256"]]}, headers=login("bob"))
    assert started.status_code == 201, started.text
    run = client.get(f"/api/v1/runs/{started.json()['run']}", headers=login("bob")).json()
    assert [(a["name"], a["actor"], a["step"], a["inline"]) for a in run["attachments"]] == [
        ("deal sheet.pdf", "bob", None, True)]


def test_a_download_is_a_file_never_sniffed_and_inline_only_for_pdf_and_images(client: TestClient,
                                                                                login: Login) -> None:
    sha = upload(client, login, "bob", "deal.pdf", PDF).json()["sha256"]
    client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT, "attachments": [sha]},
                headers=login("bob"))
    got = client.get(f"/api/v1/attachments/{sha}", headers=login("bob"))
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-disposition"].startswith('attachment; filename="deal.pdf"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    shown = client.get(f"/api/v1/attachments/{sha}?inline=true", headers=login("bob"))
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["content-type"] == "application/pdf"


def test_a_text_document_is_never_shown_inline(client: TestClient, login: Login) -> None:
    sha = upload(client, login, "bob", "notes.html", SHEET).json()["sha256"]
    client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT, "attachments": [sha]},
                headers=login("bob"))
    got = client.get(f"/api/v1/attachments/{sha}?inline=true", headers=login("bob"))
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["content-type"].startswith("text/plain")


def test_a_completion_attaches_and_the_decider_sees_the_document_beside_the_data(client: TestClient,
                                                                                 login: Login) -> None:
    started = client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT},
                          headers=login("bob")).json()
    prepare = started["tasks"][0]
    sha = upload(client, login, prepare["assignee"], "sheet.txt", SHEET).json()["sha256"]
    done = client.post(f"/api/v1/tasks/{prepare['task']}/complete",
                       json={"output": PREPARED, "attachments": [sha]}, headers=login(prepare["assignee"]))
    assert done.status_code == 200, done.text
    (decision,) = done.json()["opened"]
    seen = client.get(f"/api/v1/tasks/{decision['task']}", headers=login(decision["assignee"])).json()
    assert [(a["name"], a["step"], a["media_type"]) for a in seen["attachments"]] == [
        ("sheet.txt", "prepare", "text/plain")]
    assert client.get(f"/api/v1/attachments/{sha}", headers=login(decision["assignee"])).content == SHEET
    assert client.get(f"/api/v1/attachments/{sha}", headers=login("erin")).status_code == 404


def test_someone_elses_upload_cannot_be_referred_to(client: TestClient, login: Login, store: Store) -> None:
    sha = upload(client, login, "bob", "deal.pdf", PDF).json()["sha256"]
    login("alice")
    with changes_nothing(store):
        answer = client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT,
                                                   "attachments": [sha]}, headers=login("alice"))
    assert answer.status_code == 404 and answer.json()["rule"] == "unknown-attachment"


def test_a_document_of_a_type_not_allowed_answers_415_and_stores_nothing(client: TestClient, login: Login,
                                                                          store: Store) -> None:
    login("bob")
    with changes_nothing(store):
        answer = upload(client, login, "bob", "deal.pdf", b"<!DOCTYPE html><script>alert(1)</script>")
    assert answer.status_code == 415 and answer.json()["rule"] == "attachment-type"
    assert list(store.blobs.stored()) == []


def test_a_document_over_the_limit_answers_413_and_stores_nothing(store: Store) -> None:
    config = ApiConfig(limits=Limits(max_bytes=64 * 1024), documents=1024)
    headers = bearer(tokens.create(store, "bob", ADMIN)["token"])
    with TestClient(create_app(store, config)) as client, changes_nothing(store):
        answer = client.post("/api/v1/attachments", headers=headers,
                             files={"file": ("big.txt", b"x" * (100 * 1024), "text/plain")})
    assert answer.status_code == 413 and answer.json()["rule"] == "attachment-too-large"
    assert list(store.blobs.stored()) == []


def test_a_guest_reads_its_own_tasks_documents_and_nothing_else(client: TestClient, login: Login,
                                                                store: Store) -> None:
    pdf = upload(client, login, "bob", "deal.pdf", PDF).json()["sha256"]
    started = client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT,
                                                "attachments": [pdf]}, headers=login("bob")).json()
    prepare = started["tasks"][0]
    invite = tokens.invite_guest(store, prepare["task"], "partner@example.com", as_(prepare["assignee"]))
    guest = bearer(invite["link"].rsplit("/", 1)[1])
    sha = client.post("/api/v1/attachments", files={"file": ("sheet.txt", SHEET, "text/plain")},
                      headers=guest).json()["sha256"]
    done = client.post(f"/api/v1/tasks/{prepare['task']}/complete", json={"output": PREPARED, "attachments": [sha]},
                       headers=guest)
    assert done.status_code == 200, done.text
    assert client.get(f"/api/v1/attachments/{sha}", headers=guest).content == SHEET
    assert client.get(f"/api/v1/attachments/{pdf}", headers=guest).status_code == 404
    seen = client.get(f"/api/v1/tasks/{prepare['task']}", headers=guest).json()
    assert [a["name"] for a in seen["attachments"]] == ["sheet.txt"]


def test_an_owner_places_and_lifts_a_legal_hold_and_others_are_refused(client: TestClient, login: Login,
                                                                       store: Store) -> None:
    run_id = client.post("/api/v1/runs", json={"playbook": "pricing-exception", "input": INPUT},
                         headers=login("bob")).json()["run"]
    login("sam")
    with changes_nothing(store):
        refused = client.post(f"/api/v1/runs/{run_id}/hold", json={"reason": "mine"}, headers=login("bob"))
    assert refused.status_code == 403 and refused.json()["rule"] == "hold-not-allowed"
    assert client.post(f"/api/v1/runs/{run_id}/hold", json={"reason": "matter 7"}, headers=login("sam")).json() == {
        "run": run_id, "held": True}
    assert client.get(f"/api/v1/runs/{run_id}", headers=login("sam")).json()["held"] is True
    again = client.post(f"/api/v1/runs/{run_id}/hold", json={"reason": "again"}, headers=login("sam"))
    assert again.status_code == 409 and again.json()["rule"] == "hold-state"
    released = client.post(f"/api/v1/runs/{run_id}/release", json={"reason": "closed"}, headers=login("sam"))
    assert released.json() == {"run": run_id, "held": False}


def test_an_agent_attaches_what_it_gathered_through_the_python_client(store: Store) -> None:
    from ledgerflow.client import ApiError, Client
    from tests.servers import serving

    with serving(create_app(store, ApiConfig(limits=Limits(max_bytes=64 * 1024)))) as url:
        with Client(url, tokens.create(store, "intake-bot", ADMIN)["token"]) as agent, \
                Client(url, tokens.create(store, "erin", ADMIN)["token"]) as stranger:
            uploaded = agent.upload("crm-export.txt", SHEET)
            run = agent.start_run("pricing-exception", INPUT, attachments=[uploaded["sha256"]])
            assert [a["name"] for a in agent.run(run["run"])["attachments"]] == ["crm-export.txt"]
            assert agent.attachment(uploaded["sha256"]) == SHEET
            with pytest.raises(ApiError) as caught:
                stranger.attachment(uploaded["sha256"])
            assert caught.value.status == 404
