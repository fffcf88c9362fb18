"""The one-page escalation map of a playbook (SPEC §12): per step who owns, approves under which authority row,
recommends, is informed, the SLA, nudges and the escalation chain, each person's standing delegate, and the
holes a staff review should close. Pure: built from a playbook version and the loaded directory.

Holes, with the ids of the lint rules that say the same:

- `escalation-below-authority`: an escalation target of a decision who could not approve under every
  authority row (nor is the outcome owner); under a row it cannot approve it is only pulled in (SPEC §3.3).
- `single-point-of-failure`: a role that receives work at the step whose only member is a person with no
  standing delegate (agents are never away; `recommend`/`inform` open no tasks).
- `no-sla`: a decision without `sla.due`, or a task without a due time: nothing notices it stall. Checks and
  actions are carried out by the system and have none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledgerflow.domain.directory import Directory
from ledgerflow.domain.durations import format_duration
from ledgerflow.domain.playbook import ActionStep, DecisionStep, Playbook, Step, TaskStep

HOLES = ("escalation-below-authority", "single-point-of-failure", "no-sla")


def approvers(step: DecisionStep) -> list[dict[str, Any]]:
    """Who approves, in the order the engine tries: each authority row, then `rights.approve` when a
    request can fall through every row. `when` null means "otherwise"."""
    rows: list[dict[str, Any]] = [{"when": row.when.source if row.when else None, "approve": row.approve}
                                  for row in step.authority]
    if step.rights.approve and all(row.when is not None for row in step.authority):
        rows.append({"when": None, "approve": step.rights.approve})
    return rows


AUTONOMY_KEYS = ("agent", "step", "written_limit", "limit", "withdrawn", "decided_by", "decided_at", "rationale")


def build_map(playbook: Playbook, version: int, directory: Directory | None,
              autonomy: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The map as the JSON of SPEC §12 (`playbook map ID --format json`), with more keys per step: `due`,
    `recommend`, `inform`, `execute`, `separation_of_duties`, `quorum`, `parallel`, `backups`, `holes`; and
    `agent_autonomy`: the owners' decisions in force that widened, narrowed or withdrew what an agent may decide
    at a step (`domain.autonomy.current`'s entries, those the owners changed), which the rows as written no
    longer show."""
    return {"playbook": playbook.id, "version": version, "title": playbook.title,
            "outcome_owner": playbook.outcome.owner, "workflow_owner": playbook.workflow_owner,
            "steps": [_step(playbook, step, directory) for step in playbook.walk()],
            "agent_autonomy": [{key: entry[key] for key in AUTONOMY_KEYS} for entry in autonomy if entry["changed"]]}


def _step(playbook: Playbook, step: Step, directory: Directory | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"step": step.id, "type": step.type, "owner": None, "approvers": [], "sla_due": None,
                             "nudges": [], "escalations": [], "due": None, "recommend": [], "inform": [],
                             "execute": None, "separation_of_duties": [], "quorum": None,
                             "parallel": playbook.steps[step.top].id if step.branch is not None else None}
    holes: list[dict[str, str]] = []
    if isinstance(step, TaskStep | ActionStep):
        entry["owner"] = step.owner if isinstance(step, TaskStep) else playbook.action_owner(step)
        entry["due"] = format_duration(step.clarity.due)
        if isinstance(step, TaskStep) and step.clarity.due is None:
            holes.append(_hole("no-sla", f"task {step.id!r} has no due time; give it `clarity.due` so a stalled "
                                         "task shows as overdue"))
    elif isinstance(step, DecisionStep):
        rows = approvers(step)
        entry.update(owner=step.rights.approve, approvers=rows, due=format_duration(step.clarity.due),
                     recommend=list(step.rights.recommend), inform=list(step.rights.inform),
                     execute=step.rights.execute, separation_of_duties=list(step.separation_of_duties),
                     quorum=step.quorum)
        sla = step.sla
        if sla is not None:
            entry.update(sla_due=format_duration(sla.due), nudges=[format_duration(n) for n in sla.nudge])
        if sla is None or sla.due is None:
            holes.append(_hole("no-sla", f"decision {step.id!r} has no SLA; add `sla: {{due: 24h, escalate: "
                                         "[...]}}` so a stalled decision is noticed and escalated"))
        for escalation in sla.escalate if sla is not None else ():
            short = _cannot_approve(escalation.to, rows, playbook, directory)
            entry["escalations"].append({"after": format_duration(escalation.after), "to": escalation.to,
                                         "may_approve": not short})
            if short:
                holes.append(_hole("escalation-below-authority",
                                   f"escalating {step.id!r} to {escalation.to!r} after "
                                   f"{format_duration(escalation.after)}: {escalation.to} may not approve where "
                                   f"{' or '.join(short)} approves, so is only pulled in there; escalate to "
                                   "someone who may approve under every row, or the outcome owner"))
    entry["backups"] = _backups(_receivers(entry), directory)
    holes += [_hole("single-point-of-failure", f"role {role!r} has one member, {person}, with no standing "
                                               f"delegate; add a member or give {person} a delegate")
              for role, person in _single_points(_receivers(entry), directory)]
    entry["holes"] = holes
    return entry


def _hole(kind: str, message: str) -> dict[str, str]:
    return {"kind": kind, "message": message}


def _receivers(entry: dict[str, Any]) -> list[str]:
    """The roles and people who receive work at a step: its owner, approvers, executor, escalation targets."""
    names = [entry["owner"], *(row["approve"] for row in entry["approvers"]), entry["execute"],
             *(e["to"] for e in entry["escalations"])]
    return list(dict.fromkeys(name for name in names if name))


def _people(names: list[str], directory: Directory) -> Iterator[str]:
    for name in names:
        yield from directory.members(name)


def _backups(names: list[str], directory: Directory | None) -> list[dict[str, Any]]:
    """Each person who may receive the step's work, with their standing delegate (null: nobody)."""
    if directory is None:
        return []
    found = []
    for person in sorted(set(_people(names, directory))):
        actor = directory.get(person)
        if actor is not None and not actor.is_agent:
            found.append({"person": person, "delegate": actor.delegate})
    return found


def _single_points(names: list[str], directory: Directory | None) -> list[tuple[str, str]]:
    if directory is None:
        return []
    found = []
    for name in names:
        members = directory.members(name) if directory.is_role(name) else ()
        only = directory.get(members[0]) if len(members) == 1 else None
        if only is not None and not only.is_agent and not only.delegate:
            found.append((name, only.id))
    return found


def _cannot_approve(target: str, rows: list[dict[str, Any]], playbook: Playbook,
                    directory: Directory | None) -> list[str]:
    """The approvers of the rows under which `target` could not approve; empty for the outcome owner."""
    if target == playbook.outcome.owner:
        return []
    short = []
    for row in rows:
        holders = set(directory.members(row["approve"])) if directory is not None else {row["approve"]}
        reached = set(directory.members(target)) if directory is not None else {target}
        if target != row["approve"] and not (reached and reached <= holders):
            short.append(row["approve"])
    return list(dict.fromkeys(short))


# ---------------------------------------------------------------------------------------------- Markdown


def map_markdown(found: dict[str, Any]) -> str:
    """The map as one Markdown page for a staff review: owners, holes first, then one section per step."""
    holes = [(step["step"], hole) for step in found["steps"] for hole in step["holes"]]
    lines = [f"# Escalation map: {found['title']}", "",
             f"Playbook `{found['playbook']}` version {found['version']}. Outcome owner: "
             f"{found['outcome_owner'] or '(none)'}. Workflow owner: {found['workflow_owner'] or '(none)'}.", "",
             "## Holes", ""]
    lines += [f"- **{step}** ({hole['kind']}): {hole['message']}" for step, hole in holes] or ["None found."]
    for step in found["steps"]:
        lines += ["", f"## {step['step']} ({step['type']})", ""]
        lines += [f"- {line}" for line in _step_lines(step)]
        lines += [f"- {_autonomy_line(entry)}" for entry in found["agent_autonomy"] if entry["step"] == step["step"]]
    return "\n".join(lines) + "\n"


def _autonomy_line(entry: Mapping[str, Any]) -> str:
    """An owners' decision on an agent's autonomy, as the map's reader needs it: what the agent may decide now."""
    if entry["withdrawn"]:
        now = f"Agent {entry['agent']} may not decide here (withdrawn)"
    else:
        now = f"Agent {entry['agent']} decides up to {entry['limit']:,g} (as written: {entry['written_limit']:,g})"
    return f"{now}, by {entry['decided_by']} on {entry['decided_at'][:10]}: {entry['rationale']}"


def _step_lines(step: dict[str, Any]) -> Iterator[str]:
    if step["parallel"]:
        yield f"Runs beside the other branches of `{step['parallel']}`"
    if step["type"] in ("check", "parallel"):
        yield "Carried out by the system"
    if step["owner"] and step["type"] != "decision":
        yield f"Owner: {step['owner']}"
    if step["approvers"]:
        yield "Approves: " + "; ".join(f"{row['approve']} when `{row['when']}`" if row["when"] else
                                       f"otherwise {row['approve']}" for row in step["approvers"])
    for label, key in (("Recommends", "recommend"), ("Informed", "inform"),
                       ("Never decided by whoever did", "separation_of_duties")):
        if step[key]:
            yield f"{label}: {', '.join(step[key])}"
    if step["execute"]:
        yield f"Executes: {step['execute']}"
    if step["quorum"] and step["quorum"] > 1:
        yield f"Quorum: {step['quorum']} distinct approvers"
    if step["due"]:
        yield f"Due: {step['due']} after it is ready"
    if step["sla_due"]:
        nudges = f"; nudges at {', '.join(step['nudges'])}" if step["nudges"] else "; no nudges"
        yield f"SLA: {step['sla_due']}{nudges}"
    for escalation in step["escalations"]:
        how = "takes the decision" if escalation["may_approve"] else "is pulled in (may not approve)"
        yield f"After {escalation['after']}: escalates to {escalation['to']}, who {how}"
    if step["backups"]:
        yield "Backups: " + ", ".join(f"{b['person']} → {b['delegate'] or 'nobody'}" for b in step["backups"])
    for hole in step["holes"]:
        yield f"**Hole** ({hole['kind']}): {hole['message']}"
