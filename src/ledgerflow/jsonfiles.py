"""Reading and writing the files of the commands (checkpoints, evidence packs, review packs), with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledgerflow.domain import limits
from ledgerflow.domain.errors import InvalidInput

EVIDENCE = limits.Limits(max_bytes=512 << 20, max_depth=limits.MAX_DEPTH + 16)


def read_json(path: str) -> Any:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", rule="file-unreadable") from None
    return limits.parse_json(data, path, EVIDENCE)


def write_json(path: str, value: Any) -> None:
    write_file(path, (json.dumps(value, indent=1, ensure_ascii=False, default=str) + "\n").encode("utf-8"))


def write_file(path: str, data: bytes) -> None:
    """Write a file the command was asked for (`--out`); an unwritable path is bad input."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}", rule="file-unwritable") from None
