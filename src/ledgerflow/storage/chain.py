"""The audit log: hash-chained events, the heads of their chains and global seqs, appended and read here.

The audit log is a set of hash chains, one per run plus the `system` chain for events of no run. An
event's `prev_hash` is the hash of the event before it *in its chain* (`chain_seq` one less), and the
chain's head (length, hash) sits in `chains`, moved in the same transaction. A command locks only the
heads of the chains it appends to, and a command's run is locked already, so commands on different runs
never wait on each other. `seq` is a global number (PostgreSQL: a sequence, so values may commit out of
order and leave gaps; SQLite: max + 1 under its single writer); it is hashed with the event and rises
along each chain, but verification relies on the chains, not on seq being dense. Removal, insertion or
reordering anywhere breaks a chain's links or disagrees with its head; rewriting a chain *and* its head
is caught by a signed checkpoint, which covers every chain's head (see evidence.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, text, update

from ledgerflow.domain.canonical import ZERO_HASH, canonical_json
from ledgerflow.domain.errors import Conflict, LimitExceeded
from ledgerflow.domain.events import Event, record
from ledgerflow.domain.figures import FLAG_EVENTS
from ledgerflow.storage import schema
from ledgerflow.storage.batches import by_ids, id_lists
from ledgerflow.storage.chain_scan import Chain as ScannedChain
from ledgerflow.storage.chain_scan import scan_chains
from ledgerflow.storage.event_body import event_of, event_row, field, fields, judged, text_at
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.transaction import TxBase

_e, _h = schema.events, schema.chains
_LAST_SEQ = select(func.max(_e.c.seq))
_NEW_HEADS = insert(_h)
_MOVE_HEAD = update(_h).where(_h.c.id == bindparam("chain"), _h.c.length == bindparam("old_length")).values(
    length=bindparam("new_length"), hash=bindparam("new_hash"))
_NEXT_SEQS = select(schema.event_seq.next_value()).select_from(func.generate_series(1, bindparam("n")))
_INSERT_EVENTS = insert(_e)
_EVENT_DATA = select(field("data")).where(_e.c.type == bindparam("type"), _e.c.at >= bindparam("start"),
                                     _e.c.at < bindparam("end"))
# a run's events are its chain: read through the chain index, not a scan of every flag event in the log (no IN:
# a hot statement binds a fixed list)
_RUN_FLAG_EVENTS = select(_e.c.type, fields("authority", "data")).where(
    _e.c.chain == bindparam("run"), or_(*(_e.c.type == type_ for type_ in FLAG_EVENTS)))
_HOT_NEW_HEADS, _HOT_MOVE_HEAD = Hot(_NEW_HEADS, by_columns=True), Hot(_MOVE_HEAD)
_HOT_LAST_SEQ, _HOT_NEXT_SEQS = Hot(_LAST_SEQ), Hot(_NEXT_SEQS)
_HOT_INSERT_EVENTS = Hot(_INSERT_EVENTS, by_columns=True)
_HOT_RUN_FLAG_EVENTS, _HOT_EVENT_DATA = Hot(_RUN_FLAG_EVENTS), Hot(_EVENT_DATA)


_POSITIONS = {
    "sqlite": ("json_each(:at) AS p", "json_extract(p.value, '$[0]')", "json_extract(p.value, '$[1]')",
               "json_extract(p.value, '$[2]')"),
    "postgresql": ("jsonb_array_elements(CAST(:at AS jsonb)) AS p", "(p->>0)", "CAST(p->>1 AS integer)", "(p->>2)"),
}
"""Chain positions sent as one JSON parameter, `[[chain, length, hash], ...]`, unpacked by each dialect's JSON
functions: a checkpoint of many chains costs one index probe each inside the database, not a statement each."""


def _position_queries(dialect: str) -> dict[str, Any]:
    rows, chain, length, head = _POSITIONS[dialect]
    return {
        "links": text(f"SELECT e.chain, e.chain_seq, e.seq, e.hash FROM {rows} "
                      f"JOIN events AS e ON e.chain = {chain} AND e.chain_seq = {length}"),
        "astray": text(f"SELECT {chain}, {length}, e.seq, e.hash FROM {rows} LEFT JOIN events AS e "
                       f"ON e.chain = {chain} AND e.chain_seq = {length} WHERE e.hash IS NULL OR e.hash <> {head}"),
        "moved": text(f"SELECT c.id, c.length, c.hash FROM {rows} JOIN chains AS c ON c.id = {chain} "
                      f"WHERE c.length <> {length} OR c.hash <> {head}"),
        "new": text(f"SELECT c.id, c.length, c.hash FROM chains AS c WHERE c.id NOT IN (SELECT {chain} FROM {rows})"),
    }


_QUERIES_BY_DIALECT = {name: _position_queries(name) for name in _POSITIONS}


def event_hash(stored: Mapping[str, Any]) -> str:
    """SHA-256 over the RFC 8785 canonical JSON of the event without `hash` (its body, as stored)."""
    return hashlib.sha256(canonical_json(stored)).hexdigest()


def _in_range(query: Any, column: Any, low: str | None, high: str | None) -> Any:
    if low is not None:
        query = query.where(column >= low)
    if high is not None:
        query = query.where(column < high)
    return query


class Chain(TxBase):
    """Appending events to their chains, and reading the chains and heads back."""

    def run_flag_events(self, run_id: str) -> list[tuple[str, Any, Any]]:
        """(type, authority, data) of the run's events that the scorecard's flags read."""
        return [(type_, *found) for type_, found in _HOT_RUN_FLAG_EVENTS.rows(self.conn, {"run": run_id})]

    def event_data(self, type_: str, start: str, end: str) -> list[Any]:
        """The `data` of the events of one type in [start, end): what risk triggers read after every run end."""
        return [row.data for row in _HOT_EVENT_DATA.rows(self.conn, {"type": type_, "start": start, "end": end})]

    def append(self, events: Sequence[Event]) -> list[dict[str, Any]]:
        """Append events to their chains (the run's, or `system`) and move the heads, in this transaction.

        A chain's head is read and locked at the transaction's first append to it, kept here while later
        appends move it, and written once, just before the commit (`flush`). On PostgreSQL the statement that
        locks the heads also draws the seqs.
        """
        if not events:
            return []
        heads = self._heads
        missing = sorted({event.run or schema.SYSTEM_CHAIN for event in events} - heads.keys())
        lists, drawn = list(id_lists(missing)), None
        for index, (size, binds) in enumerate(lists):
            found: Iterable[tuple[str, int, str]]
            if self.conn.dialect.name == "postgresql":  # the seqs come with the last list's heads (batches.py)
                n = len(events) if index == len(lists) - 1 else 0
                ids, lengths, hashes, fresh = by_ids("heads_and_seqs", size).first(self.conn, {**binds, "n": n})
                found, drawn = zip(ids or (), lengths or (), hashes or (), strict=True), fresh or drawn
            else:
                found = by_ids("heads", size).rows(self.conn, binds)
            for chain, length, digest in found:
                heads[chain] = (length, digest)
                self._stored_length[chain] = length
        for chain in missing:
            self._stored_length.setdefault(chain, None)
        seqs = iter(self._next_seqs(len(events)) if drawn is None else sorted(drawn))
        appended, rows = [], []
        for event in events:
            chain = event.run or schema.SYSTEM_CHAIN
            length, prev = heads.get(chain, (0, ZERO_HASH))
            stored = record(event, next(seqs), chain, length + 1, prev)
            try:
                row = event_row(stored)
            except ValueError as exc:  # the input gate lets nothing through that has no canonical form
                raise LimitExceeded(f"event {event.type} has no canonical form: {exc}", rule="not-canonical",
                                    details={"event": event.type}) from exc
            stored["hash"] = digest = row["hash"]
            heads[chain] = (length + 1, digest)
            self._moved.add(chain)
            appended.append(stored)
            rows.append(row)
        _HOT_INSERT_EVENTS.run(self.conn, rows)
        return appended

    def _store_heads(self) -> None:
        """Write the heads this transaction moved: new chains' rows, and each moved head from the length read."""
        moved = [(chain, head) for chain, head in sorted(self._heads.items())
                 if self._stored_length[chain] != head[0]]
        new = [{"id": c, "length": n, "hash": h} for c, (n, h) in moved if self._stored_length[c] is None]
        if new:
            _HOT_NEW_HEADS.run(self.conn, new)
        for chain, (length, digest) in moved:
            old_length = self._stored_length[chain]
            if old_length is not None and _HOT_MOVE_HEAD.run(self.conn, {
                    "chain": chain, "old_length": old_length, "new_length": length, "new_hash": digest}) != 1:
                raise Conflict("another command appended to the log first; try again", rule="conflict")
            self._stored_length[chain] = length

    def _next_seqs(self, n: int) -> list[int]:
        """`n` fresh global seqs: drawn from a sequence on PostgreSQL (here for an append whose heads this
        transaction holds already), max + 1 under SQLite's one writer."""
        if self.conn.dialect.name == "postgresql":
            return [int(row[0]) for row in _HOT_NEXT_SEQS.rows(self.conn, {"n": n})]
        if self._last_seq is None:  # read once per transaction: no other writer can append until it ends
            self._last_seq = int(_HOT_LAST_SEQ.scalar(self.conn) or 0)
        self._last_seq += n
        return list(range(self._last_seq - n + 1, self._last_seq + 1))

    def last_event_seq(self, type_: str, match: Mapping[str, str]) -> int | None:
        """The seq of the latest event of a type whose `data` has these string values; None when there is none."""
        e = schema.events
        dialect = self.conn.dialect.name
        query = select(func.max(e.c.seq)).where(
            e.c.type == type_, *(text_at(dialect, "data", key) == value for key, value in match.items()))
        found = self.conn.execute(query).scalar()
        return None if found is None else int(found)

    def agent_recommendations(self, playbook_id: str, agent: str, step: str
                              ) -> tuple[list[tuple[str, int, str]], dict[str, tuple[int, str]]]:
        """An agent's recommendations at a step of a playbook's runs, (run, attempt, outcome) in log order, and
        per run of theirs the step's last decision, (seq, outcome): what its agreement is measured on."""
        e, r = schema.events, schema.runs
        mine = (e.c.type == "recommendation.recorded", e.c.actor == agent, e.c.step == step,
                e.c.run.in_(select(r.c.id).where(r.c.playbook == playbook_id)))
        recommended = [(str(row.run), int(row.data.get("attempt", 1)), str(row.data["outcome"])) for row in
                       self.conn.execute(select(e.c.run, field("data")).where(*mine).order_by(e.c.seq))]
        mine_runs = select(e.c.run).where(*mine).scalar_subquery()
        final: dict[str, tuple[int, str]] = {}
        for row in self.conn.execute(select(e.c.run, e.c.seq, field("data")).where(
                e.c.type == "task.decided", e.c.step == step, e.c.run.in_(mine_runs)).order_by(e.c.seq)):
            final[str(row.run)] = (int(row.seq), str(row.data["outcome"]))
        return recommended, final

    def events_of_type(self, type_: str, start: str, end: str) -> list[dict[str, Any]]:
        e = schema.events
        query = select(e).where(e.c.type == type_, e.c.at >= start, e.c.at < end).order_by(e.c.seq)
        return [event_of(row) for row in self.conn.execute(query)]

    def chain_heads(self, low: str | None = None, high: str | None = None) -> dict[str, tuple[int, str]]:
        """Every chain's head, {chain: (length, hash)}; only chains with ids in [low, high) when given."""
        self._store_heads()
        return {row.id: (row.length, row.hash) for row in self.conn.execute(_in_range(select(_h), _h.c.id, low, high))}

    def chain_bounds(self, parts: int) -> list[str | None]:
        """Chain ids that cut the chains into `parts` ranges of about equal count (fewer when there are fewer
        chains): [None, id, ..., None]."""
        self._store_heads()
        total = int(self.conn.execute(select(func.count()).select_from(_h)).scalar() or 0)
        parts = min(parts, total)
        if parts <= 1:
            return [None, None]
        cuts = [self.conn.execute(select(_h.c.id).order_by(_h.c.id).offset(total * k // parts).limit(1)).scalar()
                for k in range(1, parts)]
        return [None, *dict.fromkeys(str(c) for c in cuts), None]

    def event_total(self) -> int:
        """The events the chain heads account for (one row per chain, not a scan of the log)."""
        self._store_heads()
        return int(self.conn.execute(select(func.coalesce(func.sum(_h.c.length), 0))).scalar() or 0)

    def chain_head(self, chain: str) -> tuple[int, str]:
        """One chain's head (length, hash); (0, zeros) for a chain with no events."""
        self._store_heads()
        row = self.conn.execute(select(_h.c.length, _h.c.hash).where(_h.c.id == chain)).one_or_none()
        return (0, ZERO_HASH) if row is None else (int(row.length), str(row.hash))

    def chain_links(self, positions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, str]]:
        """(seq, hash) of the event at each (chain, chain_seq) asked for that exists."""
        if not positions:
            return {}
        rows = self._positions("links", [[chain, length, ""] for chain, length in positions])
        return {(row[0], int(row[1])): (int(row[2]), str(row[3])) for row in rows}

    def heads_astray(self, heads: Mapping[str, tuple[int, str]]) -> dict[tuple[str, int], tuple[int, str] | None]:
        """The signed heads that are not in place: per (chain, length), the (seq, hash) found there instead,
        or None when the chain is shorter. Only the differences leave the database."""
        rows = self._positions("astray", [[chain, length, head] for chain, (length, head) in heads.items()])
        return {(row[0], int(row[1])): None if row[2] is None else (int(row[2]), str(row[3])) for row in rows}

    def heads_moved(self, heads: Mapping[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
        """The stored heads that differ from `heads`, and the chains `heads` does not name."""
        wanted = [[chain, length, head] for chain, (length, head) in heads.items()]
        return {row[0]: (int(row[1]), str(row[2])) for name in ("moved", "new")
                for row in self._positions(name, wanted)}

    def _positions(self, name: str, wanted: list[list[Any]]) -> list[Any]:
        self._store_heads()
        query = _QUERIES_BY_DIALECT[self.conn.dialect.name][name]
        return list(self.conn.execute(query, {"at": json.dumps(wanted)}))

    def chain_tail(self, chain: str, after: int) -> tuple[list[dict[str, Any]], list[str | None]]:
        """One chain's events past position `after` (chain_seq), in chain order, with their bodies' hashes (as
        `scan_chains` gives them)."""
        query = select(_e).where(_e.c.chain == chain, _e.c.chain_seq > after).order_by(_e.c.chain_seq)
        pairs = [judged(row) for row in self.conn.execute(query)]
        return [event for event, _ in pairs], [digest for _, digest in pairs]

    def ledger_id(self) -> str | None:
        """The id `init` gave this ledger (checkpoints name it); None for a database made before ids."""
        value = self.conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "ledger")).scalar()
        return None if value is None else str(value)

    def set_ledger_id(self, value: str) -> None:
        self.conn.execute(insert(schema.meta).values(key="ledger", value=value))

    def event_count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(_e)).scalar() or 0)

    def last_seq(self) -> int:
        return int(self.conn.execute(_LAST_SEQ).scalar() or 0)

    def chain_events(self, low: str | None = None, high: str | None = None) -> Iterator[dict[str, Any]]:
        """Every event (of the chains in [low, high)), chain by chain in chain order, streamed."""
        query = _in_range(select(_e), _e.c.chain, low, high).order_by(_e.c.chain, _e.c.chain_seq)
        for row in self.conn.execute(query.execution_options(stream_results=True, yield_per=2000)):
            yield event_of(row)

    def scan_chains(self, low: str | None = None, high: str | None = None) -> Iterator[ScannedChain]:
        """Every chain (with an id in [low, high)) whole, with the hash each event's stored fields give now:
        `chain_events` grouped by chain, read and hashed at the driver (see chain_scan.py)."""
        return scan_chains(self.conn, low, high)

    def events(self, run: str | None = None, after_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Events in seq order; a run's events are its chain (seq rises along a chain, commits in its order)."""
        e = schema.events
        if run is not None:
            query = select(e).where(e.c.chain == run, e.c.seq > after_seq).order_by(e.c.chain_seq)
        else:
            query = select(e).where(e.c.seq > after_seq).order_by(e.c.seq)
        if limit is not None:
            query = query.limit(limit)
        return [event_of(row) for row in self.conn.execute(query)]

    def events_of_runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The events of these runs' chains, in seq order (bounded IN lists)."""
        e = schema.events
        found: list[dict[str, Any]] = []
        for start in range(0, len(run_ids), 500):
            query = select(e).where(e.c.chain.in_(list(run_ids[start:start + 500])))
            found.extend(event_of(row) for row in self.conn.execute(query))
        return sorted(found, key=lambda row: row["seq"])
