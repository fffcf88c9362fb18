"""Directory versions, published playbooks and their governance rows (agents' autonomy included): each parsed
once per process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from ledgerflow.domain.autonomy import AgentAutonomy, Autonomy
from ledgerflow.domain.directory import Directory, load_directory
from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.playbook import Playbook, load_playbook
from ledgerflow.domain.source import Source
from ledgerflow.domain.times import parse_time
from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.transaction import _NOW, TxBase

_DIRECTORY_VERSION = select(func.max(schema.directory_versions.c.version))
_DIRECTORY_VERSION_AND_NOW = select(_DIRECTORY_VERSION.scalar_subquery(), _NOW.scalar_subquery())
_LATEST_VERSION = select(func.max(schema.playbooks.c.version))
_LATEST_PLAYBOOK = _LATEST_VERSION.where(schema.playbooks.c.id == bindparam("playbook"))
_GOVERNANCE = select(schema.governance).where(schema.governance.c.playbook == bindparam("playbook"))
_HOT_LATEST_PLAYBOOK, _HOT_GOVERNANCE = Hot(_LATEST_PLAYBOOK), Hot(_GOVERNANCE)
_HOT_DIRECTORY_VERSION_AND_NOW = Hot(_DIRECTORY_VERSION_AND_NOW)
_HOT_DIRECTORY_VERSION = Hot(_DIRECTORY_VERSION)  # every token check
_MAX_VERSION = 2**31 - 1

_PLAYBOOK_CACHE: dict[tuple[str, str, int], Playbook] = {}
_DIRECTORY_CACHE: dict[tuple[str, int], Directory] = {}

class Catalog(TxBase):
    """The directory and the playbooks, as a transaction reads and stores them."""

    # ---------------------------------------------------------------------------- directory

    def directory_version(self) -> int:
        return int(_HOT_DIRECTORY_VERSION.scalar(self.conn) or 0)

    def directory(self) -> Directory | None:
        if self._directory_version is not None:  # read with the command's run
            version = self._directory_version
        elif self.simulated and self._now is None:  # a command reads both: one round trip
            version, now = _HOT_DIRECTORY_VERSION_AND_NOW.first(self.conn)
            version, self._now = int(version or 0), parse_time(str(now))
        else:
            version = self.directory_version()
        self._directory_version = version  # read once per transaction
        if not version:
            return None
        key = (self.url, version)
        if key not in _DIRECTORY_CACHE:
            data = self.conn.execute(select(schema.directory_versions.c.data)
                                     .where(schema.directory_versions.c.version == version)).scalar_one()
            _DIRECTORY_CACHE[key] = load_directory(Source(data=data))[0]
        return _DIRECTORY_CACHE[key]

    def directory_row(self) -> Any:
        """The newest directory version's row (version, digest, data, loaded_at), or None."""
        d = schema.directory_versions
        return self.conn.execute(select(d).order_by(d.c.version.desc()).limit(1)).one_or_none()

    def save_directory(self, data: Any, digest: str, at: str) -> int:
        version = self.directory_version() + 1
        self.conn.execute(insert(schema.directory_versions).values(version=version, digest=digest, data=data,
                                                                   loaded_at=at))
        self._directory_version = version
        return version

    # ---------------------------------------------------------------------------- playbooks

    def playbook(self, playbook_id: str, version: int | None = None) -> tuple[Playbook, int]:
        """A published playbook (the newest version unless one is named), parsed once per process."""
        t = schema.playbooks
        if version is None:  # read with a run of this playbook, or now
            version = self._latest.get(playbook_id) or _HOT_LATEST_PLAYBOOK.scalar(self.conn, {"playbook": playbook_id})
            if version is None:
                raise NotFound(f"no published playbook {playbook_id!r}", rule="unknown-playbook")
        if not 1 <= version <= _MAX_VERSION:  # no such version, and a database integer could not even hold it
            raise NotFound(f"playbook {playbook_id!r} has no version {version}", rule="unknown-version")
        key = (self.url, playbook_id, version)
        if key not in _PLAYBOOK_CACHE:
            row = self.conn.execute(select(t.c.data, t.c.file).where(t.c.id == playbook_id, t.c.version == version)
                                    ).one_or_none()
            if row is None:
                raise NotFound(f"playbook {playbook_id!r} has no version {version}", rule="unknown-version")
            _PLAYBOOK_CACHE[key] = load_playbook(Source(data=row.data, file=row.file))
        return _PLAYBOOK_CACHE[key], version

    def playbook_versions(self, playbook_id: str) -> list[Any]:
        t = schema.playbooks
        return list(self.conn.execute(select(t).where(t.c.id == playbook_id).order_by(t.c.version)))

    def insert_playbook(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(schema.playbooks).values(**row))
        self._latest.pop(row["id"], None)

    def list_playbooks(self) -> list[Any]:
        t = schema.playbooks
        latest = select(t.c.id, func.max(t.c.version).label("version"), func.count().label("versions")).group_by(t.c.id)
        return list(self.conn.execute(latest.order_by(t.c.id)))

    def governance(self, playbook_id: str) -> Any:
        return _HOT_GOVERNANCE.first(self.conn, {"playbook": playbook_id})

    def set_governance(self, playbook_id: str, **values: Any) -> None:
        g = schema.governance
        if self.governance(playbook_id) is None:
            self.conn.execute(insert(g).values(playbook=playbook_id, **values))
        else:
            self.conn.execute(update(g).where(g.c.playbook == playbook_id).values(**values))

    def lock_governance(self, playbook_id: str) -> None:
        """Hold the playbook's governance row until commit (PostgreSQL; SQLite serializes writers anyway), so
        that governance decisions on one playbook read the state the one before them left."""
        g = schema.governance
        self.conn.execute(select(g.c.playbook).where(g.c.playbook == playbook_id).with_for_update())

    def autonomy(self, playbook_id: str | None = None) -> Autonomy:
        """The owners' autonomy decisions in force on a playbook's agents (every playbook's when None)."""
        a = schema.agent_autonomy
        query = select(a).order_by(a.c.playbook, a.c.step, a.c.agent)
        if playbook_id is not None:
            query = query.where(a.c.playbook == playbook_id)
        return Autonomy(tuple(
            AgentAutonomy(playbook=row.playbook, step=row.step, agent=row.agent, limit=row.limit_value,
                          withdrawn=bool(row.withdrawn), decided_by=row.decided_by, decided_at=row.decided_at,
                          rationale=row.rationale) for row in self.conn.execute(query)))

    def save_autonomy(self, entry: AgentAutonomy) -> None:
        """Insert or replace the state row of one agent's autonomy at one step."""
        a = schema.agent_autonomy
        key = (a.c.playbook == entry.playbook, a.c.step == entry.step, a.c.agent == entry.agent)
        values = {"limit_value": entry.limit, "withdrawn": entry.withdrawn, "decided_by": entry.decided_by,
                  "decided_at": entry.decided_at, "rationale": entry.rationale}
        if self.conn.execute(update(a).where(*key).values(**values)).rowcount == 0:
            self.conn.execute(insert(a).values(playbook=entry.playbook, step=entry.step, agent=entry.agent, **values))
