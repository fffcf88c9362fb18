"""Summary templates (SPEC §12): one line saying what a run is about, built from fields of its input, so a
person sees what a task is about without opening it.

A template is text with `{field}` placeholders naming top-level fields of the run's input; `{{` and `}}` are
literal braces. Nothing else is allowed inside braces (no attribute access, indexing or format spec), so a
template can never reach beyond the input's values.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any

MAX_LENGTH = 200
"""A summary longer than this is cut, with an ellipsis: it is one line in a table or a subject."""

MISSING = "?"
"""Shown for a field the run's input does not carry."""

_FORMATTER = string.Formatter()


def template_fields(template: str) -> tuple[str, ...]:
    """The input fields a template reads, in order of appearance.

    Raises:
        ValueError: the template is not text with `{field}` placeholders; the message says what to write.
    """
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"{exc}; write `{{field}}` for a field of input and `{{{{` for a literal brace") from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"`{{{shown}}}` is not a field placeholder; write `{{field}}` with a top-level field "
                             "of input")
        names.append(name)
    return tuple(names)


def render_summary(template: str | None, input: Mapping[str, Any] | None) -> str | None:
    """The summary of a run with this input; None when the playbook declares no template.

    A template that does not parse (only possible for data stored before validation) renders as written.
    """
    if template is None:
        return None
    values = input or {}
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        return _one_line(template)
    parts = []
    for literal, name, _, _ in parsed:
        parts.append(literal)
        if name is not None:
            parts.append(_show(values[name]) if name in values else MISSING)
    return _one_line("".join(parts))


def plain_summary(input: Mapping[str, Any] | None, width: int = 80) -> str | None:
    """A run's input on one line as `key=value` pairs of its plain values, cut to `width` characters: what a
    person at a terminal sees of a run whose playbook declares no template."""
    if not input:
        return None
    text = ", ".join(f"{key}={_show(value)}" for key, value in input.items() if not isinstance(value, dict | list))
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _show(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_LENGTH else flat[: MAX_LENGTH - 1] + "…"
