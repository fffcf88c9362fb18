"""Reading and writing the files of the commands (checkpoints, evidence packs, review packs), with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledgerflow.domain.errors import InvalidInput


def read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", rule="file-unreadable") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", rule="not-json") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(f"{path} is not JSON: {exc}", rule="not-json") from None


def write_json(path: str, value: Any) -> None:
    write_file(path, (json.dumps(value, indent=1, ensure_ascii=False, default=str) + "\n").encode("utf-8"))


def write_file(path: str, data: bytes) -> None:
    """Write a file the command was asked for (`--out`); an unwritable path is bad input."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}", rule="file-unwritable") from None
