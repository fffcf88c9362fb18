"""The input gate of SPEC §10: the limits every channel applies before anything is written.

JSON arrives as text (the CLI's `--input`, an API body, a web form) or as a value (a service call's
arguments); both end in `check_value`, so that what follows — canonical hashing, the database — only ever
sees finite numbers in double range, integers RFC 8785 can write, valid Unicode without NUL characters
(PostgreSQL stores none) and bounded nesting. Text is measured in bytes before it is parsed, so an
oversized document costs nothing but its reading.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ledgerflow.domain.errors import InvalidInput, LimitExceeded

MAX_BYTES = 1 << 20
"""A JSON or YAML document's size limit (LEDGERFLOW_MAX_INPUT_BYTES)."""
MAX_DEPTH = 64
"""How deep objects and arrays may nest (LEDGERFLOW_MAX_INPUT_DEPTH)."""
MAX_ALIAS_NODES = 10_000
"""How many nodes a YAML document's aliases may add once expanded."""
MAX_DURATION_MINUTES = 3653 * 24 * 60
"""Ten years, leap days included."""
SAFE_INTEGER = 2**53 - 1
"""RFC 8785 writes numbers as doubles: beyond this an integer has no exact canonical form."""

SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_INTEGER_DIGITS = 20  # longer integer literals are refused before Python converts them


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The configurable limits; the defaults are the contract's."""

    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH


DEFAULT = Limits()


class _Refused(ValueError):
    """A number the JSON parser's hooks refuse; turned into `not-canonical` with the document's name."""


def check_size(size: int, what: str, limits: Limits = DEFAULT) -> None:
    """Raises LimitExceeded (`input-too-large`) when `size` bytes pass the limit."""
    if size > limits.max_bytes:
        raise LimitExceeded(f"{what} is {size} bytes; the limit is {limits.max_bytes}", rule="input-too-large",
                            details={"bytes": size, "limit": limits.max_bytes})


def check_text(text: str, what: str, limits: Limits = DEFAULT) -> None:
    """The size limit for text, in UTF-8 bytes (encoded only when the characters alone could pass it)."""
    if len(text) * 4 > limits.max_bytes:
        check_size(len(text.encode("utf-8", "surrogatepass")), what, limits)


def parse_json(text: str | bytes, what: str, limits: Limits = DEFAULT) -> Any:
    """Parse a JSON document through the gate.

    Raises:
        LimitExceeded: too large, too deep, or with no canonical form (NaN, Infinity, 1e400, an integer
            beyond 2^53 - 1, a lone surrogate).
        InvalidInput: not JSON (`malformed-json`) or not UTF-8 (`bad-encoding`).
    """
    if isinstance(text, bytes):
        check_size(len(text), what, limits)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{what} is not UTF-8 text", rule="bad-encoding") from None
    else:
        check_text(text, what, limits)
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_integer)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           rule="malformed-json") from None
    except _Refused as exc:
        raise LimitExceeded(f"{what} holds {exc}; numbers must be finite and within double range",
                            rule="not-canonical") from None
    except RecursionError:
        raise _too_deep(what, "", limits) from None
    check_value(value, what, limits)
    return value


def check_value(value: Any, what: str, limits: Limits = DEFAULT) -> None:
    """Check a JSON value without recursion: nesting, numbers, Unicode (keys too), and JSON types only.

    Raises:
        LimitExceeded: `input-too-deep` or `not-canonical`, naming the JSON pointer of the offending value.
    """
    stack: list[tuple[Any, int, Any]] = [(value, 0, None)]
    while stack:
        item, depth, where = stack.pop()
        kind = type(item)
        if kind is str or isinstance(item, str):
            _check_text(item, what, where, "")
        elif kind is dict or kind is list or kind is tuple:
            if depth >= limits.max_depth:
                raise _too_deep(what, _pointer(where), limits)
            if kind is dict:
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise _not_canonical(what, where, f"a key that is not a string ({key!r})")
                    _check_text(key, what, where, "a key with ")
                    stack.append((child, depth + 1, (where, key)))
            else:
                stack.extend((child, depth + 1, (where, index)) for index, child in enumerate(item))
        elif kind is bool or item is None:
            continue
        elif isinstance(item, int):
            if not -SAFE_INTEGER <= item <= SAFE_INTEGER:
                raise _not_canonical(what, where, f"an integer beyond ±{SAFE_INTEGER}, which has no exact canonical "
                                                  "JSON form (RFC 8785)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _not_canonical(what, where, f"{item}; numbers must be finite")
        else:
            raise _not_canonical(what, where, f"a {kind.__name__}, which is not a JSON value")


def _check_text(text: str, what: str, where: Any, part: str) -> None:
    if "\x00" in text:
        raise _not_canonical(what, where, f"{part or 'text with '}a NUL character (U+0000), which the database "
                                          "cannot store")
    if not text.isascii() and SURROGATE.search(text):
        raise _not_canonical(what, where, f"{part}a lone surrogate, which is not valid Unicode")


def check_location(path: str, query: bytes) -> None:
    """An HTTP request's path and query: no NUL character (`%00`) and no lone surrogate.

    Raises:
        LimitExceeded: `not-canonical`.
    """
    if "\x00" in path or b"%00" in query or b"\x00" in query:
        raise LimitExceeded("the request's path or query holds a NUL character (%00)", rule="not-canonical")
    if not path.isascii() and SURROGATE.search(path):
        raise LimitExceeded("the request's path holds a lone surrogate, which is not valid Unicode",
                            rule="not-canonical")


def _constant(name: str) -> Any:
    raise _Refused(name)


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(text)
    return number


def _integer(text: str) -> int:
    if len(text) > _MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer of {len(text)} digits")
    return int(text)


def _pointer(where: Any) -> str:
    """The JSON pointer (RFC 6901) of a position kept as nested (parent, key) pairs."""
    keys: list[str] = []
    while where is not None:
        where, key = where
        text = str(key).encode("utf-8", "backslashreplace").decode("utf-8")  # a message must stay printable
        keys.append(text.replace("~", "~0").replace("/", "~1"))
    return "".join(f"/{key}" for key in reversed(keys))


def _not_canonical(what: str, where: Any, problem: str) -> LimitExceeded:
    pointer = _pointer(where)
    at = f" at {pointer}" if pointer else ""
    return LimitExceeded(f"{what}{at} holds {problem}", rule="not-canonical", details={"pointer": pointer})


def _too_deep(what: str, pointer: str, limits: Limits) -> LimitExceeded:
    at = f" (at {pointer})" if pointer else ""
    return LimitExceeded(f"{what} nests deeper than {limits.max_depth} levels{at}", rule="input-too-deep",
                         details={"pointer": pointer, "limit": limits.max_depth})
