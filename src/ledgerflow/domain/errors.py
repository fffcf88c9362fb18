"""The ledgerflow error tree. Every error carries a stable `rule` name, a message and details.

    LedgerflowError                 base; an unexpected failure (CLI exit 4, HTTP 500)
    ├── InvalidInput                what was typed is wrong (exit 2; HTTP 400/422)
    │   ├── NotFound                an unknown id or actor (exit 2; HTTP 404)
    │   ├── SchemaViolation         data violating its JSON Schema; `details` lists every failing path
    │   ├── LimitExceeded           input past a limit of SPEC §10 (too large, too deep, not canonical...)
    │   │   └── AttachmentTooLarge  a document past LEDGERFLOW_MAX_ATTACHMENT_BYTES (HTTP 413)
    │   ├── AttachmentType          a document of a media type not allowed (HTTP 415)
    │   ├── AttachmentRefused       a document the scanning hook refused (HTTP 422)
    │   └── LoadError               a file that does not load; carries file, line and path
    ├── Refused                     a well-formed command refused by the rules or the state (exit 3)
    │   ├── Forbidden               rights, separation of duties, rationale (HTTP 403)
    │   └── Conflict                wrong state, lost race, governance (HTTP 409)
    │       └── InvalidTransition   a status change the state machine does not allow
    └── EnvironmentProblem          database missing, unreachable or uninitialized (exit 4; HTTP 503)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class LedgerflowError(Exception):
    """Root of every error ledgerflow raises on purpose."""

    exit_code = 4
    default_rule = "internal-error"

    def __init__(self, message: str, *, rule: str | None = None, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.rule = rule or self.default_rule
        self.details: dict[str, Any] = dict(details or {})
        self.after_rollback: Callable[[], None] | None = None
        """A write owed even though the command was refused (its audit record, e.g. `approval.refused`), for
        whoever rolls back the transaction the command ran in to do after it."""


class InvalidInput(LedgerflowError):
    """Raised when a command's arguments, files or data are malformed."""

    exit_code = 2
    default_rule = "invalid-input"


class NotFound(InvalidInput):
    """Raised when an id (run, task, playbook, actor, step) names nothing that exists."""

    default_rule = "not-found"


class SchemaViolation(InvalidInput):
    """Raised when input or output violates its JSON Schema; `details["violations"]` lists them all."""

    default_rule = "schema-violation"


class LimitExceeded(InvalidInput):
    """Raised when input passes a limit of SPEC §10 before anything is written; `rule` names the limit
    (input-too-large, input-too-deep, not-canonical, yaml-aliases, duration-too-large)."""

    default_rule = "input-too-large"


class AttachmentTooLarge(LimitExceeded):
    """Raised when a document is larger than the attachment limit (SPEC §14), before anything is written."""

    default_rule = "attachment-too-large"


class AttachmentType(InvalidInput):
    """Raised when a document's media type, detected from its content, is not on the allowed list."""

    default_rule = "attachment-type"


class AttachmentRefused(InvalidInput):
    """Raised when the operator's scanning hook refuses a document (or cannot be reached: it fails closed)."""

    default_rule = "attachment-refused"


class LoadError(InvalidInput):
    """Raised when a YAML file cannot be read as a directory or playbook."""

    default_rule = "load-error"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, path: str = ""):
        super().__init__(message, details={"file": file, "line": line, "path": path})
        self.file = file
        self.line = line
        self.path = path


class Refused(LedgerflowError):
    """Raised when a well-formed command is not allowed by the rules or the current state."""

    exit_code = 3
    default_rule = "refused"


class Forbidden(Refused):
    """Raised when the actor lacks the right to do this (rights, separation of duties, rationale)."""

    default_rule = "forbidden"


class Conflict(Refused):
    """Raised when the state does not allow the command (wrong status, paused playbook, lost race)."""

    default_rule = "conflict"


class InvalidTransition(Conflict):
    """Raised when a status change is not allowed; names both states."""

    default_rule = "invalid-transition"


class EnvironmentProblem(LedgerflowError):
    """Raised when the database is missing, unreachable or not initialized."""

    default_rule = "environment"
