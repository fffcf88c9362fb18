"""Helpers shared by the benchmark scripts: fresh databases, medians and percentiles, the machine.

Not part of the package: the scripts in bench/ import this module as a sibling (`python bench/run.py`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import create_engine, text

import ledgerflow
from ledgerflow.domain.times import parse_time
from ledgerflow.engine import service
from ledgerflow.storage.database import initialize, make_engine, normalize_url
from ledgerflow.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
# the ledgerflow being measured (the work tree's src/, or the snapshot `run.py --source head` points at)
EXAMPLES = Path(ledgerflow.__file__).resolve().parent / "examples"
DIRECTORY = EXAMPLES / "directory.yaml"
PRICING = EXAMPLES / "pricing-exception.yaml"
START = "2026-03-02T08:00:00Z"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN = service.Caller()


def scratch_dir(prefix: str = "lf-bench-") -> Path:
    """A new temporary directory (on the same disk as /tmp, which the SQLite figures measure)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def sqlite_url(directory: Path | None = None, name: str = "bench.db") -> str:
    return normalize_url(f"sqlite:///{(directory or scratch_dir()) / name}")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres://"))


@contextlib.contextmanager
def pg_schema(server_url: str = PG_DEFAULT) -> Iterator[str]:
    """A dedicated, empty schema on the PostgreSQL server for one benchmark; dropped afterwards.

    Yields the URL whose connections use that schema only (search_path), as the test suite does.
    """
    base = normalize_url(server_url)
    schema = f"lfbench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def new_store(url: str, *, simulated: bool = True, start: str = START, playbook: Path = PRICING) -> Store:
    """Initialize a database at `url` with the example directory and the pricing-exception playbook."""
    engine = make_engine(url)
    initialize(engine, url, parse_time(start) if simulated else None)
    engine.dispose()
    store = Store(url)
    service.load_directory_file(store, str(DIRECTORY), ADMIN)
    service.publish(store, str(playbook), ADMIN)
    return store


def playbook_without_triggers(directory: Path) -> Path:
    """The pricing-exception playbook minus its governance risk triggers (same id, steps and rules).

    A trigger check runs the period's scorecard after every run that ends; this variant isolates that cost.
    """
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load(PRICING.read_text(encoding="utf-8"))
    data["governance"].pop("triggers", None)
    path = directory / "pricing-exception-no-triggers.yaml"
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    return path


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), as SPEC §5 does for figures."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median with min and max, so a reader sees how noisy the repeats were."""
    return {"median": round(median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def _command(args: list[str]) -> str | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def postgres_version(url: str = PG_DEFAULT) -> str | None:
    try:
        engine = create_engine(normalize_url(url))
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar())
            sync = str(conn.execute(text("SHOW synchronous_commit")).scalar())
            fsync = str(conn.execute(text("SHOW fsync")).scalar())
        engine.dispose()
    except Exception:
        return None
    return f"{version} (synchronous_commit={sync}, fsync={fsync})"


def source_state() -> dict[str, object]:
    """Which ledgerflow was measured: the package's path, the commit, and src/'s uncommitted changes."""
    package = Path(ledgerflow.__file__).resolve().parent
    snapshot = not package.is_relative_to(ROOT)
    commit = os.environ.get("LEDGERFLOW_BENCH_SNAPSHOT") if snapshot else None
    commit = commit or _command(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = None if snapshot else _command(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    return {"package": str(package), "commit": commit,
            "measured": "snapshot of HEAD's src/" if snapshot else "work tree src/",
            "src_uncommitted": [line[3:] for line in (dirty or "").splitlines()]}


def machine() -> dict[str, object]:
    """What the figures were measured on, read at run time."""
    mem_kib = None
    with contextlib.suppress(OSError):
        meminfo = Path("/proc/meminfo").read_text()
        match = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
        mem_kib = int(match.group(1)) if match else None
    cpu = None
    with contextlib.suppress(OSError):
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = match.group(1).strip() if match else None
    disk = _command(["df", "-h", "--output=source,fstype,size", tempfile.gettempdir()])
    load = None
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[:3]
    try:
        from importlib.metadata import version

        spiff = version("SpiffWorkflow")
    except Exception:
        spiff = None
    sqlalchemy_version = __import__("sqlalchemy").__version__
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(),
        "sqlalchemy": sqlalchemy_version,
        "spiffworkflow": spiff,
        "platform": platform.platform(),
        "tmp_filesystem": disk.splitlines()[-1] if disk else None,
        "loadavg_at_start": load,
    }
