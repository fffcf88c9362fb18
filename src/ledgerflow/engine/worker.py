"""The worker: fires due timers (real clock), delivers the outbox, calls action steps — with retries.

Several workers may run against one database: timers are claimed inside the transaction that fires them
and outbox messages are leased (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so each fires or sends once.
A message is marked delivered in the same transaction that records `notification.delivered`; a crash
between sending and marking sends it again on the next lease (at least once, with a stable message id
that receivers deduplicate on: `webhook-id`, `Message-ID`, `idempotency-key`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ledgerflow.channels import delivery, slack_app
from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.domain.events import Event
from ledgerflow.domain.times import format_time
from ledgerflow.engine import action_links, documents, service
from ledgerflow.ops import instruments
from ledgerflow.storage.errors import StorageError
from ledgerflow.storage.store import Store
from ledgerflow.trust import checkpoints, evidence

LEASE = timedelta(seconds=60)
CHECKPOINT_RETRY = timedelta(minutes=1)
log = logging.getLogger(__name__)
ACTION_ATTEMPTS = 5


def backoff(attempts: int, cap: float) -> float:
    """Seconds before the next try: 2 s after the first failure, doubling, capped at `cap`."""
    return float(min(2.0 * 2 ** max(attempts - 1, 0), cap))


SWEEP_EVERY = timedelta(hours=1)
"""How often the worker applies documents' retention and sweeps unreferenced ones (`attachment sweep`)."""


class Worker:
    """One worker process's loop; `tick()` does one pass and says what it did."""

    def __init__(self, store: Store, *, client: httpx.Client | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        """`clock` is the real time the worker leases, signs and schedules retries by (tests pass a fixed one)."""
        self.store = store
        self.settings = store.settings
        self.client = client or httpx.Client()
        self.clock = clock
        self._next_checkpoint: datetime | None = None  # the first pass signs one when checkpoints are on
        self._next_sweep: datetime | None = None  # the first pass sweeps documents, then every SWEEP_EVERY

    def sweep_if_due(self) -> int:
        """Apply documents' retention and remove unreferenced ones every SWEEP_EVERY; how many went."""
        now = self.clock()
        if self._next_sweep is not None and now < self._next_sweep:
            return 0
        self._next_sweep = now + SWEEP_EVERY
        result = documents.sweep(self.store)
        return len(result["removed"]) + int(result["orphans"])
        self.last_pass: datetime | None = None
        """When the last pass ended, by `clock`: `/readyz` of the server it runs in watches it."""

    def since_last_pass(self) -> float | None:
        """Seconds since the last pass ended; None before the first."""
        return None if self.last_pass is None else (self.clock() - self.last_pass).total_seconds()

    def checkpoint_if_due(self) -> tuple[int, int]:
        """Sign, have cosigned, keep and record a checkpoint every LEDGERFLOW_CHECKPOINT_EVERY.

        A checkpoint that cannot be kept (folder unwritable, disk full, database gone for the moment) is
        logged and tried again a minute later: the loop goes on firing timers and delivering meanwhile.
        Returns (published, failed)."""
        every, key = self.settings.checkpoint_every, self.settings.signing_key
        now = self.clock()
        if every is None or not key or (self._next_checkpoint is not None and now < self._next_checkpoint):
            return 0, 0
        try:
            checkpoints.publish(self.store, evidence.load_key(key), actor="system", channel="worker",
                                client=self.client)
        except (LedgerflowError, OSError, StorageError) as exc:
            log.error("checkpoint not published, trying again in %s: %s", CHECKPOINT_RETRY, exc)
            self._next_checkpoint = now + min(every, CHECKPOINT_RETRY)
            return 0, 1
        self._next_checkpoint = now + every
        return 1, 0

    def tick(self) -> dict[str, int]:
        fired = service.fire_due_timers(self.store)
        published, unpublished = self.checkpoint_if_due()
        counts = {"timers": len(fired), "delivered": 0, "retried": 0, "failed": 0,
                  "checkpoints": published, "checkpoint_failures": unpublished,
                  "documents_removed": self.sweep_if_due()}
        now = self.clock()
        with self.store.write() as tx:
            rows = tx.claim_outbox(format_time(now), format_time(now + LEASE))
        for row in rows:
            outcome = self._action(row) if row.channel == "action" else self._notify(row)
            said = {"done": "delivered", "retry": "retried", "failed": "failed"}[outcome]
            counts[said] += 1
            instruments.DELIVERIES.labels(channel=row.channel, outcome=said).inc()
        self.last_pass = self.clock()
        instruments.WORKER_TICK.set(self.last_pass.timestamp())
        return counts

    def _notify(self, row: Any) -> str:
        now = self.clock()
        try:
            if row.channel == "email":
                to = row.payload.get("to")
                links = (action_links.decision_mail(self.store, row.task, to)
                         if row.task and to and self.settings.smtp_url else None)
                delivery.send_email(self.settings, row, links)
            elif row.channel == "slack" and row.recipient:  # a person, through the Slack app's bot
                slack_app.deliver(self.store, row)
            elif row.channel == "slack":
                delivery.send_slack(self.settings, self.client, row)
            else:
                delivery.send_webhook(self.settings, self.client, row, now)
        except delivery.DeliveryError as exc:
            self._retry(row, str(exc))
            return "retry"
        at = format_time(self.clock())
        with self.store.write() as tx:
            if tx.finish_outbox(row.id, status="delivered", delivered_at=at, attempts=row.attempts + 1,
                                lease_until=None):
                tx.append([Event(type="notification.delivered", at=format_time(tx.now()), actor="system",
                                 channel="worker", run=row.run, task=row.task,
                                 data={"channel": row.channel, "to": row.payload.get("to") or row.recipient,
                                       "about_seq": row.event_seq, "attempts": row.attempts + 1})])
        return "done"

    def _retry(self, row: Any, error: str) -> None:
        attempts = row.attempts + 1
        later = self.clock() + timedelta(seconds=backoff(attempts, self.settings.retry_max))
        with self.store.write() as tx:
            tx.finish_outbox(row.id, attempts=attempts, next_attempt_at=format_time(later), last_error=error,
                             lease_until=None)

    def _action(self, row: Any) -> str:
        with self.store.read() as tx:
            run = tx.load_run(str(row.run))
        outputs = {t.step: t.output for t in run.tasks if t.status == "completed" and t.output is not None}
        context = {"run": run.id, "task": row.task, "step": row.payload.get("step"), "playbook": run.playbook,
                   "version": run.version, "input": run.input, "outputs": outputs}
        try:
            output = delivery.call_action(self.client, row, context, self.clock())
        except delivery.DeliveryError as exc:
            final = not exc.retry or row.attempts + 1 >= ACTION_ATTEMPTS
            outcome = service.settle_action(self.store, row, error=str(exc), final=final)
            if outcome == "retry":
                self._retry(row, str(exc))
            return outcome
        return service.settle_action(self.store, row, output=output)

    def run(self, stop: threading.Event, *, poll: float = 1.0, max_seconds: float | None = None) -> None:
        """Loop until `stop` is set (or `max_seconds` pass), sleeping `poll` seconds when idle."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            counts = self.tick()
            if not any(counts.values()):
                stop.wait(poll)
