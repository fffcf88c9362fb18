"""Action steps are called by the worker: a signed webhook or a registered callable; failures go to the owner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.domain.figures import parse_period
from ledgerflow.engine import actions, service
from ledgerflow.engine.worker import ACTION_ATTEMPTS, Worker
from ledgerflow.reporting.scorecard import scorecard
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.conftest import PRICING
from tests.coordination.conftest import Receiver
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, publish_text, run_state, start


def _with_action(store: Store, tmp_path: Path, action: str) -> None:
    text = PRICING.read_text()
    apply = text[text.index("  - id: apply"):text.index("governance:")]
    text = text.replace(apply, f"""  - id: apply
    type: action
    action: {action}
    produces:
      type: object
      required: [erp_id]
""")
    publish_text(store, tmp_path, text, name="pricing-action.yaml")


def _approved_run(db: Store) -> str:
    run = start(db)
    decision = act(db, "complete", only_open(db, run.id), output=GOOD_OUTPUT)["opened"][0]
    opened = decide(db, decision, "approve")["opened"]
    assert [(t.step, t.type, t.assignee) for t in opened] == [("apply", "action", None)]
    return run.id


def test_a_webhook_action_is_signed_and_its_json_answer_completes_the_step(
        store: Store, tmp_path: Path, receiver: Receiver, configured: Callable[..., Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_SECRET", "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0")
    _with_action(store, tmp_path, f'{{webhook: "{receiver.url}", secret_env: ERP_SECRET}}')
    receiver.reply = {"erp_id": "E-42"}
    db = configured()
    run_id = _approved_run(db)
    assert Worker(db).tick()["delivered"] == 1
    (request,) = receiver.requests
    assert request["headers"]["idempotency-key"].startswith("t-")
    assert request["headers"]["webhook-signature"].startswith("v1,")
    assert json.loads(request["body"])["input"]["customer"] == "Acme"
    state = run_state(db, run_id)
    assert state.status == "completed"
    assert next(t for t in state.tasks if t.step == "apply").output == {"erp_id": "E-42"}
    assert audit.verify(db)["ok"]


def test_an_action_that_keeps_failing_goes_to_its_owner_with_the_error(
        store: Store, tmp_path: Path, receiver: Receiver, configured: Callable[..., Store]) -> None:
    _with_action(store, tmp_path, f'{{webhook: "{receiver.url}"}}')
    receiver.status = 500
    db = configured(retry_max=0)  # no waiting between tries
    run_id = _approved_run(db)
    for _ in range(ACTION_ATTEMPTS):
        Worker(db).tick()
    assert len(receiver.requests) == ACTION_ATTEMPTS
    task = only_open(db, run_id)
    assert task.step == "apply" and task.assignee in ("carol", "chen") and "HTTP 500" in str(task.error)
    act(db, "complete", task, output={"erp_id": "entered by hand"})
    assert run_state(db, run_id).status == "completed"
    card = scorecard(db, "pricing-exception", parse_period("2026-W10"))
    assert card["exception_rate"] == 1.0
    assert audit.verify(db)["ok"]


def test_a_registered_callable_is_an_action(store: Store, tmp_path: Path, configured: Callable[..., Store]) -> None:
    seen: list[dict[str, Any]] = []

    @actions.register("tests.erp:apply_discount")
    def apply_discount(context: dict[str, Any]) -> dict[str, Any]:
        seen.append(context)
        return {"erp_id": f"E-{context['input']['deal_value']}"}

    _with_action(store, tmp_path, '{callable: "tests.erp:apply_discount"}')
    db = configured()
    run_id = _approved_run(db)
    Worker(db).tick()
    assert run_state(db, run_id).status == "completed" and seen[0]["step"] == "apply"


def test_an_unregistered_callable_fails_at_once_to_the_owner(store: Store, tmp_path: Path,
                                                             configured: Callable[..., Store]) -> None:
    _with_action(store, tmp_path, '{callable: "nowhere:nothing"}')
    db = configured()
    run_id = _approved_run(db)
    assert Worker(db).tick()["failed"] == 1
    assert "no action callable" in str(only_open(db, run_id).error)


def test_the_worker_fires_due_timers_on_a_real_clock_database(tmp_path: Path) -> None:
    from sqlalchemy import update

    from ledgerflow.storage import schema
    from tests.conftest import ADMIN, DIRECTORY, make_store

    db = make_store(tmp_path, simulated=False)
    service.load_directory_file(db, str(DIRECTORY), ADMIN)
    service.publish(db, str(PRICING), ADMIN)
    run = start(db)
    act(db, "complete", only_open(db, run.id), output=GOOD_OUTPUT)
    with db.engine.begin() as conn:  # stands in for four hours passing
        conn.execute(update(schema.timers).where(schema.timers.c.kind == "nudge")
                     .values(due_at="2000-01-01T00:00:00.000000Z"))
    assert Worker(db).tick()["timers"] == 2
    with db.read() as tx:
        assert [e["type"] for e in tx.events(run=run.id)].count("nudge.sent") == 2
    assert Worker(db).tick()["timers"] == 0
    db.close()
