"""Which B-trees a command's commit writes: the WAL frames of an engine run, named by table and index.

    python bench/wal_pages.py [--runs 200]

Runs the engine benchmark's workload (bench/engine.py) on a fresh SQLite database with automatic checkpoints
off, so the write-ahead log keeps every frame the run committed; then reads the log's frame headers (each
names the page it carries) and looks the pages up in SQLite's `dbstat` table of the database as it stands
after the run. A page that changed owner during the run (freed, then reused by another B-tree) is named by its
last owner, which is rare in an append-mostly workload.

`--without INDEX` (repeatable) drops an index before the run: what a command would write if the queries that
read it were answered otherwise (the engine's commands never need them to be correct, only fast).

Prints one JSON object: frames per command in all, and per B-tree. Issue #25's write-volume target (at most 14
pages per command) is read from here; bench/compare.py measures the bytes written, checkpoints included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import struct
from collections import Counter
from pathlib import Path
from typing import Any

from common import new_store, scratch_dir, sqlite_url
from sqlalchemy import event

from engine import work
from ledgerflow.storage.store import Store

WAL_HEADER = 32
FRAME_HEADER = 24


def _frames(wal: Path) -> Counter[int]:
    """How many frames of the log carry each page number."""
    data = wal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    pages: Counter[int] = Counter()
    for offset in range(WAL_HEADER, len(data) - FRAME_HEADER - page_size + 1, FRAME_HEADER + page_size):
        pages[struct.unpack(">I", data[offset:offset + 4])[0]] += 1
    return pages


def measure(runs: int, without: list[str] | None = None) -> dict[str, Any]:
    directory = scratch_dir("lf-wal-")
    try:
        url = sqlite_url(directory)
        new_store(url).close()
        store = Store(url)  # a new store, so that every connection it opens keeps the log whole

        @event.listens_for(store.engine, "connect")
        def _keep_log(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA wal_autocheckpoint=0")

        store.engine.dispose()  # the connection that checked the database was opened before the setting
        path = Path(url.split("///", 1)[1].split("?", 1)[0])
        with store.engine.connect() as conn:  # the set-up's frames out of the count
            for index in without or ():
                conn.exec_driver_sql(f'DROP INDEX "{index}"')
            conn.commit()
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        result = work(store, runs)
        copy = directory / "copy"
        copy.mkdir()
        shutil.copy(path.with_name(path.name + "-wal"), copy / "lf.db-wal")  # before closing checkpoints it
        shutil.copy(path, copy / "lf.db")
        store.close()
        pages = _frames(copy / "lf.db-wal")
        with sqlite3.connect(copy / "lf.db") as db:  # reads the copied log too
            owner = dict(db.execute("SELECT pageno, name FROM dbstat"))
        commands = result["runs"] + result["human_steps"]
        by_tree: Counter[str] = Counter()
        for page, count in pages.items():
            by_tree[owner.get(page, "(freed)")] += count
        return {
            "benchmark": "wal_pages", "runs": result["runs"], "commands": commands, "without": without or [],
            "frames_per_command": round(sum(pages.values()) / commands, 2),
            "frames_per_command_by_btree": {name: round(count / commands, 2) for name, count in by_tree.most_common()},
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--without", action="append", metavar="INDEX", help="drop this index first (repeatable)")
    args = parser.parse_args()
    print(json.dumps(measure(args.runs, args.without)))


if __name__ == "__main__":
    main()
