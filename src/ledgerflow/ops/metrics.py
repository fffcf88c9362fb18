"""`/metrics` (SPEC §7, issue #24): the process's counters (`ledgerflow.ops.telemetry`) and, read from the database
at each scrape, what is open, overdue and blocked, the timers due and their lag, the outbox backlog and
failures, and how old the last checkpoint is.

Several processes share one database, so the database figures are the same from every process that serves
them; the counters are each process's own (Prometheus sums them). Labels are playbook, step and channel ids,
bounded by what is published and configured; never a run, task or person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ledgerflow.domain.errors import LedgerflowError
from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.ops import instruments
from ledgerflow.storage.reporting import health
from ledgerflow.storage.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DatabaseFigures(Collector):
    """Gauges read from the database in one read transaction per scrape (a handful of indexed counts)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("ledgerflow_database_up", "1 when the last scrape could read the database.")
        try:
            with self.store.read() as tx:
                now = tx.now()
                open_rows, (due, oldest), outbox, last_checkpoint = health(tx, format_time(now))
        except LedgerflowError:
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from _tasks(open_rows)
        yield _gauge("ledgerflow_timers_due", "Timers due and not fired yet.", float(due))
        yield _gauge("ledgerflow_timer_lag_seconds", "How far the oldest due timer is behind the clock (0 when none "
                     "is due).", _age(now, oldest))
        backlog = GaugeMetricFamily("ledgerflow_outbox_backlog_messages", "Messages waiting to be delivered.",
                                    labels=["channel"])
        failed = GaugeMetricFamily("ledgerflow_outbox_failed_messages", "Messages given up on after their retries.",
                                   labels=["channel"])
        for channel, status, count in outbox:
            (backlog if status == "pending" else failed).add_metric([channel], float(count))
        yield backlog
        yield failed
        if last_checkpoint is not None:
            yield _gauge("ledgerflow_checkpoint_age_seconds", "Time since the last signed checkpoint was published.",
                         _age(now, last_checkpoint))


def _age(now: datetime, moment: str | None) -> float:
    return 0.0 if moment is None else max(0.0, (now - parse_time(moment)).total_seconds())


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def _tasks(rows: Sequence[Any]) -> Iterator[GaugeMetricFamily]:
    families = {
        "open": GaugeMetricFamily("ledgerflow_open_tasks", "Open tasks (ready or in progress).",
                                  labels=["playbook", "step"]),
        "overdue": GaugeMetricFamily("ledgerflow_overdue_tasks", "Open tasks past their due time or SLA.",
                                     labels=["playbook", "step"]),
        "blocked": GaugeMetricFamily("ledgerflow_blocked_tasks", "Open tasks blocked as an ownership gap.",
                                     labels=["playbook", "step"]),
    }
    for row in rows:
        playbook, step, count, overdue, blocked = tuple(row)
        families["open"].add_metric([playbook, step], float(count))
        families["overdue"].add_metric([playbook, step], float(overdue or 0))
        families["blocked"].add_metric([playbook, step], float(blocked or 0))
    yield from families.values()


class _Process(Collector):
    """This process's counters, forwarded so that one registry answers a scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from instruments.REGISTRY.collect()


class _Pool(Collector):
    """The SQLAlchemy connection pool of the store, when it keeps one."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.store.engine.pool
        family = GaugeMetricFamily("ledgerflow_db_pool_connections", "Connections of the database pool, by state.",
                                   labels=["state"])
        checked_out: Callable[[], int] | None = getattr(pool, "checkedout", None)
        idle: Callable[[], int] | None = getattr(pool, "checkedin", None)
        if checked_out is not None and idle is not None:
            family.add_metric(["in_use"], float(checked_out()))
            family.add_metric(["idle"], float(idle()))
        yield family


def registry_for(store: Store) -> CollectorRegistry:
    """One registry with everything a scrape of this process shows."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process())
    registry.register(DatabaseFigures(store))
    registry.register(_Pool(store))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format of a scrape."""
    return generate_latest(registry)


def serve_metrics(store: Store, port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Answer `/metrics` on its own port from a background thread (`ledgerflow worker --metrics-port`); the
    server returned stops with `shutdown()`."""
    server, _ = start_http_server(port, addr=host, registry=registry_for(store))
    return server
