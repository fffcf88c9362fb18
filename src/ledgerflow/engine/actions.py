"""Registered Python callables for `type: action` steps (`action: {callable: "pkg.module:function"}`).

Only registered callables run: a playbook names one, it is never imported from the playbook's text.
Register in code with `@register("pkg.module:function")`, or in a package's entry points under the group
`ledgerflow.engine.actions` (name = the playbook's string, value = the object reference).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

Action = Callable[[dict[str, Any]], Any]
_REGISTRY: dict[str, Action] = {}


def register(name: str) -> Callable[[Action], Action]:
    """Decorator: make `function` callable from playbooks as `name`."""

    def add(function: Action) -> Action:
        _REGISTRY[name] = function
        return function

    return add


def resolve(name: str) -> Action:
    """The callable registered as `name`.

    Raises:
        LookupError: nothing is registered under that name.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    for entry in entry_points(group="ledgerflow.engine.actions"):
        if entry.name == name:
            function: Action = entry.load()
            _REGISTRY[name] = function
            return function
    raise LookupError(f"no action callable is registered as {name!r}")
