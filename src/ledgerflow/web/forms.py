"""JSON Schema to forms and back (issue #21): the start-run form from a playbook's `input`, the completion
form from a step's `produces`, and data shown as labelled fields instead of raw JSON.

The browser checks what HTML can say (required, number ranges, lengths, patterns, enums, e-mail and URL
formats); the server turns the posted text back into a JSON document and leaves every judgment to the
engine's own validation, so a bad field gets the same message the API gives. A value that does not parse
as its type is passed on as text: the schema then names it (`'abc' is not of type 'number'`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledgerflow.domain import limits
from ledgerflow.domain.errors import InvalidInput, LedgerflowError

PREFIX = "f."
"""Posted field names carry this prefix, so a schema field can never shadow `csrf_token`."""

_INPUT_TYPES = {"email": "email", "uri": "url", "date": "date"}
_REQUIRED = re.compile(r"^'([^']+)' is a required property$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """One labelled value of a document (schema title, else the key made readable)."""

    key: str
    label: str
    text: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One form control generated from a schema property."""

    name: str
    label: str
    control: str
    """`input`, `select`, `checkbox` or `textarea` (objects and arrays, as JSON)."""
    input_type: str = "text"
    required: bool = False
    description: str | None = None
    options: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()
    """Further HTML constraints: min, max, step, minlength, maxlength, pattern."""
    value: str = ""
    error: str | None = None


def label(key: str, spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    return str(title) if isinstance(title, str) and title.strip() else key.replace("_", " ").capitalize()


def _properties(schema: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Declared properties in order, then required names the schema types nowhere."""
    if not isinstance(schema, Mapping):
        return {}
    props = schema.get("properties")
    found = {str(k): (v if isinstance(v, Mapping) else {}) for k, v in (props or {}).items()} \
        if isinstance(props, Mapping) else {}
    for name in schema.get("required") or ():
        found.setdefault(str(name), {})
    return found


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def shown(schema: Mapping[str, Any] | None, data: Mapping[str, Any] | None) -> list[Shown]:
    """A document's top-level values as labelled text: the schema's properties first, in its order."""
    if not isinstance(data, Mapping):
        return []
    props = _properties(schema)
    keys = [k for k in props if k in data] + [k for k in data if k not in props]
    return [Shown(key=k, label=label(k, props.get(k, {})), text=_text(data[k]),
                  description=props.get(k, {}).get("description")) for k in keys]


def _kind(spec: Mapping[str, Any]) -> str | None:
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _constraints(spec: Mapping[str, Any], kind: str | None) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if kind in ("number", "integer"):
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if isinstance(spec.get(key), int | float) and not isinstance(spec.get(key), bool):
                pairs.append((attr, f"{spec[key]:g}"))
        pairs.append(("step", "1" if kind == "integer" else "any"))
    if kind == "string":
        for key, attr in (("minLength", "minlength"), ("maxLength", "maxlength"), ("pattern", "pattern")):
            if isinstance(spec.get(key), int | str) and not isinstance(spec.get(key), bool):
                pairs.append((attr, str(spec[key])))
    return tuple(pairs)


def fields(schema: Mapping[str, Any] | None, values: Mapping[str, str] | None = None,
           errors: Mapping[str, str] | None = None) -> list[Field]:
    """The form for a schema's top-level properties, refilled with posted `values` and field `errors`."""
    values, errors = values or {}, errors or {}
    required = set(schema.get("required") or ()) if isinstance(schema, Mapping) else set()
    made = []
    for key, spec in _properties(schema).items():
        kind, enum = _kind(spec), spec.get("enum")
        options: tuple[str, ...] = ()
        control, input_type, attrs = "input", "text", _constraints(spec, kind)
        if isinstance(enum, list) and enum:
            control, options, attrs = "select", tuple(_text(v) for v in enum), ()
        elif kind == "boolean":
            control = "checkbox"
        elif kind in ("object", "array"):
            control = "textarea"
        elif kind in ("number", "integer"):
            input_type = "number"
        else:
            input_type = _INPUT_TYPES.get(str(spec.get("format")), "text")
        description = spec.get("description")
        made.append(Field(name=key, label=label(key, spec), control=control, input_type=input_type,
                          required=key in required and control != "checkbox", options=options, attrs=attrs,
                          description=description if isinstance(description, str) else None,
                          value=values.get(key, _default(spec)), error=errors.get(key)))
    return made


def _default(spec: Mapping[str, Any]) -> str:
    default = spec.get("default")
    if default is None:
        return ""
    return json.dumps(default) if isinstance(default, dict | list) else _text(default).replace(",", "")


def posted(form: Mapping[str, Any]) -> dict[str, str]:
    """The schema fields of a posted form, by property name (text as typed)."""
    return {k[len(PREFIX):]: str(v) for k, v in form.items() if k.startswith(PREFIX)}


def document(schema: Mapping[str, Any] | None, values: Mapping[str, str],
             gate: limits.Limits = limits.DEFAULT) -> dict[str, Any]:
    """The JSON document a form stands for; empty fields are left out (a required one is then named by the
    schema), and values are typed by the schema where they parse.

    Raises:
        InvalidInput: an object or array field is not JSON, or breaks a limit of the input gate.
    """
    out: dict[str, Any] = {}
    for key, spec in _properties(schema).items():
        kind = _kind(spec)
        raw = values.get(key)
        if kind == "boolean":
            out[key] = raw in ("on", "true", "yes")
            continue
        if raw is None or not raw.strip():
            continue
        if kind in ("number", "integer"):
            out[key] = _number(raw.strip().replace(",", ""), kind)
        elif kind in ("object", "array"):
            out[key] = limits.parse_json(raw, f"The field {label(key, spec)!r}", gate)
        else:
            out[key] = raw
    limits.check_value(out, "The form", gate)
    return out


def _number(text: str, kind: str) -> Any:
    try:
        if kind == "integer" or text.lstrip("+-").isdigit():
            return int(text)
        return float(text)
    except ValueError:
        return text


def field_errors(exc: LedgerflowError) -> dict[str, str]:
    """Which field each schema violation is about: the first path segment, or the property a `required`
    message names."""
    found: dict[str, str] = {}
    violations: Sequence[Mapping[str, str]] = (exc.details or {}).get("violations", ()) \
        if isinstance(exc, InvalidInput) else ()
    for v in violations:
        path, message = str(v.get("path", "")), str(v.get("message", ""))
        key = path.strip("/").split("/")[0]
        if not key and (match := _REQUIRED.match(message)):
            key = match.group(1)
        if key:
            found.setdefault(key, message)
    return found
