"""Small drivers for engine tests: start runs and act on tasks through the service layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from ledgerflow.domain.canonical import canonical_json
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.engine import service
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store

GOOD_OUTPUT = {"deal_sheet_url": "https://docs.example.com/d/1",
               "justification": "Competitor offered 20%, three-year renewal"}


def caller(actor: str | None) -> service.Caller:
    return service.Caller(actor=str(actor))


def start(store: Store, *, by: str = "bob", playbook: str = "pricing-exception", **input: Any) -> RunState:
    data = {"customer": "Acme", "deal_value": 12000, "discount_pct": 18}
    data.update(input)
    run, _ = service.start_run(store, playbook, data, caller(by))
    return run


def open_tasks(store: Store, run_id: str) -> list[TaskState]:
    with store.read() as tx:
        return tx.tasks(run=run_id, status="open")


def only_open(store: Store, run_id: str) -> TaskState:
    tasks = open_tasks(store, run_id)
    assert len(tasks) == 1, tasks
    return tasks[0]


def act(store: Store, verb: str, task: TaskState, actor: str | None = None, **args: Any) -> dict[str, Any]:
    return service.task_command(store, verb, task.id, caller(actor or task.assignee), **args)


def decide(store: Store, task: TaskState, outcome: str, actor: str | None = None, rationale: str | None = "ok",
           to: str | None = None) -> dict[str, Any]:
    return act(store, "decide", task, actor, outcome=outcome, rationale=rationale, to=to)


def run_state(store: Store, run_id: str) -> RunState:
    with store.read() as tx:
        return tx.load_run(run_id)


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, by primary key: what a refused command must leave as it was.

    The tables come from the schema's metadata, so a table added later is covered without touching this.
    """
    with store.engine.connect() as conn:
        return {table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))]
                for table in schema.metadata.sorted_tables}


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """`snapshot` of the database at `url`, for tests that drive the command line."""
    store = Store(url)
    try:
        return snapshot(store)
    finally:
        store.close()


@contextmanager
def changes_nothing(store: Store) -> Iterator[None]:
    """Asserts that the block leaves every table as it was: a refused command writes nothing."""
    before = snapshot(store)
    yield
    assert snapshot(store) == before


def publish_text(store: Store, tmp_path: Path, text: str, name: str = "pb.yaml") -> dict[str, Any]:
    path = tmp_path / name
    path.write_text(text)
    return service.publish(store, str(path), service.Caller())


def finished_run(store: Store) -> str:
    """A pricing exception taken to the end: prepared, approved, applied."""
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    apply = decide(store, decision, "approve")["opened"][0]
    act(store, "complete", apply, output={"quote_id": "Q"})
    return run.id


def copy_tables(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table: a backup to restore later (a rollback attack)."""
    with store.engine.connect() as conn:
        return {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in schema.metadata.sorted_tables}


def restore_tables(store: Store, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Put a database back as `copy_tables` saw it."""
    with store.engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            conn.execute(delete(table))
        for table in schema.metadata.sorted_tables:
            if rows[table.name]:
                conn.execute(insert(table), rows[table.name])


def body_by_hand(event: dict[str, Any], key: str, json_text: str) -> str:
    """An event's stored body with the value of `key` written by hand as `json_text` (which need not be
    canonical, or JSON at all), the rest as the engine writes it."""
    marker = "\u2063placed-by-hand\u2063"
    fields = {k: v for k, v in event.items() if k != "hash"} | {key: marker}
    return canonical_json(fields).decode().replace(f'"{marker}"', json_text)
