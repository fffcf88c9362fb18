"""Reading YAML text into plain data plus the line of every value, by path (`steps[2].rights.approve`).

ruamel.yaml keeps line numbers and refuses duplicate keys, so a problem can be shown where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ledgerflow.domain.errors import LoadError


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """A parsed YAML document: plain JSON-like data and where each path was written."""

    data: Any
    file: str | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, path: str) -> int | None:
        """The line of `path`, else of its nearest written ancestor."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""


def join(path: str, key: str | int) -> str:
    """Extend a path by a mapping key or a list index."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def parse_yaml(text: str, file: str | None = None) -> Source:
    """Parse one YAML document.

    Raises:
        LoadError: a syntax error or a duplicate key, with its line.
    """
    yaml = YAML(typ="rt")
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise LoadError(f"{problem}", file=file, line=line) from None
    except YAMLError as exc:
        raise LoadError(str(exc).splitlines()[0], file=file) from None
    except RecursionError:
        raise LoadError("the document nests too deeply to read", file=file) from None
    lines: dict[str, int] = {}
    try:
        data = _plain(node, "", lines)
    except RecursionError:
        raise LoadError("the document nests too deeply (or an alias contains itself)", file=file) from None
    return Source(data=data, file=file, lines=lines)


def _plain(node: Any, path: str, lines: dict[str, int]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            child = join(path, str(key))
            try:
                lines[child] = node.lc.key(key)[0] + 1
            except (KeyError, TypeError):
                pass
            out[str(key)] = _plain(value, child, lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = join(path, index)
            try:
                lines[child] = node.lc.item(index)[0] + 1
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(value, child, lines))
        return items
    if hasattr(node, "isoformat"):
        return node.isoformat()
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node
