"""Documents on the web UI (SPEC §14): a completion form takes files, the task page lists the run's documents
with PDFs and images inline, and each is served as a file, only to who may read it."""

from __future__ import annotations

import hashlib
import json

from fastapi.testclient import TestClient

from ledgerflow.engine import documents, service
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, caller, changes_nothing, only_open, run_state
from tests.web.conftest import csrf_of, sign_in

INPUT = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


def started(store: Store) -> str:
    run, _ = service.start_run(store, "pricing-exception", INPUT, caller("bob"),
                               attachments=documents.keep(store, [("deal.pdf", PDF)]))
    return run.id


def test_a_completion_form_attaches_files_and_the_decider_sees_them_inline(store: Store, web: TestClient) -> None:
    run_id = started(store)
    prepare = only_open(store, run_id)
    sign_in(web, str(prepare.assignee))
    form = web.get(f"/tasks/{prepare.id}").text
    assert 'enctype="multipart/form-data"' in form and 'type="file"' in form
    answer = web.post(f"/tasks/{prepare.id}/complete", data={"csrf_token": csrf_of(form),
                                                            "output": json.dumps(GOOD_OUTPUT)},
                      files=[("attachments", ("logo.png", PNG, "image/png")),
                             ("attachments", ("", b"", "application/octet-stream"))])  # an input left empty
    assert answer.status_code == 200 and "complete recorded" in answer.text
    assert [a.name for a in run_state(store, run_id).attachments] == ["deal.pdf", "logo.png"]
    decision = only_open(store, run_id)
    sign_in(web, str(decision.assignee))
    page = web.get(f"/tasks/{decision.id}").text
    pdf, png = hashlib.sha256(PDF).hexdigest(), hashlib.sha256(PNG).hexdigest()
    assert f'<iframe class="preview" title="deal.pdf" src="/attachments/{pdf}?inline=true"' in page
    assert f'<img class="preview" alt="logo.png" src="/attachments/{png}?inline=true"' in page
    shown = web.get(f"/attachments/{png}?inline=true")
    assert shown.content == PNG and shown.headers["content-disposition"].startswith("inline;")
    saved = web.get(f"/attachments/{pdf}")
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert saved.headers["x-content-type-options"] == "nosniff"


def test_a_refused_file_on_the_form_says_why_and_completes_nothing(store: Store, web: TestClient) -> None:
    run_id = started(store)
    prepare = only_open(store, run_id)
    sign_in(web, str(prepare.assignee))
    token = csrf_of(web.get(f"/tasks/{prepare.id}").text)
    with changes_nothing(store):
        answer = web.post(f"/tasks/{prepare.id}/complete",
                          data={"csrf_token": token, "output": json.dumps(GOOD_OUTPUT)},
                          files=[("attachments", ("deal.pdf", b"<!DOCTYPE html><script>1</script>", "text/html"))])
    assert "attachment-type" in answer.text
    assert only_open(store, run_id).id == prepare.id


def test_someone_who_may_not_read_the_run_gets_no_document(store: Store, web: TestClient) -> None:
    started(store)
    sign_in(web, "lena")
    assert web.get(f"/attachments/{hashlib.sha256(PDF).hexdigest()}").status_code == 404


def test_the_start_form_attaches_files_to_the_new_run(store: Store, web: TestClient) -> None:
    sign_in(web, "bob")
    page = web.get("/runs/new", params={"playbook": "pricing-exception"}).text
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page
    form = {"csrf_token": csrf_of(page), "playbook": "pricing-exception", "f.customer": "Acme",
            "f.deal_value": "40000", "f.discount_pct": "18"}
    with changes_nothing(store):
        refused = web.post("/runs/new", data=form,
                           files=[("attachments", ("sheet.pdf", b"<!DOCTYPE html><script>1</script>", "text/html"))])
    assert "attachment-type" in refused.text
    started_page = web.post("/runs/new", data=form, files=[("attachments", ("deal.pdf", PDF, "application/pdf"))])
    assert "run started" in started_page.text
    run_id = started_page.url.path.rsplit("/", 1)[1]
    assert [(a.name, a.task) for a in run_state(store, run_id).attachments] == [("deal.pdf", None)]


def test_a_file_posted_to_a_task_or_playbook_one_may_not_use_is_never_stored(store: Store, web: TestClient) -> None:
    prepare = only_open(store, started(store))
    sign_in(web, "lena")  # may not see the run
    token = csrf_of(web.get("/").text)
    with changes_nothing(store):
        hidden = web.post(f"/tasks/{prepare.id}/complete", data={"csrf_token": token, "output": "{}"},
                          files=[("attachments", ("logo.png", PNG, "image/png"))])
        unknown = web.post("/runs/new", data={"csrf_token": token, "playbook": "nope"},
                           files=[("attachments", ("logo.png", PNG, "image/png"))])
    assert hidden.status_code == unknown.status_code == 404
    assert store.blobs.get(hashlib.sha256(PNG).hexdigest()) is None
