"""Notifications leave through the outbox: e-mail, Slack and signed webhooks; never lost, never sent twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook

from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.engine.worker import Worker, backoff
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit
from tests.coordination.conftest import Receiver, Smtp, free_port
from tests.engine.helpers import start


def _fixed(at: datetime) -> Callable[[], datetime]:
    """A worker clock stopped at `at`."""
    return lambda: at


def _make_due(store: Store) -> None:
    """Stands in for the backoff passing: every pending message is due now."""
    with store.engine.begin() as conn:
        conn.execute(update(schema.outbox).values(next_attempt_at="2000-01-01T00:00:00.000000Z"))


def test_a_new_task_emails_its_assignee_once_with_context_and_link(
    configured: Callable[..., Store], smtp: Smtp
) -> None:
    db = configured(smtp_url=smtp.url, base_url="https://lf.example.com")
    run = start(db)
    counts = Worker(db).tick()
    assert counts["delivered"] == 1
    (mail,) = smtp.inbox.messages
    assert mail["To"] == "alice@example.com" and mail["Subject"].startswith("New task")
    body = mail.get_payload()
    assert "What: Attach the deal sheet" in body and "https://lf.example.com/tasks/" in body
    assert Worker(db).tick()["delivered"] == 0  # never twice
    with db.read() as tx:
        types = [e["type"] for e in tx.events(run=run.id)]
    assert types.count("notification.queued") == 1 and types.count("notification.delivered") == 1
    assert audit.verify(db)["ok"]


def test_a_message_survives_the_mail_server_being_down(configured: Callable[..., Store], smtp: Smtp) -> None:
    smtp.stop()
    db = configured(smtp_url=smtp.url)
    start(db)
    assert Worker(db).tick()["retried"] == 1
    with db.read() as tx:
        (row,) = tx.outbox()
    assert (row.status, row.attempts) == ("pending", 1) and "SMTP" in row.last_error
    smtp.start()
    _make_due(db)
    assert Worker(db).tick()["delivered"] == 1
    assert len(smtp.inbox.messages) == 1


def test_webhooks_are_signed_per_standard_webhooks(configured: Callable[..., Store], receiver: Receiver) -> None:
    secret = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
    db = configured(webhook_url=receiver.url, webhook_secret=secret)
    start(db)
    with httpx.Client() as client:
        Worker(db, client=client).tick()
    (request,) = receiver.requests
    headers = request["headers"]
    payload = Webhook(secret).verify(request["body"], {"webhook-id": headers["webhook-id"],
                                                       "webhook-timestamp": headers["webhook-timestamp"],
                                                       "webhook-signature": headers["webhook-signature"]})
    assert payload["type"] == "task.ready" and payload["to"] == ["alice"]


def test_slack_gets_a_text_message(configured: Callable[..., Store], receiver: Receiver) -> None:
    db = configured(slack_webhook_url=receiver.url)
    start(db)
    Worker(db).tick()
    assert json.loads(receiver.requests[0]["body"])["text"].startswith("*New task")


def test_a_failing_receiver_is_retried_with_backoff_and_nothing_is_lost(configured: Callable[..., Store]) -> None:
    db = configured(webhook_url=f"http://127.0.0.1:{free_port()}/nowhere", retry_max=300)
    start(db)
    with db.read() as tx:
        (row,) = tx.outbox()
    now = parse_time(row.next_attempt_at) + timedelta(minutes=5)
    for attempts, delay in ((1, 2), (2, 4), (3, 8)):  # each try fails and schedules the next on the backoff
        Worker(db, clock=_fixed(now)).tick()
        with db.read() as tx:
            (row,) = tx.outbox()
        assert (row.status, row.attempts, row.lease_until) == ("pending", attempts, None)
        assert row.next_attempt_at == format_time(now + timedelta(seconds=delay))
        assert Worker(db, clock=_fixed(now)).tick()["retried"] == 0  # not due yet: nothing is tried early
        now = parse_time(row.next_attempt_at)
    assert [backoff(n, 300) for n in (1, 2, 3, 9, 10)] == [2, 4, 8, 300, 300]


def test_two_workers_send_each_message_once(configured: Callable[..., Store], smtp: Smtp) -> None:
    import threading

    db = configured(smtp_url=smtp.url)
    for _ in range(5):
        start(db)
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        Worker(db).tick()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(smtp.inbox.messages) == 5
    with db.read() as tx:
        assert {r.status for r in tx.outbox()} == {"delivered"}


def test_a_worker_killed_holding_a_lease_leaves_the_message_to_another_once_the_lease_ends(
    configured: Callable[..., Store], smtp: Smtp
) -> None:
    import subprocess
    import sys
    import textwrap

    db = configured(smtp_url=smtp.url)
    run = start(db)
    script = textwrap.dedent(f"""
        import os
        from ledgerflow.channels import delivery
        from ledgerflow.ops.config import Settings
        from ledgerflow.storage.store import Store
        from ledgerflow.engine.worker import Worker
        delivery.send_email = lambda settings, row, decision=None: os._exit(9)  # killed after leasing, before sending
        Worker(Store({db.url!r}, settings=Settings(smtp_url={smtp.url!r}))).tick()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 9, done.stderr
    with db.read() as tx:
        (row,) = tx.outbox()
    assert row.status == "pending" and row.lease_until is not None
    assert Worker(db).tick()["delivered"] == 0 and smtp.inbox.messages == []  # still leased to the dead worker
    with db.engine.begin() as conn:  # stands in for the 60 s lease running out
        conn.execute(update(schema.outbox).values(lease_until="2000-01-01T00:00:00.000000Z"))
    assert Worker(db).tick()["delivered"] == 1
    assert len(smtp.inbox.messages) == 1
    with db.read() as tx:
        types = [e["type"] for e in tx.events(run=run.id)]
    assert types.count("notification.delivered") == 1
    assert audit.verify(db)["ok"]
