"""Lint findings: data, so that the CLI, the API and the web UI show the same thing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem in a playbook: where it is, which rule, how to fix it."""

    playbook: str | None
    step: str | None
    rule: str
    severity: str
    message: str
    file: str | None
    line: int | None
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        """`file:line path` as a person reads it."""
        place = f"{self.file or '<playbook>'}:{self.line}" if self.line else (self.file or "<playbook>")
        return f"{place} {self.path}".strip()
