"""The input gate (SPEC §10): each limit refuses with its rule, and what is within the limits passes unchanged."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from ledgerflow.domain.durations import parse_duration
from ledgerflow.domain.errors import InvalidInput, LimitExceeded
from ledgerflow.domain.limits import MAX_ALIAS_NODES, SAFE_INTEGER, Limits, check_value, parse_json
from ledgerflow.domain.source import parse_yaml


def refused(call: Any, *args: Any) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "[1, NaN]",
                                  '{"a": {"b": Infinity}}', "1" * 30, str(SAFE_INTEGER + 1),
                                  '"\\ud800"', '{"\\udfff": 1}', '["ok", "\\ud83d"]', '"nul \\u0000"',
                                  '{"\\u0000": 1}'])
def test_numbers_and_text_without_a_canonical_form_are_refused(text: str) -> None:
    assert refused(parse_json, text, "--input").rule == "not-canonical"


def test_the_refusal_names_where_the_value_is() -> None:
    error = refused(parse_json, '{"a": [0, {"b/c": "\\ud800"}]}', "--input")
    assert error.details["pointer"] == "/a/1/b~1c" and "/a/1/b~1c" in error.message


@pytest.mark.parametrize("text", ["0", "-0.0", "1e-400", "1.7976931348623157e308", str(SAFE_INTEGER),
                                  str(-SAFE_INTEGER), '"\\ud83d\\ude00"', '"é ✓ 😀"', "[]", "{}", "null"])
def test_values_within_the_limits_pass_unchanged(text: str) -> None:
    assert parse_json(text, "--input") == json.loads(text)


def test_nesting_up_to_the_depth_limit_passes_and_one_more_level_is_refused() -> None:
    assert parse_json("[" * 64 + "]" * 64, "x") == json.loads("[" * 64 + "]" * 64)
    error = refused(parse_json, '{"a":' * 65 + "1" + "}" * 65, "x")
    assert error.rule == "input-too-deep" and error.details["limit"] == 64


def test_nesting_far_past_the_recursion_limit_is_refused_as_too_deep() -> None:
    assert refused(parse_json, "[" * 100_000 + "]" * 100_000, "x").rule == "input-too-deep"


def test_size_is_measured_in_utf8_bytes_before_parsing() -> None:
    limits = Limits(max_bytes=10)
    assert parse_json('"ééé"', "x", limits) == "ééé"  # 8 bytes
    assert refused(parse_json, '"ééééé"', "x", limits).rule == "input-too-large"  # 7 characters, 12 bytes
    assert refused(parse_json, b"[" + b" " * 20 + b"]", "x", limits).rule == "input-too-large"


def test_bytes_that_are_not_utf8_and_text_that_is_not_json_are_invalid_input() -> None:
    with pytest.raises(InvalidInput) as binary:
        parse_json(b"\xff\xfe{}", "x")
    assert binary.value.rule == "bad-encoding"
    with pytest.raises(InvalidInput) as broken:
        parse_json("{nope", "x")
    assert broken.value.rule == "malformed-json"


def test_values_built_in_python_are_checked_like_parsed_ones() -> None:
    assert refused(check_value, {"a": float("nan")}, "the command").rule == "not-canonical"
    assert refused(check_value, {"a": 2**60}, "the command").rule == "not-canonical"
    assert refused(check_value, {1: "x"}, "the command").rule == "not-canonical"
    assert refused(check_value, {"a": b"bytes"}, "the command").rule == "not-canonical"
    loop: list[Any] = []
    loop.append(loop)
    assert refused(check_value, loop, "the command").rule == "input-too-deep"
    check_value({"ok": [1, 2.5, True, None, "text"]}, "the command")


def test_durations_up_to_ten_years_parse_and_longer_ones_are_refused() -> None:
    assert parse_duration("521w") == timedelta(weeks=521)
    assert parse_duration("3653d") == timedelta(days=3653)
    for text in ("3654d", "522w", "99999999999w", "9" * 5000 + "m"):
        assert refused(parse_duration, text).rule == "duration-too-large"


BOMB = ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n")


def test_a_yaml_alias_bomb_is_refused_from_its_composed_graph() -> None:
    error = refused(parse_yaml, BOMB, "bomb.yaml")
    assert error.rule == "yaml-aliases" and error.details["nodes"] > 50_000_000


def test_aliases_within_the_budget_expand() -> None:
    nine = "[" + ", ".join(["x"] * 99) + "]"
    text = f"a: &a {nine}\n" + "".join(f"b{i}: *a\n" for i in range(MAX_ALIAS_NODES // 100))
    assert len(parse_yaml(text).data) == 1 + MAX_ALIAS_NODES // 100
    assert refused(parse_yaml, text + "extra: *a\n").rule == "yaml-aliases"


@pytest.mark.parametrize(("text", "rule"), [
    ("a: &a [1, *a]\n", "yaml-aliases"),
    ("a: .nan\n", "not-canonical"),
    ("a: -.inf\n", "not-canonical"),
    ('a: "\\ud800"\n', "not-canonical"),
    ("a: !!binary aGVsbG8=\n", "not-canonical"),
    ("[" * 5000 + "]" * 5000, "input-too-deep"),
    ("- " * 50_000 + "x\n", "input-too-deep"),
    ("a: " + "x" * (1 << 20) + "\n", "input-too-large"),
])
def test_hostile_yaml_is_refused_with_its_rule(text: str, rule: str) -> None:
    assert refused(parse_yaml, text, "hostile.yaml").rule == rule


@pytest.mark.parametrize(("text", "named"), [
    ("!x 0\n", "at `/` holds the YAML tag !x"),
    ("a: [1, !urgent yes]\n", "at `a[1]` holds the YAML tag !urgent"),
    ("a: !!binary aGVsbG8=\n", "at `a` holds a binary value (!!binary)"),
    ("a: !!set {x}\n", "at `a` holds a set (!!set)"),
])
def test_a_tagged_yaml_value_is_refused_naming_where_and_what(text: str, named: str) -> None:
    refusal = refused(parse_yaml, text, "tagged.yaml")
    assert refusal.rule == "not-canonical"
    assert named in refusal.message and "write a plain string, number, list or mapping" in refusal.message


def test_a_json_escaped_surrogate_pair_in_yaml_reads_as_one_character() -> None:
    assert parse_yaml('a: "\\ud83d\\ude00"\n').data == {"a": "😀"}
