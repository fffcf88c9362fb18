"""Every table, declared once. Times are fixed-width RFC 3339 text (ordering text orders time)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=True),
)

directory_versions = Table(
    "directory_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("loaded_at", String(32), nullable=False),
)

playbooks = Table(
    "playbooks", metadata,
    Column("id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("content_hash", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("source", Text, nullable=False),
    Column("file", Text, nullable=True),
    Column("published_at", String(32), nullable=False),
    Column("published_by", String(200), nullable=False),
)

governance = Table(
    "governance", metadata,
    Column("playbook", String(200), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", String(32), nullable=True),
    Column("rationale", Text, nullable=True),
    Column("stopped_through", Integer, nullable=True),
)

outcome_values = Table(
    "outcome_values", metadata,
    Column("playbook", String(200), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("value", Float, nullable=False),
    Column("note", Text, nullable=True),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", String(32), nullable=False),
)
"""The outcome measure per playbook id and ISO week (SPEC §12); the newest recording of a week replaces the
one before (each is an `outcome.recorded` event)."""

agent_autonomy = Table(
    "agent_autonomy", metadata,
    Column("playbook", String(200), primary_key=True),
    Column("step", String(200), primary_key=True),
    Column("agent", String(200), primary_key=True),
    Column("limit_value", Float, nullable=True),
    Column("withdrawn", Boolean, nullable=False),
    Column("decided_by", String(200), nullable=False),
    Column("decided_at", String(32), nullable=False),
    Column("rationale", Text, nullable=False),
)
"""The owners' latest decision on an agent's autonomy at a decision step (SPEC §11), one row per (playbook id,
step, agent); each is a `governance.autonomy_changed` event, which `audit verify` replays against these rows.
`limit_value` null and `withdrawn` false: restored, the playbook applies as written."""

_ENDED = text("ended_at IS NOT NULL")
"""The "ended" indexes hold ended rows only: a new run or task enters them once, when it ends, and every query
on them bounds `ended_at` (issue #25: each index a row enters or moves in costs its commit a page)."""

runs = Table(
    "runs", metadata,
    Column("id", String(64), primary_key=True),
    Column("playbook", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32), nullable=True),
    Column("input", JSON, nullable=False),
    Column("why", Text, nullable=True),
    # figures of an ended run, set in the transaction that ends it (null for runs ended before 0006)
    Column("exception", Boolean, nullable=True),
    Column("reworked", Boolean, nullable=True),
    Column("failed_check", Boolean, nullable=True),
    # documents attached to the run and its tasks (SPEC §14), as `domain.attachments.Attachment` records; null: none
    Column("attachments", JSON, nullable=True),
    Column("held", Boolean, nullable=True),  # a legal hold: the run's documents outlive their retention
    Index("ix_runs_playbook_status", "playbook", "status"),
    Index("ix_runs_ended", "playbook", "ended_at", sqlite_where=_ENDED),
    Index("ix_runs_starter_status", "started_by", "status"),
    Index("ix_runs_started", "started_at", "id"),  # the runs list, newest first (issue #21)
)

period_counts = Table(
    "period_counts", metadata,
    Column("playbook", String(200), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("ended", Integer, nullable=False),
    Column("exceptions", Integer, nullable=False),
    Column("clean", Integer, nullable=False),
    Column("rework", Integer, nullable=False),
    Column("decided", Integer, nullable=False),
    Column("slot", Integer, primary_key=True, server_default="0"),
)
"""Running counts of each playbook's ISO weeks (`2026-W10`), moved by the command that ends a run, sends
one back or decides: a week's scorecard, which risk triggers read after every run end, reads one row instead
of counting the week's runs and send-backs. `clean` counts runs that ended completed, never sent back, no
failed check (first-pass yield); `decided`, decision tasks decided (each quorum seat). A week's counts are
spread over `slot`s (one per transaction's turn on PostgreSQL, 0 on SQLite) that readers add up, so concurrent
commands in one week do not queue on one row lock until each commits."""

workload = Table(
    "workload", metadata,
    Column("actor", String(200), primary_key=True),
    Column("open", Integer, nullable=False),
)
"""Open tasks per assignee, moved with the task rows: least-loaded routing reads one row per candidate
instead of counting their open tasks (a role holding a million open tasks made every routing count them)."""

latency_marks = Table(
    "latency_marks", metadata,
    Column("playbook", String(200), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("threshold", Float, primary_key=True),
    Column("decided", Integer, nullable=False),
    Column("below", Integer, nullable=False),
    Column("above", Integer, nullable=False),
    Column("max_below", Float, nullable=True),
    Column("min_above", Float, nullable=True),
    Column("slot", Integer, primary_key=True, server_default="0"),
)
"""Where a week's decision latencies fall around each latency risk trigger's threshold (`domain.figures.Marks`),
moved by every decision of a run whose playbook version has that trigger. A row counting fewer decisions
than its week's `period_counts.decided` (the trigger arrived mid-week) is not used. Spread over `slot`s as
`period_counts` is, folded as `Marks.merged` folds marks."""

tasks = Table(
    "tasks", metadata,
    Column("id", String(64), primary_key=True),
    Column("ord", Integer, nullable=False),
    Column("run", String(64), nullable=True),
    Column("playbook", String(200), nullable=False),
    Column("step", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("assignee", String(200), nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("seat", Integer, nullable=False),
    Column("ready_at", String(32), nullable=False),
    Column("due_at", String(32), nullable=True),
    Column("sla_due_at", String(32), nullable=True),
    Column("started_at", String(32), nullable=True),
    Column("ended_at", String(32), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("rationale", Text, nullable=True),
    Column("output", JSON, nullable=True),
    Column("data_hash", String(64), nullable=True),
    Column("approver", String(200), nullable=True),
    Column("authority_row", Integer, nullable=True),
    Column("on_behalf_of", String(200), nullable=True),
    Column("escalated", Boolean, nullable=False),
    Column("blocked", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("pulled_in", JSON(none_as_null=True), nullable=True),  # NULL, not JSON null: see ix_tasks_pulled_in
    Index("ix_tasks_run", "run", "ord"),
    Index("ix_tasks_inbox", "assignee", "status", "ready_at", "id"),
    Index("ix_tasks_step_assignee", "playbook", "step", "assignee", "ready_at"),
    Index("ix_tasks_status_ready", "status", "ready_at"),
    Index("ix_tasks_playbook_type_ended", "playbook", "type", "ended_at", sqlite_where=_ENDED),
    # the few tasks someone holds for another or was pulled into: who sees which runs (web lists, issue #21).
    # Partial indexes are partial on both databases (migrations 0018, 0020); `postgresql_where` is left out here
    # because naming it loads SQLAlchemy's PostgreSQL dialect in every command, and only the migrations create
    # indexes
    Index("ix_tasks_on_behalf", "on_behalf_of", "run", sqlite_where=text("on_behalf_of IS NOT NULL")),
    Index("ix_tasks_pulled_in", "run", sqlite_where=text("pulled_in IS NOT NULL")),
)

recommendations = Table(
    "recommendations", metadata,
    Column("task", String(64), primary_key=True),
    Column("actor", String(200), primary_key=True),
    Column("run", String(64), nullable=False),
    Column("step", String(200), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Index("ix_recommendations_run", "run"),
)

attachments = Table(
    "attachments", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("run", String(64), primary_key=True),
    Index("ix_attachments_run", "run"),
)
"""Which runs reference which document, written with the run: `attachment get` finds the runs that decide who
may read a document, and the orphan sweep the documents nobody references."""

blobs = Table(
    "blobs", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("stored_at", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
"""Document bytes by SHA-256 on a PostgreSQL installation, so that every process shares them (SQLite keeps them
in files beside the database); each is written in a transaction of its own before the command that refers to it."""

uploads = Table(
    "uploads", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("actor", String(200), primary_key=True),
    Column("name", Text, nullable=False),
    Column("at", String(32), nullable=False),
)
"""Who uploaded which document through the API: an upload's hash may be referenced by its uploader only (knowing
a hash is not having the document)."""

SYSTEM_CHAIN = "system"
"""The chain of events that belong to no run: directory loads, publications, governance, reviews, tokens."""

event_seq = Sequence("events_seq", metadata=metadata)
"""PostgreSQL draws global seqs from this sequence (CACHE 1: values rise in the order they are drawn, but may
commit out of order and leave gaps); SQLite uses max + 1 under its one writer."""

events = Table(
    "events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("chain", String(64), nullable=False),
    Column("chain_seq", Integer, nullable=False),
    Column("at", String(32), nullable=False),
    Column("type", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("run", String(64), nullable=True),
    Column("task", String(64), nullable=True),
    Column("step", String(200), nullable=True),
    Column("hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_events_chain", "chain", "chain_seq", unique=True),
    Index("ix_events_type_at", "type", "at"),
)
"""Each event is linked to the previous event of its chain (the run's, or the system chain). `body` is the
event's canonical JSON (RFC 8785), every field but `hash`: the very bytes `hash` is the SHA-256 of, so a verify
hashes what is stored. The columns before it repeat the body's fields that queries select and join on; the
body alone holds `authority`, `data`, `v` and `prev_hash` (storage/chain.py reads them from it)."""

chains = Table(
    "chains", metadata,
    Column("id", String(64), primary_key=True),
    Column("length", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)
"""The head of every chain, moved in the transaction that appends to it; one row per run plus `system`."""

timers = Table(
    "timers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("due_at", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("run", String(64), nullable=True),
    Column("task", String(64), nullable=True),
    Column("data", JSON, nullable=False),
    Column("fired_at", String(32), nullable=True),
    Index("ix_timers_due", "fired_at", "due_at"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("recipient", Text, nullable=True),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("event_seq", Integer, nullable=True),
    Column("run", String(64), nullable=True),
    Column("task", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(32), nullable=False),
    Column("lease_until", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("delivered_at", String(32), nullable=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

tokens = Table(
    "tokens", metadata,
    Column("id", String(64), primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("actor", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("task", String(64), nullable=True),
    Column("email", String(320), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
    Column("revoked_at", String(32), nullable=True),
    Column("revoked_by", String(200), nullable=True),
    Index("ix_tokens_actor", "actor"),
)
"""Bearer tokens: only the SHA-256 of a token is kept. `actor` is the token's actor, or for a guest token
(`kind` guest, `task` set) the actor who invited the guest."""

action_links = Table(
    "action_links", metadata,
    Column("id", String(64), primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("task", String(64), nullable=False),
    Column("run", String(64), nullable=False),
    Column("addressee", String(200), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("used_at", String(32), nullable=True),
    Index("ix_action_links_task", "task"),
)
"""E-mail decision links (SPEC §13): only the SHA-256 of a link's token is kept; a link is bound to its task,
addressee, outcome and the data_hash when it was sent, and is used once."""

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("actor", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("response", JSON, nullable=True),
    Column("created_at", String(32), nullable=False),
)
"""The first answer to each (actor, Idempotency-Key) of the REST API; `status` is null while it is in flight."""

approvals = Table(
    "approvals", metadata,
    Column("id", String(64), primary_key=True),
    Column("run", String(64), nullable=False, unique=True),
    Column("agent", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("arguments_hash", String(64), nullable=False),
    Column("playbook", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("consumed_at", String(32), nullable=True),
    Index("ix_approvals_agent", "agent"),
)
"""Approval grants (SPEC §11): one row per request, beside the run of the approval playbook that decides it;
the arguments themselves are the run's input. `consumed_at` is set once, by a conditional update."""
