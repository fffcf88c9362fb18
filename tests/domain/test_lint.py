"""Clarity lint (SPEC §4): each defect of the shared example gives exactly its own finding."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledgerflow.domain.directory import Directory, load_directory
from ledgerflow.domain.findings import ERROR, WARNING, Finding
from ledgerflow.domain.lint import lint_playbook, lint_source
from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.source import parse_yaml

_SHARED = Path(__file__).resolve().parents[3] / "shared" / "playbooks"
_PLAYBOOKS = _SHARED if _SHARED.exists() else Path(__file__).resolve().parents[2] / "src/ledgerflow/examples"
EXAMPLE = (_PLAYBOOKS / "pricing-exception.yaml").read_text(encoding="utf-8")
DIRECTORY_TEXT = (_PLAYBOOKS / "directory.yaml").read_text(encoding="utf-8")
FILE = "pricing-exception.yaml"
ERIN = "  - {id: erin, name: Erin Walsh, email: erin@example.com, roles: [finance]}\n"


def directory(text: str = DIRECTORY_TEXT) -> Directory:
    return load_directory(parse_yaml(text, "directory.yaml"))[0]


def edit(text: str, *changes: tuple[str, str]) -> str:
    """Apply exact text replacements, each of which must match exactly once."""
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def lint(text: str = EXAMPLE, people: Directory | None = None) -> list[Finding]:
    return lint_source(text, FILE, people if people is not None else directory())


def lint_data(change: Callable[[dict[str, Any]], None], people: Directory | None = None) -> list[Finding]:
    """Lint the example after changing its parsed data (written back as JSON, which is YAML)."""
    data = copy.deepcopy(parse_yaml(EXAMPLE).data)
    change(data)
    return lint(json.dumps(data, indent=1), people)


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def only(findings: list[Finding], rule: str) -> Finding:
    assert [f.rule for f in findings] == [rule], findings
    return findings[0]


def task(step_id: str, owner: str = "account-exec") -> dict[str, Any]:
    return {"id": step_id, "type": "task", "owner": owner,
            "clarity": {"what": "Review it", "why": "Policy", "success": "a review is recorded", "due": "1d"}}


# ---------------------------------------------------------------------------------- the example


def test_shared_example_with_shared_directory_has_no_findings() -> None:
    assert lint() == []


def test_shared_example_through_lint_playbook_has_no_findings() -> None:
    assert lint_playbook(load_playbook(parse_yaml(EXAMPLE, FILE)), directory()) == []


def test_missing_directory_gives_one_no_directory_error_and_skips_actor_checks() -> None:
    text = edit(EXAMPLE, ("      approve: finance\n      execute", "      approve: finanse\n      execute"))
    finding = only(lint_source(text, FILE, None), "no-directory")
    assert finding.severity == ERROR
    assert finding.step is None
    assert "--directory" in finding.message


# ------------------------------------------------------------------------------------- loading


def test_unparsable_yaml_gives_one_load_error_with_its_line() -> None:
    finding = only(lint(EXAMPLE + "oops: [\n"), "load-error")
    assert finding.line is not None and finding.line >= 82
    assert finding.file == FILE
    assert finding.severity == ERROR


def test_unreadable_shape_gives_one_load_error_with_line_and_path() -> None:
    finding = only(lint(edit(EXAMPLE, ("quorum: 1", "quorum: 0"))), "load-error")
    assert finding.path == "steps[2].quorum"
    assert finding.line == 54


def test_a_bad_duration_is_reported_with_every_other_finding_of_the_file() -> None:
    text = edit(EXAMPLE, ("      due: 4h\n", "      due: 4 hours\n"), ("due: 24h", "due: soon"),
                ("after: 24h", "after: 1 day"), ("    owner: deal-desk\n    clarity:\n      what: Apply",
                                                 "    owner: nobody\n    clarity:\n      what: Apply"))
    found = lint(text)
    assert sorted(f.path for f in found if f.rule == "load-error") == [
        "steps[2].sla.due", "steps[2].sla.escalate[0].after", "steps[3].clarity.due"]
    assert "is not a duration" in next(f for f in found if f.path == "steps[2].sla.due").message
    assert [f.path for f in found if f.rule == "unknown-actor"] == ["steps[3].owner"]
    assert not {"clarity-missing", "decision-without-sla"} & rules(found)  # unreadable is not also missing


def test_duplicate_yaml_key_gives_load_error() -> None:
    text = edit(EXAMPLE, ("workflow_owner: sam\n", "workflow_owner: sam\nworkflow_owner: sam\n"))
    assert rules(lint(text)) == {"load-error"}


def test_unknown_key_on_a_step_gives_unknown_key() -> None:
    text = edit(EXAMPLE, ("    rationale: required\n", "    rationale: required\n    colour: red\n"))
    finding = only(lint(text), "unknown-key")
    assert finding.path == "steps[2].colour"
    assert finding.step == "approve"
    assert finding.line == 53


def test_loader_issues_are_part_of_lint_playbook() -> None:
    text = edit(EXAMPLE, ("workflow_owner: sam\n", "workflow_owner: sam\nowner: x\n"))
    playbook = load_playbook(parse_yaml(text, FILE))
    assert rules(lint_playbook(playbook, directory())) == {"unknown-key"}


# -------------------------------------------------------------------------------------- owners


def test_no_outcome_owner_gives_outcome_owner_missing() -> None:
    text = edit(EXAMPLE, ("outcome:\n  owner: maria\n", "outcome:\n"))
    assert rules(lint(text)) == {"outcome-owner-missing"}


def test_no_workflow_owner_gives_workflow_owner_missing() -> None:
    finding = only(lint(edit(EXAMPLE, ("workflow_owner: sam\n", ""))), "workflow-owner-missing")
    assert finding.path == "workflow_owner"
    assert finding.step is None


def test_role_as_workflow_owner_gives_owner_not_person() -> None:
    text = edit(EXAMPLE, ("workflow_owner: sam", "workflow_owner: sales-ops"))
    finding = only(lint(text), "owner-not-person")
    assert finding.path == "workflow_owner"
    assert finding.line == 7


def test_agent_as_outcome_owner_gives_owner_not_person() -> None:
    finding = only(lint(edit(EXAMPLE, ("  owner: maria", "  owner: intake-bot"))), "owner-not-person")
    assert finding.path == "outcome.owner"
    assert "agent" in finding.message


def test_unknown_outcome_owner_gives_unknown_actor() -> None:
    finding = only(lint(edit(EXAMPLE, ("  owner: maria", "  owner: mariah"))), "unknown-actor")
    assert "'maria'" in finding.message


# -------------------------------------------------------------------------------------- actors


def test_misspelt_approver_gives_unknown_actor_suggesting_the_role() -> None:
    text = edit(EXAMPLE, ("      approve: finance\n      execute", "      approve: finanse\n      execute"))
    finding = only(lint(text), "unknown-actor")
    assert finding.path == "steps[2].rights.approve"
    assert finding.line == 44
    assert finding.step == "approve"
    assert "unknown role 'finanse' (did you mean 'finance'?)" in finding.message


def test_unknown_person_in_inform_list_points_at_its_item() -> None:
    finding = only(lint(edit(EXAMPLE, ("[account-exec, maria]", "[account-exec, mario]"))), "unknown-actor")
    assert finding.path == "steps[2].rights.inform[1]"
    assert "'maria'" in finding.message


def test_unknown_task_owner_gives_unknown_actor() -> None:
    text = edit(EXAMPLE, ("    owner: account-exec\n", "    owner: account-executive\n"))
    assert only(lint(text), "unknown-actor").path == "steps[0].owner"


def test_unknown_authority_and_escalation_targets_give_unknown_actor() -> None:
    text = edit(EXAMPLE, ("      - approve: vp-sales", "      - approve: vp-sale"),
                ("to: maria", "to: nobody-here"))
    findings = lint(text)
    assert rules(findings) == {"unknown-actor"}
    assert {f.path for f in findings} == {"steps[2].authority[1].approve", "steps[2].sla.escalate[0].to"}


# --------------------------------------------------------------------------------------- clarity


def test_task_without_why_gives_clarity_missing_at_the_clarity_block() -> None:
    text = edit(EXAMPLE, ("      why: Finance cannot judge the margin impact without the deal sheet\n", ""))
    finding = only(lint(text), "clarity-missing")
    assert finding.path == "steps[0].clarity.why"
    assert finding.line == 19


def test_task_without_owner_gives_clarity_missing() -> None:
    finding = only(lint(edit(EXAMPLE, ("    owner: account-exec\n", ""))), "clarity-missing")
    assert finding.path == "steps[0].owner"


def test_decision_without_due_gives_clarity_missing() -> None:
    def change(data: dict[str, Any]) -> None:
        del data["steps"][2]["clarity"]["due"]

    assert only(lint_data(change), "clarity-missing").path == "steps[2].clarity.due"


def test_blank_clarity_answer_counts_as_missing() -> None:
    text = edit(EXAMPLE, ("what: Apply the approved discount in the quote", "what: '  '"))
    assert only(lint(text), "clarity-missing").path == "steps[3].clarity.what"


def test_success_without_anything_to_observe_gives_success_not_observable() -> None:
    text = edit(EXAMPLE, ("success: deal_sheet_url and justification are filled in",
                          "success: the account executive is happy with it"))
    finding = only(lint(text), "success-not-observable")
    assert finding.severity == WARNING
    assert finding.path == "steps[0].clarity.success"
    assert finding.line == 22


def test_success_naming_a_produced_field_with_spaces_is_observable() -> None:
    text = edit(EXAMPLE, ("success: deal_sheet_url and justification are filled in",
                          "success: the deal sheet url is there"))
    assert lint(text) == []


def test_success_naming_an_input_field_is_observable() -> None:
    text = edit(EXAMPLE, ("success: quote_id of the revised quote is recorded",
                          "success: the quote reflects the discount pct"))
    assert lint(text) == []


# ------------------------------------------------------------------------------------- decisions


def test_decision_with_no_approve_and_only_guarded_rows_gives_decision_without_approver() -> None:
    text = edit(EXAMPLE, ("      approve: finance\n      execute", "      execute"),
                ("      - approve: vp-sales\n", ""))
    finding = only(lint(text), "decision-without-approver")
    assert finding.path == "steps[2].rights.approve"
    assert finding.step == "approve"


def test_decision_with_a_final_unguarded_row_needs_no_rights_approve() -> None:
    assert lint(edit(EXAMPLE, ("      approve: finance\n      execute", "      execute"))) == []


def test_decision_without_sla_gives_a_warning() -> None:
    sla = "    sla:\n      due: 24h\n      nudge: [4h, 12h]\n      escalate:\n        - after: 24h\n"
    text = edit(EXAMPLE, (sla + "          to: maria\n", ""))
    assert only(lint(text), "decision-without-sla").severity == WARNING


def test_unknown_separation_of_duties_step_gives_sod_unknown_step() -> None:
    finding = only(lint(edit(EXAMPLE, ("[prepare]", "[prepair]"))), "sod-unknown-step")
    assert finding.path == "steps[2].separation_of_duties[0]"
    assert "'prepare'" in finding.message


def test_quorum_above_every_approving_role_gives_quorum_exceeds_approvers() -> None:
    finding = only(lint(edit(EXAMPLE, ("quorum: 1", "quorum: 3"))), "quorum-exceeds-approvers")
    assert finding.path == "steps[2].quorum"
    assert finding.line == 54
    assert finding.message.count("'finance'") == 1
    assert "'vp-sales' has 2" in finding.message


def test_quorum_within_every_approving_role_is_fine() -> None:
    assert lint(edit(EXAMPLE, ("quorum: 1", "quorum: 2"))) == []


def test_same_role_recommending_and_approving_without_sod_gives_approver_is_recommender() -> None:
    text = edit(EXAMPLE, ("recommend: deal-desk", "recommend: finance"),
                ("    separation_of_duties: [prepare]\n", ""))
    finding = only(lint(text), "approver-is-recommender")
    assert finding.path == "steps[2].rights.recommend"
    assert finding.severity == WARNING


def test_same_role_recommending_and_approving_with_sod_is_fine() -> None:
    assert lint(edit(EXAMPLE, ("recommend: deal-desk", "recommend: finance"))) == []


def test_agent_only_role_as_approver_gives_agent_only_approver() -> None:
    text = edit(EXAMPLE, ("approve: finance\n      execute", "approve: deal-desk-assistant\n      execute"))
    assert only(lint(text), "agent-only-approver").path == "steps[2].rights.approve"


def test_agent_only_role_behind_a_guarded_row_is_fine() -> None:
    text = edit(EXAMPLE, ("        approve: finance\n", "        approve: deal-desk-assistant\n"))
    assert lint(text) == []


def test_unguarded_role_with_agent_and_people_gives_agent_unguarded_approve() -> None:
    people = directory(edit(DIRECTORY_TEXT, ("[deal-desk-assistant]", "[deal-desk-assistant, finance]")))
    finding = only(lint(EXAMPLE, people), "agent-unguarded-approve")
    assert finding.path == "steps[2].rights.approve"
    assert finding.severity == WARNING


def test_role_with_one_member_and_no_delegate_gives_single_point_of_failure() -> None:
    people = directory(edit(DIRECTORY_TEXT, (ERIN, "")))
    finding = only(lint(EXAMPLE, people), "single-point-of-failure")
    assert finding.path == "steps[2].rights.approve"
    assert finding.severity == WARNING


def test_single_member_with_a_delegate_is_not_a_single_point_of_failure() -> None:
    people = directory(edit(DIRECTORY_TEXT, (ERIN, ""), ("[finance]}", "[finance], delegate: sam}")))
    assert lint(EXAMPLE, people) == []


def test_escalation_to_the_only_approver_gives_escalation_to_approver() -> None:
    finding = only(lint(edit(EXAMPLE, ("      - approve: vp-sales", "      - approve: maria"))),
                   "escalation-to-approver")
    assert finding.path == "steps[2].sla.escalate[0].to"
    assert finding.line == 65
    assert "outcome owner" not in finding.message  # maria is the outcome owner: no advice to escalate to her


def test_escalation_to_someone_who_cannot_approve_under_every_row_gives_escalation_below_authority() -> None:
    finding = only(lint(edit(EXAMPLE, ("          to: maria", "          to: dave"))), "escalation-below-authority")
    assert finding.path == "steps[2].sla.escalate[0].to" and finding.severity == WARNING
    assert "'vp-sales'" in finding.message and "'finance'" not in finding.message


# ----------------------------------------------------------------------------------- expressions


def test_invalid_cel_gives_expression_invalid() -> None:
    finding = only(lint(edit(EXAMPLE, ("when: input.discount_pct > 10", "when: input.discount_pct >"))),
                   "expression-invalid")
    assert finding.path == "steps[2].when"


def test_when_reading_a_later_step_gives_expression_forward_reference() -> None:
    text = edit(EXAMPLE, ("when: input.discount_pct > 10", "when: has(steps.apply.output)"))
    finding = only(lint(text), "expression-forward-reference")
    assert finding.path == "steps[2].when"
    assert finding.line == 41
    assert "later" in finding.message


def test_check_rule_reading_an_unknown_step_gives_expression_forward_reference() -> None:
    text = edit(EXAMPLE, ("steps.prepare.output.justification", "steps.prepair.output.justification"))
    finding = only(lint(text), "expression-forward-reference")
    assert finding.path == "steps[1].rules[1].expr"
    assert "does not exist" in finding.message


def test_authority_row_reading_a_later_step_gives_expression_forward_reference() -> None:
    text = edit(EXAMPLE, ("when: input.deal_value <= 50000", "when: decision.apply == 'approve'"))
    assert only(lint(text), "expression-forward-reference").path == "steps[2].authority[0].when"


def test_authority_row_reading_an_earlier_step_is_fine() -> None:
    text = edit(EXAMPLE, ("input.deal_value <= 50000", "size(steps.prepare.output.justification) > 50"))
    assert lint(text) == []


def test_branch_reading_a_sibling_branch_gives_expression_forward_reference() -> None:
    def change(data: dict[str, Any]) -> None:
        security = task("security") | {"when": "has(steps.legal.output)"}
        data["steps"].append({"id": "reviews", "type": "parallel",
                              "branches": [[task("legal")], [task("review-prep"), security]]})

    finding = only(lint_data(change), "expression-forward-reference")
    assert finding.path == "steps[4].branches[1][1].when"
    assert "sibling branch" in finding.message


def test_branch_reading_an_earlier_step_of_its_own_branch_is_fine() -> None:
    def change(data: dict[str, Any]) -> None:
        security = task("security") | {"when": "has(steps.legal.output) && decision.approve == 'approve'"}
        data["steps"].append({"id": "reviews", "type": "parallel", "branches": [[task("legal"), security]]})

    assert lint_data(change) == []


def test_parallel_inside_a_branch_gives_nested_parallel() -> None:
    def change(data: dict[str, Any]) -> None:
        inner = {"id": "inner", "type": "parallel", "branches": [[task("security")]]}
        data["steps"].append({"id": "reviews", "type": "parallel", "branches": [[task("legal")], [inner]]})

    assert rules(lint_data(change)) == {"nested-parallel"}


def test_reused_step_id_gives_duplicate_step_id() -> None:
    finding = only(lint(edit(EXAMPLE, ("  - id: apply", "  - id: prepare"))), "duplicate-step-id")
    assert finding.path == "steps[3].id"


# ------------------------------------------------------------------------------- checks and rework


def test_send_back_to_a_later_step_gives_send_back_target() -> None:
    finding = only(lint(edit(EXAMPLE, ("{send_back: prepare}", "{send_back: approve}"))), "send-back-target")
    assert finding.path == "steps[1].on_fail.send_back"
    assert finding.line == 32


def test_send_back_to_an_unknown_step_gives_send_back_target() -> None:
    finding = only(lint(edit(EXAMPLE, ("{send_back: prepare}", "{send_back: prep}"))), "send-back-target")
    assert "is not a step" in finding.message


def test_send_back_to_a_check_gives_send_back_target() -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"].insert(2, {"id": "recheck", "type": "check", "on_fail": {"send_back": "completeness"},
                                 "rules": [{"expr": "size(steps.prepare.output.justification) >= 30"}]})

    finding = only(lint_data(change), "send-back-target")
    assert finding.path == "steps[2].on_fail.send_back"
    assert "check" in finding.message


def test_decision_offering_send_back_with_nothing_before_it_gives_send_back_target() -> None:
    def change(data: dict[str, Any]) -> None:
        del data["steps"][:2]
        del data["steps"][0]["separation_of_duties"]
        data["steps"][0]["rights"]["recommend"] = "account-exec"

    assert only(lint_data(change), "send-back-target").path == "steps[0].options"


def test_input_only_rule_that_sends_back_gives_check_cannot_recover() -> None:
    finding = only(lint(edit(EXAMPLE, ("        on_fail: {reject: true}\n", ""))), "check-cannot-recover")
    assert finding.path == "steps[1].rules[0]"
    assert finding.line == 34
    assert finding.severity == WARNING


def test_action_without_owner_or_earlier_execute_gives_action_without_owner() -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"][3] = {"id": "apply", "type": "action", "action": {"callable": "mypkg.actions:apply"}}
        del data["steps"][2]["rights"]["execute"]

    assert only(lint_data(change), "action-without-owner").path == "steps[3].owner"


def test_action_without_owner_takes_execute_of_an_earlier_decision() -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"][3] = {"id": "apply", "type": "action", "action": {"callable": "mypkg.actions:apply"}}

    assert lint_data(change) == []


# ---------------------------------------------------------------------------------------- output


def test_findings_are_sorted_by_line_then_rule_and_carry_file_and_playbook() -> None:
    text = edit(EXAMPLE, ("workflow_owner: sam", "workflow_owner: sales-ops"),
                ("    owner: account-exec\n", ""), ("quorum: 1", "quorum: 3"),
                ("success: deal_sheet_url and justification are filled in", "success: it feels right"))
    findings = lint(text)
    assert [(f.line, f.rule) for f in findings] == sorted((f.line or 0, f.rule) for f in findings)
    assert [f.rule for f in findings] == ["owner-not-person", "clarity-missing", "success-not-observable",
                                          "quorum-exceeds-approvers"]
    assert {f.file for f in findings} == {FILE}
    assert {f.playbook for f in findings} == {"pricing-exception"}
    assert lint(text) == findings
