"""Expressions in CEL (cel-spec): compiled once at load and evaluated without Python `eval`.

Evaluation uses the `cel` runtime (a compiled implementation, fast enough for the engine's hot path).
Static analysis — which steps an expression reads, for the forward-reference lint — uses the
`celpy` parser's syntax tree, loaded only when a playbook is linted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ledgerflow.domain.errors import LedgerflowError

VARIABLES = frozenset({"input", "steps", "decision", "run"})


class ExpressionError(LedgerflowError):
    """Raised when an expression fails at run time (missing field, wrong types); the engine fails closed."""

    default_rule = "expression-error"


@dataclass(frozen=True, slots=True)
class Expression:
    """One compiled CEL expression; `error` holds the compile error instead of raising at load."""

    source: str
    program: Any = field(default=None, compare=False, repr=False)
    error: str | None = None
    variables: tuple[str, ...] = ()
    """The top-level variables the expression reads; only these are handed to the runtime."""

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate over `input`, `steps`, `decision` and `run`.

        Raises:
            ExpressionError: the expression did not compile or failed on this data.
        """
        if self.program is None:
            raise ExpressionError(self.error or "expression did not compile")
        try:
            return self.program.execute({name: context[name] for name in self.variables if name in context})
        except KeyError as exc:
            raise ExpressionError(f"no such key: {exc.args[0]}") from None
        except Exception as exc:  # the runtime raises assorted built-ins for CEL errors
            raise ExpressionError(str(exc).split(". ")[0]) from None

    def test(self, context: Mapping[str, Any]) -> bool:
        """Evaluate a condition; a non-boolean result is an error.

        Raises:
            ExpressionError: on any runtime error or a non-boolean result.
        """
        value = self.evaluate(context)
        if not isinstance(value, bool):
            raise ExpressionError(f"`{self.source}` gave {value!r}, not true or false")
        return value


@cache
def compile_expression(source: str) -> Expression:
    """Compile a CEL expression. Compile errors are kept on the result, for lint to report."""
    import cel  # the runtime loads a terminal UI toolkit with it: only for commands that compile expressions

    try:
        program = cel.compile(source)
    except Exception as exc:
        message = str(exc).replace("Failed to parse expression", "cannot parse").splitlines()[0]
        return Expression(source, None, message)
    unknown = sorted(set(program.variables()) - VARIABLES)
    if unknown:
        return Expression(source, None, f"unknown variable {unknown[0]!r}; use input, steps, decision or run")
    return Expression(source, program, None, tuple(program.variables()))


def step_references(source: str) -> frozenset[str]:
    """The step ids an expression reads through `steps.<id>` or `decision.<id>`.

    Raises:
        ValueError: the expression does not parse.
    """
    from lark import Token, Tree  # loaded with celpy, only for lint

    tree = _parser().parse(source)
    found: set[str] = set()

    def root_name(node: Any) -> str | None:
        # member -> primary -> ident -> Token
        while isinstance(node, Tree) and node.data in ("member", "primary") and len(node.children) == 1:
            node = node.children[0]
        if isinstance(node, Tree) and node.data == "ident" and node.children:
            token = node.children[0]
            return str(token) if isinstance(token, Token) else None
        return None

    for node in tree.iter_subtrees():
        if node.data == "member_dot" and len(node.children) == 2:
            if root_name(node.children[0]) in ("steps", "decision"):
                found.add(str(node.children[1]))
        elif node.data == "member_index" and len(node.children) == 2:
            if root_name(node.children[0]) in ("steps", "decision"):
                literal = next((t for t in node.children[1].scan_values(lambda v: isinstance(v, Token))), None)
                if literal is not None and literal.type in ("STRING_LIT", "MLSTRING_LIT"):
                    found.add(str(literal).strip("'\""))
    return frozenset(found)


@cache
def _parser() -> Any:
    from celpy import celparser

    return celparser.CELParser()
