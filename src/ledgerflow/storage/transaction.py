"""What one transaction keeps in memory (heads, runs, running counts, the clock), shared by the `Tx` mixins.

Each concern's statements live in its own module (runs.py, chain.py, counts.py, catalog.py, timers.py,
outbox.py, queries.py, attachments.py); `store.Tx` composes them over this state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, select, update

from ledgerflow.domain.figures import Marks
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.states import OPEN_TASK
from ledgerflow.domain.times import format_time, parse_time
from ledgerflow.ops.config import Settings
from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.run_cache import RunCache

_NOW = select(schema.meta.c.value).where(schema.meta.c.key == "now")
_SET_NOW = update(schema.meta).where(schema.meta.c.key == "now").values(value=bindparam("now"))
_HOT_NOW = Hot(_NOW)


class TxBase:
    """A transaction's connection and state; the statements come with the mixins that `Tx` composes."""

    def __init__(self, conn: Connection, url: str, clock: str = "real", *, write: bool = False,
                 settings: Settings | None = None, cache: RunCache | None = None):
        self.conn = conn
        self._cache = cache
        self.url = url
        self.write = write
        self.settings = settings or Settings()
        self.simulated = clock == "simulated"
        self._now: datetime | None = None
        self._directory_version: int | None = None  # read once per transaction, with its first run
        self._latest: dict[str, int] = {}  # the newest version of each playbook a run read was of
        self._earliest_new_timer: str | None = None  # due time of the earliest timer set since last taken
        self._last_seq: int | None = None  # SQLite: the last seq this transaction handed out
        # chain heads this transaction read (and locked) and moved: {chain: (length, hash)}, with the length each
        # had in the database (None: no head row yet); stored by `flush`, or before a read of the heads
        self._heads: dict[str, tuple[int, str]] = {}
        self._runs: dict[str, RunState] = {}  # the last runs read (locked, in a write) or saved: see `_keep`
        self._saved: set[str] = set()  # runs this transaction saved, and chains it appended to: `committed` keeps
        self._moved: set[str] = set()  # a saved run whose chain moved, and drops the others
        self._stored_length: dict[str, int | None] = {}
        # running counts not yet stored (see `flush`): open tasks gained (+) or lost (-) per assignee, week counts
        # per (playbook, week), latency marks per (playbook, week, threshold)
        self._load: dict[str, int] = {}
        self._counts: dict[tuple[str, str], dict[str, int]] = {}
        self._marks: dict[tuple[str, str, float], Marks] = {}

    def _track(self, before: Iterable[TaskState], after: Iterable[TaskState]) -> None:
        """Count the open tasks each assignee gains and loses between two versions of some tasks."""
        for tasks, sign in ((before, -1), (after, 1)):
            for task in tasks:
                if task.assignee is not None and task.status in OPEN_TASK:
                    self._load[task.assignee] = self._load.get(task.assignee, 0) + sign

    # -------------------------------------------------------------------------------- clock

    def now(self) -> datetime:
        """The database clock: the simulated time, or the real UTC time (fixed for the transaction)."""
        if self._now is None:
            if self.simulated:
                self._now = parse_time(str(_HOT_NOW.scalar(self.conn)))
            else:
                self._now = datetime.now(UTC)
        return self._now

    def move_clock(self, moment: datetime) -> None:
        """The time this transaction's events carry from now on; `set_clock` stores it."""
        self._now = moment

    def set_clock(self, moment: datetime) -> None:
        self.conn.execute(_SET_NOW, {"now": format_time(moment)})
        self._now = moment
