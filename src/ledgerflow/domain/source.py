"""Reading YAML text into plain data plus the line of every value, by path (`steps[2].rights.approve`).

ruamel.yaml keeps line numbers and refuses duplicate keys, so a problem can be shown where it was written.
Every document passes the input gate (`limits.py`) on the way."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledgerflow.domain.errors import LimitExceeded, LoadError
from ledgerflow.domain.limits import DEFAULT, MAX_ALIAS_NODES, SURROGATE, Limits, check_text, check_value

if TYPE_CHECKING:  # ruamel.yaml loads when a document is parsed: reading stored playbooks never needs it
    from ruamel.yaml.nodes import Node
    from ruamel.yaml.scanner import RoundTripScanner


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


def parse_yaml(text: str, file: str | None = None, limits: Limits = DEFAULT) -> Source:
    """Parse one YAML document within the limits of SPEC §10.

    The document is composed first: an alias is then a second reference to a node, not a copy, so the nodes
    that aliases would add are counted on that graph and a document past the budget is refused before
    anything is expanded (271 bytes of nested aliases can stand for tens of millions of nodes).

    Raises:
        LoadError: a syntax error or a duplicate key, with its line.
        LimitExceeded: too large, aliases past the budget or containing themselves (`yaml-aliases`), too
            deep, or a value JSON cannot carry (`.nan`, `.inf`, a lone surrogate, a binary or tagged value).
    """
    what = file or "the YAML document"
    check_text(text, what, limits)
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.Scanner = _bounded_scanner(what, limits)
    try:
        node = yaml.compose(text)
        added = _alias_nodes(node, what) if node is not None else 0
        if added > MAX_ALIAS_NODES:
            raise LimitExceeded(f"{what}: its aliases expand to {added} more nodes; the limit is {MAX_ALIAS_NODES}",
                                rule="yaml-aliases", details={"nodes": added, "limit": MAX_ALIAS_NODES})
        document = yaml.constructor.construct_document(node) if node is not None else None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise LoadError(f"{problem}", file=file, line=line) from None
    except YAMLError as exc:
        raise LoadError(str(exc).splitlines()[0], file=file) from None
    except RecursionError:
        raise LimitExceeded(f"{what} nests deeper than {limits.max_depth} levels", rule="input-too-deep",
                            details={"limit": limits.max_depth}) from None
    lines: dict[str, int] = {}
    try:
        data = _plain(document, "", lines, what)
    except RecursionError:
        raise LimitExceeded(f"{what} nests deeper than {limits.max_depth} levels", rule="input-too-deep",
                            details={"limit": limits.max_depth}) from None
    check_value(data, what, limits)
    return Source(data=data, file=file, lines=lines)


def _bounded_scanner(what: str, limits: Limits) -> type[RoundTripScanner]:
    """A scanner that refuses flow collections (`[`, `{`) nested past the depth limit as it meets them:
    ruamel's scanner slows quadratically with their nesting (2,000 levels took seconds)."""

    from ruamel.yaml.scanner import RoundTripScanner

    class Scanner(RoundTripScanner):
        def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
            if len(self.flow_context) >= limits.max_depth:
                raise LimitExceeded(f"{what} nests deeper than {limits.max_depth} levels", rule="input-too-deep",
                                    details={"limit": limits.max_depth})
            super().fetch_flow_collection_start(TokenClass, to_push)

    return Scanner


def _alias_nodes(root: Node, what: str) -> int:
    """How many nodes the aliases of a composed document add once expanded, without expanding them: each
    node's expanded size is computed once, bottom-up, over the graph.

    Raises:
        LimitExceeded: an alias contains itself (its expansion never ends).
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
        elif key in open_nodes:
            raise LimitExceeded(f"{what}: an alias contains itself, so it never ends", rule="yaml-aliases")
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes[id(root)] - len(sizes)


def _children(node: Node) -> list[Node]:
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _plain(node: Any, path: str, lines: dict[str, int], what: str) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            name = _text(str(key))
            child = join(path, name)
            try:
                lines[child] = node.lc.key(key)[0] + 1
            except (KeyError, TypeError):
                pass
            out[name] = _plain(value, child, lines, what)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = join(path, index)
            try:
                lines[child] = node.lc.item(index)[0] + 1
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(value, child, lines, what))
        return items
    if hasattr(node, "isoformat"):
        return node.isoformat()
    if isinstance(node, str):
        return _text(str(node))
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    tag = getattr(getattr(node, "tag", None), "value", None)
    kind = (f"the YAML tag {tag}" if tag else "a binary value (!!binary)" if isinstance(node, bytes)
            else "a set (!!set)" if isinstance(node, AbstractSet)
            else f"a YAML {type(node).__name__}")
    raise LimitExceeded(f"{what} at `{path or '/'}` holds {kind}, which JSON cannot carry: write a plain string, "
                        "number, list or mapping", rule="not-canonical", details={"path": path})


def _text(text: str) -> str:
    """Join the surrogate pairs of `\\ud83d\\ude00` escapes (JSON's way to write a character beyond the
    Basic Multilingual Plane), which YAML reads as two lone surrogates; a lone one stays for the gate to refuse."""
    if text.isascii() or not SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return text
