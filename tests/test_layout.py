"""The architecture as a test: SQL stays in `storage/`, and the domain core does no I/O.

Every module under src/ledgerflow is parsed (not imported), and every import it makes counts, whether at
module level, inside a function or under `TYPE_CHECKING`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ledgerflow"

SQL = ("sqlalchemy", "alembic")
IO = (*SQL, "httpx", "requests", "urllib.request", "http", "socket", "ssl", "smtplib", "email", "subprocess",
      "sqlite3", "psycopg", "psycopg2", "asyncio", "threading", "os", "shutil", "pathlib", "tempfile", "logging",
      "fastapi", "starlette", "uvicorn", "typer", "rich", "prometheus_client", "opentelemetry", "slack_sdk",
      "playwright")
"""Libraries that reach outside the process (databases, networks, files, terminals, servers, logs)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, by absolute name (relative imports resolved)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module
            if node.module is None:  # `from . import x`: x may be a module
                yield from (f"{module}.{alias.name}" for alias in node.names)


def within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def modules(under: Path | None = None) -> list[Path]:
    return sorted((under or PACKAGE).rglob("*.py"))


def test_no_module_outside_storage_imports_sqlalchemy_or_alembic() -> None:
    storage = PACKAGE / "storage"
    found = [f"{path.relative_to(PACKAGE.parent)} imports {name}" for path in modules()
             if storage not in path.parents for name in imports(path) if within(name, SQL)]
    assert found == []


def test_the_domain_imports_nothing_that_does_io_nor_the_layers_above_it() -> None:
    found = [f"{path.relative_to(PACKAGE.parent)} imports {name}" for path in modules(PACKAGE / "domain")
             for name in imports(path)
             if within(name, IO) or (within(name, ("ledgerflow",)) and not within(name, ("ledgerflow.domain",)))]
    assert found == []


def test_the_layout_check_sees_storage_import_sqlalchemy_and_the_service_import_storage() -> None:
    """The checks above look at real imports: the ones storage and the service are known to make are seen."""
    assert any(within(name, SQL) for name in imports(PACKAGE / "storage" / "store.py"))
    assert "ledgerflow.storage.store" in set(imports(PACKAGE / "engine" / "service.py"))
    assert len(modules(PACKAGE / "domain")) > 20


ADAPTERS = ("ledgerflow.cli", "ledgerflow.api", "ledgerflow.web", "ledgerflow.agents")
USE_CASES = ("ledgerflow.engine", "ledgerflow.trust", "ledgerflow.reporting", "ledgerflow.channels")


def test_the_use_cases_and_storage_import_no_adapter() -> None:
    """The command line, the REST API, the web UI and the MCP server call the layers below; never the reverse."""
    below = ("engine", "trust", "reporting", "channels", "ops", "storage")
    found = [f"{path.relative_to(PACKAGE.parent)} imports {name}" for layer in below
             for path in modules(PACKAGE / layer) for name in imports(path) if within(name, ADAPTERS)]
    assert found == []


def test_storage_imports_no_use_case() -> None:
    """Storage serves the use cases (it may read the settings); a use case's rules never live in it."""
    found = [f"{path.relative_to(PACKAGE.parent)} imports {name}" for path in modules(PACKAGE / "storage")
             for name in imports(path) if within(name, USE_CASES)]
    assert found == []
