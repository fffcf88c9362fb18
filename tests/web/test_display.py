"""Relative times, names, labelled fields and generated forms: the pure pieces of the web UI (issue #21)."""

from __future__ import annotations

import pytest

from ledgerflow.domain.errors import SchemaViolation
from ledgerflow.domain.times import parse_time
from ledgerflow.web import display, forms

NOW = parse_time("2026-03-02T08:00:00Z")
SCHEMA = {"type": "object", "required": ["customer", "deal_value"], "properties": {
    "customer": {"type": "string", "minLength": 1, "title": "Customer", "description": "As in the CRM"},
    "deal_value": {"type": "number", "minimum": 0},
    "seats": {"type": "integer", "maximum": 500},
    "region": {"type": "string", "enum": ["EMEA", "APAC"]},
    "contact": {"type": "string", "format": "email"},
    "renewal": {"type": "boolean"},
    "tags": {"type": "array"}}}


@pytest.mark.parametrize(("stamp", "text"), [
    ("2026-03-02T11:00:00Z", "in 3 h"), ("2026-03-02T08:20:00Z", "in 20 min"), ("2026-03-05T08:00:00Z", "in 3 d"),
    ("2026-02-28T08:00:00Z", "2 d overdue"), ("2026-03-02T07:59:30Z", "1 min overdue")])
def test_a_deadline_reads_as_time_left_or_time_overdue(stamp: str, text: str) -> None:
    assert display.until(stamp, NOW) == text


def test_a_past_instant_reads_as_how_long_ago_with_the_exact_time_for_the_hover() -> None:
    assert display.ago("2026-03-02T05:00:00.000000Z", NOW) == "3 h ago"
    assert display.ago("2026-03-02T07:59:50Z", NOW) == "just now"
    assert display.exact("2026-03-02T05:00:00.000000Z") == "2026-03-02 05:00:00 UTC"
    assert display.until(None, NOW) is None and display.ago(None, NOW) is None


def test_data_is_shown_under_schema_titles_in_schema_order_and_unknown_keys_after() -> None:
    shown = forms.shown(SCHEMA, {"extra": {"a": 1}, "deal_value": 400000, "customer": "Stark Industries"})
    assert [(s.label, s.text) for s in shown] == [
        ("Customer", "Stark Industries"), ("Deal value", "400,000"), ("Extra", '{"a": 1}')]


def test_the_form_carries_what_the_browser_can_check() -> None:
    made = {f.name: f for f in forms.fields(SCHEMA)}
    assert made["customer"].required and made["customer"].description == "As in the CRM"
    assert ("minlength", "1") in made["customer"].attrs
    assert made["deal_value"].input_type == "number" and ("min", "0") in made["deal_value"].attrs
    assert ("step", "1") in made["seats"].attrs and ("max", "500") in made["seats"].attrs
    assert made["region"].control == "select" and made["region"].options == ("EMEA", "APAC")
    assert made["contact"].input_type == "email" and made["renewal"].control == "checkbox"
    assert made["tags"].control == "textarea" and not made["region"].required


def test_a_posted_form_becomes_a_typed_document_and_leaves_bad_values_to_the_schema() -> None:
    values = forms.posted({"csrf_token": "x", "f.customer": "Acme", "f.deal_value": "12,000", "f.seats": "7",
                           "f.region": "", "f.renewal": "on", "f.tags": '["a"]'})
    assert forms.document(SCHEMA, values) == {"customer": "Acme", "deal_value": 12000, "seats": 7, "renewal": True,
                                              "tags": ["a"]}
    assert forms.document(SCHEMA, {"deal_value": "lots", "seats": "1.5"}) == {
        "deal_value": "lots", "seats": "1.5", "renewal": False}


def test_each_schema_violation_is_placed_on_its_field() -> None:
    exc = SchemaViolation("the input violates its schema", details={"violations": [
        {"path": "/", "message": "'customer' is a required property"},
        {"path": "/deal_value", "message": "'lots' is not of type 'number'"}]})
    assert forms.field_errors(exc) == {"customer": "'customer' is a required property",
                                       "deal_value": "'lots' is not of type 'number'"}


def test_names_come_from_the_directory() -> None:
    assert display.names(None) == {}
