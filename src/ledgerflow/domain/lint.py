"""Clarity lint (SPEC §4): every problem of a playbook at once, each saying where it is and how to fix it.

Pure: the caller reads the files and the directory; this module only looks at them.

Choices where the contract is terse:

- Actor checks (`unknown-actor`, `owner-not-person`, quorum, agents, single points of failure,
  escalation) need a directory; without one there is a single `no-directory` error and they are skipped.
- `clarity-missing` gives one finding per missing answer (path `steps[i].clarity.<answer>`), and one for
  a task without `owner`. Actions need no clarity: the system carries them out.
- `quorum-exceeds-approvers` is one finding per decision when any role or person that may approve it
  (`rights.approve` or an authority row) has fewer eligible members than the quorum; agents count only
  behind a guarded row, because nowhere else may they decide.
- `send-back-target` also covers a decision offering `send_back` with no earlier task or decision on
  its path: nothing could ever be sent back to.
- `single-point-of-failure` looks at roles that receive work (task and action owners, approvers,
  `execute`, escalation targets), once per role, when the only member is a person with no standing
  delegate; agents are never away, and `recommend`/`inform` open no tasks.
- `check-cannot-recover` treats a rule as input-only when its expression reads no `steps` and no
  `decision` (only `input` and `run`, which rework cannot change).
- `sod-unknown-step` flags ids that name no step; listing a later step is harmless (it matters after
  rework) and is allowed.
- `approver-is-recommender` compares names: a role or person in `rights.recommend` that is also named by
  `rights.approve` or an authority row, on a decision with an empty `separation_of_duties`.
- `decision-without-sla` also covers an `sla` block without `due` (nudges alone set no deadline).
- `success-not-observable` reads the text in lower case with `_` as a space; a status word is one of
  `_STATUS_WORDS` (past participles such as approved, recorded, sent, and small number words), a
  duration is a number or a time word (hours, days, today...), a field is a top-level property or
  required name of the step's `produces` or of `input`.
- `no-directory` is a playbook-level finding with path "" and no line.
- `summary-unknown-field` (warning, SPEC §12) names a summary placeholder that is not a property of the
  input schema; an input schema without `properties` may carry any field, so it is not checked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ledgerflow.domain.directory import Directory
from ledgerflow.domain.errors import LoadError
from ledgerflow.domain.expressions import Expression, step_references
from ledgerflow.domain.findings import ERROR, WARNING, Finding
from ledgerflow.domain.playbook import (
    ActionStep,
    CheckStep,
    Clarity,
    DecisionStep,
    Playbook,
    Step,
    TaskStep,
    load_playbook,
)
from ledgerflow.domain.source import join, parse_yaml
from ledgerflow.domain.summary import template_fields

_HINTS = {
    "what": "what the owner must do",
    "why": "why it matters",
    "success": "how anyone can tell it is done",
    "due": "a review date such as 1d",
}
_DURATION_WORDS = re.compile(
    r"\b(minutes?|hours?|days?|weeks?|months?|quarters?|years?|today|tomorrow|tonight|weekly|daily|monthly"
    r"|eod|eow|deadline|sla)\b")
_STATUS_WORDS = frozenset("""
    accepted acknowledged added answered applied approved archived assigned attached booked cancelled
    canceled captured checked closed complete completed confirmed created decided declined delivered
    deployed done entered escalated exists failed filed filled finished issued invoiced logged merged
    notified paid passed posted present provided published received recorded registered rejected replied
    resolved returned reviewed saved scheduled sent shipped signed skipped stored submitted updated
    uploaded validated verified ready zero one two three four five six seven eight nine ten eleven twelve
""".split())
_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def lint_source(text: str, file: str | None, directory: Directory | None) -> list[Finding]:
    """Parse, load and lint one playbook file; a file that does not load gives one `load-error`.

    A bad duration loads (as a `load-error` finding at its path), so every other finding is reported with it.
    """
    try:
        source = parse_yaml(text, file)
        playbook = load_playbook(source)
    except LoadError as exc:
        return [Finding(playbook=None, step=None, rule="load-error", severity=ERROR, message=exc.message,
                        file=exc.file if exc.file is not None else file, line=exc.line, path=exc.path)]
    return lint_playbook(playbook, directory)


def lint_playbook(playbook: Playbook, directory: Directory | None) -> list[Finding]:
    """Every finding of SPEC §4 for a loaded playbook, sorted by line, then rule.

    Args:
        playbook: the loaded playbook; the loader's own findings (`playbook.issues`) are included.
        directory: the directory to check actors against; None gives a `no-directory` error.
    """
    linter = _Linter(playbook, directory)
    linter.run()
    # a value the loader could not read (a bad duration) is reported once, not again as missing
    unreadable = {f.path for f in playbook.issues if f.rule == "load-error"}
    return sorted([*playbook.issues, *(f for f in linter.findings if f.path not in unreadable)],
                  key=lambda f: (f.line or 0, f.rule, f.path, f.step or "", f.message))


@dataclass(frozen=True, slots=True)
class _Approver:
    """A role or person that may approve a decision, and whether a guarded authority row names it."""

    name: str
    path: str
    guarded: bool


class _Linter:
    def __init__(self, playbook: Playbook, directory: Directory | None):
        self.pb = playbook
        self.dir = directory
        self.findings: list[Finding] = []

    def add(self, rule: str, path: str, message: str, step: Step | None = None,
            severity: str = ERROR) -> None:
        self.findings.append(Finding(playbook=self.pb.id, step=step.id if step else None, rule=rule,
                                     severity=severity, message=message, file=self.pb.source.file,
                                     line=self.pb.source.line(path), path=path))

    def warn(self, rule: str, path: str, message: str, step: Step | None = None) -> None:
        self.add(rule, path, message, step, WARNING)

    def run(self) -> None:
        self.owners()
        self.summary()
        for step in self.pb.walk():
            self.expressions(step)
            if isinstance(step, TaskStep):
                if not (step.owner or "").strip():
                    self.add("clarity-missing", join(step.path, "owner"),
                             f"task {step.id!r} has no owner; name a role or person as `owner`", step)
                self.clarity(step, step.clarity, step.produces)
            elif isinstance(step, DecisionStep):
                self.clarity(step, step.clarity, None)
                self.decision(step)
            elif isinstance(step, CheckStep):
                self.check(step)
            elif isinstance(step, ActionStep):
                self.action(step)
        if self.dir is None:
            self.add("no-directory", "", "no directory to check actors against; run `ledgerflow directory "
                     "load FILE` or pass --directory FILE")
        else:
            self.actors(self.dir)

    # ----------------------------------------------------------------------------------- structure

    def owners(self) -> None:
        if not (self.pb.outcome.owner or "").strip():
            self.add("outcome-owner-missing", "outcome.owner",
                     "the playbook has no outcome owner; set outcome.owner to the person accountable for "
                     "the outcome")
        if not (self.pb.workflow_owner or "").strip():
            self.add("workflow-owner-missing", "workflow_owner",
                     "the playbook has no workflow owner; set workflow_owner to the person accountable for "
                     "end-to-end execution")

    def summary(self) -> None:
        properties = self.pb.input_schema.get("properties")
        if self.pb.summary is None or not isinstance(properties, dict):
            return  # an input without declared properties may carry any field
        for name in dict.fromkeys(template_fields(self.pb.summary)):
            if name not in properties:
                self.warn("summary-unknown-field", "summary",
                          f"the summary reads {{{name}}}, which is not a field of input"
                          f"{_did_you_mean(name, properties)}; name a property of the input schema")

    def clarity(self, step: Step, clarity: Clarity, produces: dict[str, Any] | None) -> None:
        for answer in ("what", "why", "success", "due"):
            value = getattr(clarity, answer)
            if value is None or (isinstance(value, str) and not value.strip()):
                self.add("clarity-missing", join(join(step.path, "clarity"), answer),
                         f"{step.type} {step.id!r} has no clarity `{answer}`; add {_HINTS[answer]}", step)
        if clarity.success and clarity.success.strip() and not self.observable(clarity.success, produces):
            self.warn("success-not-observable", join(step.path, "clarity.success"),
                      f"nobody can check the success of {step.id!r}; name a field, a number, a time or a "
                      "status (approved, recorded, sent...) in clarity.success", step)

    def observable(self, text: str, produces: dict[str, Any] | None) -> bool:
        """A success text is observable when it has a digit, a duration, a status word or a field name."""
        plain = text.lower().replace("_", " ")
        if re.search(r"\d", plain) or _DURATION_WORDS.search(plain):
            return True
        if _STATUS_WORDS & set(re.findall(r"[a-z]+", plain)):
            return True
        fields = _fields(produces) | _fields(self.pb.input_schema)
        return any(re.search(rf"\b{re.escape(f)}\b", plain) for f in fields if f)

    def expressions(self, step: Step) -> None:
        readable = {s.id for s in self.pb.before(step)}
        checked: list[tuple[Expression | None, str]] = [(step.when, join(step.path, "when"))]
        if isinstance(step, CheckStep):
            checked += [(rule.expr, join(rule.path, "expr")) for rule in step.rules]
        if isinstance(step, DecisionStep):
            checked += [(row.when, join(row.path, "when")) for row in step.authority]
        for expr, path in checked:
            if expr is None or expr.error is not None:
                continue
            try:
                refs = step_references(expr.source)
            except Exception:  # the compiler accepted it; the lint parser may be stricter
                continue
            for ref in sorted(refs - readable):
                self.add("expression-forward-reference", path,
                         f"`{expr.source}` reads step {ref!r}, {self.why_unreadable(step, ref)}; an "
                         f"expression may only read steps that come before {step.id!r} on its path", step)

    def why_unreadable(self, step: Step, ref: str) -> str:
        other = self.pb.by_id.get(ref)
        if other is None:
            return "which does not exist"
        if other.id == step.id:
            return "which is this step itself"
        if other.branch is not None and step.branch is not None and other.top == step.top:
            return "which runs in a sibling branch"
        return "which comes later"

    def send_back_target(self, step: Step, target: str, path: str) -> None:
        other = self.pb.by_id.get(target)
        if other is None:
            problem = "is not a step"
        elif other not in self.pb.before(step):
            problem = f"does not come before {step.id!r} on its path"
        elif not isinstance(other, TaskStep | DecisionStep):
            problem = f"is a {other.type}, and only a task or a decision can be done again"
        else:
            return
        self.add("send-back-target", path, f"send_back target {target!r} {problem}; name an earlier task or "
                 f"decision on the same path", step)

    def check(self, step: CheckStep) -> None:
        if step.on_fail and step.on_fail.send_back:
            self.send_back_target(step, step.on_fail.send_back, join(step.path, "on_fail.send_back"))
        for number, rule in enumerate(step.rules):
            if rule.on_fail and rule.on_fail.send_back:
                self.send_back_target(step, rule.on_fail.send_back, join(rule.path, "on_fail.send_back"))
            effective = rule.on_fail or step.on_fail
            if effective and effective.send_back and _input_only(rule.expr):
                self.warn("check-cannot-recover", rule.path,
                          f"rule {number} of {step.id!r} reads only the run's input, which rework cannot "
                          "change; give it `on_fail: {reject: true}`", step)

    def action(self, step: ActionStep) -> None:
        if (step.owner or "").strip():
            return
        if any(isinstance(s, DecisionStep) and s.rights.execute for s in self.pb.before(step)):
            return
        self.add("action-without-owner", join(step.path, "owner"),
                 f"action {step.id!r} has no owner to handle its failures; set `owner`, or `rights.execute` "
                 "on an earlier decision", step)

    def decision(self, step: DecisionStep) -> None:
        if not step.rights.approve and all(row.when is not None for row in step.authority):
            reason = ("every authority row has a `when`, so when none matches nobody may approve"
                      if step.authority else "nobody may approve it")
            self.add("decision-without-approver", join(step.path, "rights.approve"),
                     f"decision {step.id!r}: {reason}; set rights.approve (or end authority with a row "
                     "without `when`)", step)
        for name, path in self.name_paths(step.separation_of_duties, join(step.path, "separation_of_duties")):
            if name not in self.pb.by_id:
                self.add("sod-unknown-step", path, f"separation_of_duties names {name!r}, which is not a step"
                         f"{_did_you_mean(name, self.pb.by_id)}; list the ids of steps whose actors may not "
                         "decide", step)
        if "send_back" in step.options and not any(isinstance(s, TaskStep | DecisionStep)
                                                   for s in self.pb.before(step)):
            self.add("send-back-target", join(step.path, "options"),
                     f"decision {step.id!r} offers send_back but no task or decision comes before it; "
                     "remove send_back from options", step)
        if step.sla is None or step.sla.due is None:
            self.warn("decision-without-sla", join(step.path, "sla" if step.sla is None else "sla.due"),
                      f"decision {step.id!r} has no SLA; add `sla: {{due: 24h, escalate: [...]}}` so a "
                      "stalled decision is noticed", step)
        approving = {a.name for a in _approvers(step)}
        if not step.separation_of_duties:
            for name, path in self.name_paths(step.rights.recommend, join(step.path, "rights.recommend")):
                if name in approving:
                    self.warn("approver-is-recommender", path,
                              f"{name!r} both recommends and approves {step.id!r}; give recommend to another "
                              "role or list the steps to keep apart in separation_of_duties", step)

    # -------------------------------------------------------------------------------------- actors

    def actors(self, directory: Directory) -> None:
        for name, path in (
            (self.pb.outcome.owner, "outcome.owner"),
            (self.pb.workflow_owner, "workflow_owner"),
        ):
            if not name or not name.strip():
                continue
            if not directory.knows(name):
                people = [a.id for a in directory.actors if not a.is_agent]
                self.add("unknown-actor", path, f"unknown person {name!r}{_did_you_mean(name, people)}; "
                         "name a person from the directory")
            elif not directory.is_person(name):
                kind = "an agent" if directory.is_actor(name) else "a role"
                self.add("owner-not-person", path, f"{path} {name!r} is {kind}; name one accountable person")
        busy: set[str] = set()
        for step, name, path, gets_work in self.references():
            if not directory.knows(name):
                close = _closest(name, directory.names())
                kind = "role or person" if close is None else "role" if directory.is_role(close) else "person"
                hint = f" (did you mean {close!r}?)" if close else ""
                self.add("unknown-actor", path,
                         f"unknown {kind} {name!r}{hint}; name a role or person from the directory", step)
            elif gets_work and name not in busy and directory.is_role(name):
                busy.add(name)
                members = directory.members(name)
                only = directory.get(members[0]) if len(members) == 1 else None
                if only is not None and not only.is_agent and not only.delegate:
                    self.warn("single-point-of-failure", path,
                              f"role {name!r} has one member, {only.id}, with no delegate; add a member to "
                              f"the role or give {only.id} a standing delegate", step)
        for step in self.pb.walk():
            if isinstance(step, DecisionStep):
                self.decision_actors(step, directory)

    def decision_actors(self, step: DecisionStep, directory: Directory) -> None:
        approvers = [a for a in _approvers(step) if directory.knows(a.name)]
        for approver in approvers:
            members = [directory.get(m) for m in directory.members(approver.name)]
            agents = [m for m in members if m is not None and m.is_agent]
            if approver.guarded or not agents:
                continue
            if len(agents) == len(members):
                self.add("agent-only-approver", approver.path,
                         f"only agents are in {approver.name!r}, and an agent may approve only through an "
                         "authority row with `when`; name people, or guard the row", step)
            else:
                self.warn("agent-unguarded-approve", approver.path,
                          f"{approver.name!r} holds agents ({', '.join(a.id for a in agents)}) and people "
                          "without a `when` guard; agents will be skipped: name a people-only role, or "
                          "move the agents behind a guarded authority row", step)
        short = []
        for approver in approvers:
            eligible = [m for m in directory.members(approver.name)
                        if approver.guarded or directory.is_person(m)]
            if eligible and len(eligible) < step.quorum:  # none eligible: agent-only-approver says so
                short.append(f"{approver.name!r} has {len(eligible)}")
        if short:
            self.add("quorum-exceeds-approvers", join(step.path, "quorum"),
                     f"quorum {step.quorum} needs {step.quorum} distinct approvers, but "
                     f"{' and '.join(dict.fromkeys(short))} who may approve; lower the quorum or name a "
                     "larger role", step)
        if step.sla is not None:
            singles = {directory.members(a.name) for a in approvers if len(directory.members(a.name)) == 1}
            owner = self.pb.outcome.owner
            for number, escalation in enumerate(step.sla.escalate):
                target = directory.members(escalation.to)
                path = _escalation_path(step, number)
                if len(target) == 1 and target in singles:
                    instead = "someone else who may approve it" + ("" if target[0] == owner else
                                                                    f", or the outcome owner ({owner})")
                    self.warn("escalation-to-approver", path,
                              f"escalating {step.id!r} to {escalation.to!r} reaches {target[0]}, already its "
                              f"only approver, so the escalation cannot move the decision; escalate to {instead}, "
                              f"or give {target[0]} a delegate", step)
                if escalation.to == owner or not target or not directory.is_person(owner or ""):
                    continue  # without a valid outcome owner, its own error comes first
                below = [a for a in approvers if not set(target) <= set(directory.members(a.name))]
                if below:
                    self.warn("escalation-below-authority", path,
                              f"escalating {step.id!r} to {escalation.to!r} cannot hand it the decision under "
                              f"{', '.join(repr(a.name) + ' at ' + a.path for a in below)}: there it only "
                              "pulls them in; escalate to a role or person who may approve under every row, or "
                              f"to the outcome owner ({owner})", step)

    def references(self) -> Iterator[tuple[Step, str, str, bool]]:
        """(step, name, path, receives work) for every role or person a step names."""
        for step in self.pb.walk():
            if isinstance(step, TaskStep | ActionStep) and step.owner:
                yield step, step.owner, join(step.path, "owner"), True
            if not isinstance(step, DecisionStep):
                continue
            rights = join(step.path, "rights")
            for name, path in self.name_paths(step.rights.recommend, join(rights, "recommend")):
                yield step, name, path, False
            if step.rights.approve:
                yield step, step.rights.approve, join(rights, "approve"), True
            if step.rights.execute:
                yield step, step.rights.execute, join(rights, "execute"), True
            for name, path in self.name_paths(step.rights.inform, join(rights, "inform")):
                yield step, name, path, False
            for row in step.authority:
                yield step, row.approve, join(row.path, "approve"), True
            for number, escalation in enumerate(step.sla.escalate if step.sla else ()):
                yield step, escalation.to, _escalation_path(step, number), True

    def name_paths(self, names: tuple[str, ...], path: str) -> list[tuple[str, str]]:
        """Each name with its own path: `...inform[1]` when written as a list, else the key itself."""
        if isinstance(_raw(self.pb.data, path), list):
            return [(name, join(path, index)) for index, name in enumerate(names)]
        return [(name, path) for name in names]


def _approvers(step: DecisionStep) -> list[_Approver]:
    out = []
    if step.rights.approve:
        out.append(_Approver(step.rights.approve, join(step.path, "rights.approve"), False))
    out += [_Approver(row.approve, join(row.path, "approve"), row.when is not None) for row in step.authority]
    return out


def _escalation_path(step: DecisionStep, number: int) -> str:
    return join(join(join(step.path, "sla.escalate"), number), "to")


def _input_only(expr: Expression) -> bool:
    """True when an expression reads neither `steps` nor `decision`, so rework cannot change its value."""
    if expr.program is None:
        return False
    try:
        variables = {str(v) for v in expr.program.variables()}
    except Exception:  # no introspection: assume rework can change it
        return False
    return not variables & {"steps", "decision"}


def _fields(schema: dict[str, Any] | None) -> set[str]:
    """Top-level field names of an object schema, lower case, `_` read as a space."""
    if not isinstance(schema, dict):
        return set()
    names: list[Any] = []
    if isinstance(schema.get("properties"), dict):
        names += list(schema["properties"])
    if isinstance(schema.get("required"), list):
        names += schema["required"]
    return {n.lower().replace("_", " ").strip() for n in names if isinstance(n, str)}


def _raw(data: Any, path: str) -> Any:
    """The raw value at `path` (`steps[2].rights.inform`), or None."""
    for index, key in _PATH_TOKEN.findall(path):
        if index and isinstance(data, list) and int(index) < len(data):
            data = data[int(index)]
        elif key and isinstance(data, dict):
            data = data.get(key)
        else:
            return None
    return data


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    """The most similar candidate (difflib ratio >= 0.6), to suggest for a typo."""
    matches = difflib.get_close_matches(name, list(candidates), n=1)
    return matches[0] if matches else None


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = _closest(name, candidates)
    return f" (did you mean {close!r}?)" if close else ""

