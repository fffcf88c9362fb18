"""Whatever a playbook file holds, loading raises only ledgerflow errors and lint never raises."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerflow.domain.directory import load_directory
from ledgerflow.domain.errors import LedgerflowError, LimitExceeded
from ledgerflow.domain.findings import Finding
from ledgerflow.domain.lint import lint_playbook, lint_source
from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.source import Source, parse_yaml

_SHARED = Path(__file__).resolve().parents[3] / "shared" / "playbooks"
_PLAYBOOKS = _SHARED if _SHARED.exists() else Path(__file__).resolve().parents[2] / "src/ledgerflow/examples"
EXAMPLE = (_PLAYBOOKS / "pricing-exception.yaml").read_text(encoding="utf-8")
EXAMPLE_DATA = parse_yaml(EXAMPLE).data
DIRECTORY = load_directory(parse_yaml((_PLAYBOOKS / "directory.yaml").read_text(encoding="utf-8")))[0]

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words the loader gives meaning to, so that generated documents reach deep into it.
KEYS = ["id", "type", "when", "owner", "routing", "clarity", "produces", "on_fail", "rules", "rights",
        "authority", "options", "rationale", "separation_of_duties", "quorum", "sla", "action", "branches",
        "what", "why", "success", "due", "send_back", "reject", "expr", "message", "recommend", "approve",
        "execute", "inform", "nudge", "escalate", "after", "to", "webhook", "callable", "secret_env",
        "governance", "cadence", "triggers", "metric", "above", "below", "min_runs", "outcome", "steps",
        "workflow_owner", "input", "title", "properties", "required"]
WORDS = ["task", "check", "decision", "action", "parallel", "prepare", "approve", "apply", "finance",
         "maria", "sam", "intake-bot", "1d", "24h", "0m", "weekly", "required", "optional", "send_back",
         "least-loaded", "object", "input.deal_value > 1", "steps.prepare.output.x", "decision.apply",
         "size(", "exception_rate", "mod:fn", "deal-desk-assistant", "reject"]

# Text without lone surrogates or NUL: the input gate refuses those before lint (tests/domain/test_limits.py).
UNICODE = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
scalars = (st.none() | st.booleans() | st.integers(-3, 5) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(UNICODE, max_size=8) | st.sampled_from(WORDS))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(UNICODE, max_size=6),
                                                                inner, max_size=5),
    max_leaves=25,
)


def check_lint(text: str) -> None:
    try:
        findings = lint_source(text, "fuzz.yaml", DIRECTORY)
    except LimitExceeded as exc:  # exit 2 with the gate's rule (SPEC §10), e.g. `!x 0` or 9007199254740992
        assert exc.rule in {"not-canonical", "input-too-deep", "yaml-aliases", "duration-too-large"}, exc.rule
        return
    assert isinstance(findings, list)
    assert all(isinstance(f, Finding) for f in findings)
    assert findings == sorted(findings, key=lambda f: (f.line or 0, f.rule, f.path, f.step or "", f.message))


def check_load(data: Any) -> None:
    try:
        playbook = load_playbook(Source(data=data, file="fuzz.json"))
    except LedgerflowError:
        return
    for people in (DIRECTORY, None):
        assert all(isinstance(f, Finding) for f in lint_playbook(playbook, people))


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document: mapping keys and list indexes."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += paths(value, (*prefix, index))
    return out


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


EXAMPLE_PATHS = paths(EXAMPLE_DATA)[1:]
# Lists and mappings: where a scalar in their place finds readers that iterate without looking.
CONTAINER_PATHS = [p for p in EXAMPLE_PATHS if isinstance(_at(EXAMPLE_DATA, p), dict | list)]


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    """The example with a few values replaced, removed or joined by a stray key."""
    data = copy.deepcopy(EXAMPLE_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(EXAMPLE_PATHS) | st.sampled_from(CONTAINER_PATHS))
        parent = data
        for key in path[:-1]:
            if not isinstance(parent, dict | list):
                break
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):  # an earlier mutation changed the shape
                break
        else:
            last = path[-1]
            action = draw(st.sampled_from(["replace", "delete", "add", "scalar"]))
            if isinstance(parent, dict) and last in parent:
                if action == "delete":
                    del parent[last]
                elif action == "add":
                    parent[draw(st.sampled_from(KEYS))] = draw(values)
                else:
                    parent[last] = draw(values if action == "replace" else scalars)
            elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
                if action == "delete":
                    del parent[last]
                elif action == "add":
                    parent.insert(last, draw(values))
                else:
                    parent[last] = draw(values)
    return data


@PROPERTY
@given(values)
def test_any_document_lints_to_findings_without_raising(data: Any) -> None:
    check_lint(json.dumps(data))
    check_load(data)


@PROPERTY
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=8), st.lists(values, min_size=1, max_size=4))
def test_playbook_shaped_documents_lint_without_raising(top: dict[str, Any], steps: list[Any]) -> None:
    data = {**top, "id": "fuzz", "steps": steps}
    check_lint(json.dumps(data, indent=1))
    check_load(data)


@PROPERTY
@given(mutated_examples())
def test_mutations_of_the_example_lint_without_raising(data: Any) -> None:
    check_lint(json.dumps(data, indent=1))
    check_load(data)


@PROPERTY
@given(st.data())
def test_line_edits_of_the_example_text_lint_without_raising(data: st.DataObject) -> None:
    lines = EXAMPLE.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        edit = data.draw(st.sampled_from(["delete", "duplicate", "dedent", "indent", "truncate", "replace"]))
        if edit == "delete" and len(lines) > 1:
            del lines[index]
        elif edit == "duplicate":
            lines.insert(index, lines[index])
        elif edit == "dedent":
            lines[index] = lines[index][2:]
        elif edit == "indent":
            lines[index] = "  " + lines[index]
        elif edit == "truncate":
            lines[index] = lines[index][: data.draw(st.integers(0, len(lines[index])))] + "\n"
        else:
            lines[index] = data.draw(st.text(UNICODE, max_size=30)) + "\n"
    check_lint("".join(lines))


CEL_ALPHABET = "abcdeinpstu._ ()[]{}<>=!&|+-*/%?:,'\"\\0123456789"


@PROPERTY
@given(st.text(alphabet=CEL_ALPHABET, max_size=40) | st.sampled_from(WORDS), st.integers(0, 2))
def test_any_expression_text_lints_without_raising(expression: str, where: int) -> None:
    data = copy.deepcopy(EXAMPLE_DATA)
    if where == 0:
        data["steps"][2]["when"] = expression
    elif where == 1:
        data["steps"][2]["authority"][0]["when"] = expression
    else:
        data["steps"][1]["rules"][1]["expr"] = expression
    check_load(data)


@PROPERTY
@given(st.text(UNICODE, max_size=200))
def test_arbitrary_text_lints_without_raising(text: str) -> None:
    check_lint(text)


WRONG_SHAPES: list[Any] = [None, 0, 2.5, True, "x", ["x", 1], {"x": [1]}]


def test_every_value_of_the_example_in_every_wrong_shape_lints_without_raising() -> None:
    for path in EXAMPLE_PATHS:
        for wrong in WRONG_SHAPES:
            data = copy.deepcopy(EXAMPLE_DATA)
            _at(data, path[:-1])[path[-1]] = wrong
            try:
                check_load(data)  # YAML text is covered above; parsing each of these would be slow
            except Exception as exc:
                raise AssertionError(f"{path} = {wrong!r}: {type(exc).__name__}: {exc}") from exc


def test_deep_nesting_is_refused_by_the_input_gate() -> None:
    with pytest.raises(LimitExceeded) as refused:
        lint_source("id: p\nsteps: " + "[" * 500 + "]" * 500 + "\n", "deep.yaml", DIRECTORY)
    assert refused.value.rule == "input-too-deep"


def test_alias_that_contains_itself_is_refused_by_the_input_gate() -> None:
    text = "id: p\nsteps:\n  - {id: a, type: task, produces: &x {properties: {a: *x}}}\n"
    with pytest.raises(LimitExceeded) as refused:
        lint_source(text, "alias.yaml", DIRECTORY)
    assert refused.value.rule == "yaml-aliases"
