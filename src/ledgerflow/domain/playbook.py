"""The playbook model (SPEC §3): typed, immutable steps built from parsed YAML or stored JSON.

The loader is lenient where lint can say more: unknown keys, invalid expressions, duplicate step ids
and nested parallel blocks become findings on the playbook; only a shape it cannot read at all
(a step without a type, a list where a mapping belongs) raises `LoadError`. A duration that is not one is a
`load-error` finding at its path, so that one typo does not hide the other findings of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ledgerflow.domain.canonical import digest
from ledgerflow.domain.durations import parse_duration
from ledgerflow.domain.errors import LimitExceeded, LoadError
from ledgerflow.domain.expressions import Expression, compile_expression
from ledgerflow.domain.findings import ERROR, Finding
from ledgerflow.domain.source import Source, join
from ledgerflow.domain.summary import template_fields

STEP_TYPES = ("task", "check", "decision", "action", "parallel")
METRICS = ("throughput", "exception_rate", "rework", "first_pass_yield", "quality_trend",
           "decision_latency_median_hours", "decision_latency_p90_hours", "outcome", "agent_agreement_rate")
_COMMON = {"id", "type", "when"}
_KEYS = {
    "task": _COMMON | {"owner", "routing", "clarity", "produces"},
    "check": _COMMON | {"on_fail", "rules"},
    "decision": _COMMON | {"rights", "authority", "options", "rationale", "separation_of_duties", "quorum",
                           "clarity", "sla"},
    "action": _COMMON | {"owner", "action", "clarity", "produces"},
    "parallel": _COMMON | {"branches"},
}
_TOP_KEYS = {"id", "title", "outcome", "workflow_owner", "input", "steps", "governance", "description", "summary",
             "retention"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Clarity:
    what: str | None = None
    why: str | None = None
    success: str | None = None
    due: timedelta | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OnFail:
    """What a failed check does: send the run back to a step, or reject it."""

    send_back: str | None = None
    reject: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    expr: Expression
    message: str
    on_fail: OnFail | None
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorityRow:
    when: Expression | None
    approve: str
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Rights:
    recommend: tuple[str, ...] = ()
    approve: str | None = None
    execute: str | None = None
    inform: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Escalation:
    after: timedelta
    to: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Sla:
    due: timedelta | None = None
    nudge: tuple[timedelta, ...] = ()
    escalate: tuple[Escalation, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """Fields every step has. `top` is its index among the playbook's steps; inside a parallel block
    `branch` and `index` place it in its branch."""

    id: str
    path: str
    when: Expression | None
    top: int
    branch: int | None = None
    index: int = 0

    @property
    def type(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStep(Step):
    owner: str | None
    routing: str = "least-loaded"
    clarity: Clarity = field(default_factory=Clarity)
    produces: dict[str, Any] | None = None
    validator: Any = field(default=None, compare=False, repr=False)

    @property
    def type(self) -> str:
        return "task"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckStep(Step):
    rules: tuple[Rule, ...] = ()
    on_fail: OnFail | None = None

    @property
    def type(self) -> str:
        return "check"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionStep(Step):
    rights: Rights = field(default_factory=Rights)
    authority: tuple[AuthorityRow, ...] = ()
    options: tuple[str, ...] = ("approve", "reject")
    rationale_required: bool = True
    separation_of_duties: tuple[str, ...] = ()
    quorum: int = 1
    clarity: Clarity = field(default_factory=Clarity)
    sla: Sla | None = None

    @property
    def type(self) -> str:
        return "decision"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionStep(Step):
    owner: str | None
    action: dict[str, Any] = field(default_factory=dict)
    clarity: Clarity = field(default_factory=Clarity)
    produces: dict[str, Any] | None = None
    validator: Any = field(default=None, compare=False, repr=False)

    @property
    def type(self) -> str:
        return "action"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParallelStep(Step):
    branches: tuple[tuple[Step, ...], ...] = ()

    @property
    def type(self) -> str:
        return "parallel"


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    metric: str
    above: float | None = None
    below: float | None = None
    min_runs: int = 5
    decisions: int = 20
    """For `agent_agreement_rate`: how many of an agent's latest judged recommendations at a step are read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Governance:
    cadence: str | None = None
    wip_limit_when_stabilizing: int | None = None
    triggers: tuple[Trigger, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeMetric:
    """The outcome measure as a number recorded per period (SPEC §12), and which way is better."""

    name: str
    unit: str | None
    target: float
    direction: str
    """`up`: on target at or above `target`; `down`: at or below it."""

    def on_target(self, value: float) -> bool:
        return value >= self.target if self.direction == "up" else value <= self.target


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    owner: str | None = None
    statement: str | None = None
    measure: str | None = None
    metric: OutcomeMetric | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Playbook:
    """One playbook definition. `issues` holds what the loader found wrong without giving up."""

    id: str
    title: str
    outcome: Outcome
    workflow_owner: str | None
    input_schema: dict[str, Any]
    steps: tuple[Step, ...]
    governance: Governance
    summary: str | None = None
    """The summary template (SPEC §12): `{field}` placeholders over the run's input."""
    retention: timedelta | None = None
    """How long a run's documents are kept after the run ends (`retention: {attachments: 365d}`); None: for
    ever. Removal takes the bytes only: the events keep every document's name and hash."""
    data: dict[str, Any] = field(compare=False, repr=False)
    source: Source = field(compare=False, repr=False)
    issues: tuple[Finding, ...] = ()
    input_validator: Any = field(default=None, compare=False, repr=False)
    by_id: dict[str, Step] = field(default_factory=dict, compare=False, repr=False)

    @property
    def content_hash(self) -> str:
        """Digest of the canonical content: identical content is the same version."""
        return digest(self.data)

    def walk(self) -> Iterator[Step]:
        """Every step in written order, parallel blocks before their branches' steps."""
        return _walk_steps(self.steps)

    def step(self, step_id: str) -> Step:
        return self.by_id[step_id]

    def action_owner(self, step: ActionStep) -> str | None:
        """An action's owner, else the `execute` right of the nearest earlier decision."""
        if step.owner:
            return step.owner
        for earlier in reversed(self.before(step)):
            if isinstance(earlier, DecisionStep) and earlier.rights.execute:
                return earlier.rights.execute
        return None

    def before(self, step: Step) -> tuple[Step, ...]:
        """The steps that come before `step` on its path (never a sibling branch)."""
        earlier: list[Step] = []
        for top in self.steps[: step.top]:
            earlier.append(top)
            if isinstance(top, ParallelStep):
                for branch in top.branches:
                    earlier.extend(branch)
        if step.branch is not None:
            block = self.steps[step.top]
            if isinstance(block, ParallelStep):
                earlier.extend(block.branches[step.branch][: step.index])
        return tuple(earlier)


class _Reader:
    """Builds a playbook from a Source, collecting findings as it goes."""

    def __init__(self, source: Source):
        self.source = source
        self.issues: list[Finding] = []
        self.playbook_id: str | None = None
        self.unreadable: set[str] = set()
        """Paths of values reported as unreadable; lint does not report them again as missing."""

    def finding(self, rule: str, path: str, message: str, step: str | None = None) -> None:
        self.issues.append(Finding(playbook=self.playbook_id, step=step, rule=rule, severity=ERROR,
                                   message=message, file=self.source.file, line=self.source.line(path),
                                   path=path))

    def fail(self, path: str, message: str) -> LoadError:
        prefix = f"{path}: " if path else ""
        return LoadError(prefix + message, file=self.source.file, line=self.source.line(path), path=path)

    def keys(self, value: dict[str, Any], allowed: set[str], path: str, step: str | None = None) -> None:
        for key in value:
            if key not in allowed:
                self.finding("unknown-key", join(path, key),
                             f"unknown key {key!r}; remove it or use one of: {', '.join(sorted(allowed))}", step)

    def mapping(self, value: Any, path: str, what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"{what} must be a mapping")
        return value

    def items(self, value: Any, path: str, what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"{what} must be a list")
        return value

    def text(self, value: Any, path: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(path, "must be text")
        return str(value)

    def names(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise self.fail(path, "must be a name or a list of names")

    def duration(self, value: Any, path: str) -> timedelta | None:
        if value is None:
            return None
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.finding("load-error", path, str(exc))
            self.unreadable.add(path)
            return None
        except LimitExceeded as exc:
            where = self.fail(path, exc.message)
            raise LimitExceeded(where.message, rule=exc.rule, details=where.details) from None

    def expression(self, value: Any, path: str, step: str | None) -> Expression | None:
        if value is None:
            return None
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise self.fail(path, "an expression is CEL text")
        compiled = compile_expression(value)
        if compiled.error:
            self.finding("expression-invalid", path, f"`{value}` is not valid CEL: {compiled.error}", step)
        return compiled

    def schema(self, value: Any, path: str) -> tuple[dict[str, Any] | None, Any]:
        if value is None:
            return None, None
        if not isinstance(value, dict):
            raise self.fail(path, "a JSON Schema (draft 2020-12) mapping is expected")
        from jsonschema import Draft202012Validator, FormatChecker  # a third of a second: only when a playbook loads
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            raise self.fail(path, f"not a valid JSON Schema at {where or 'the root'}: {exc.message}") from None
        return value, Draft202012Validator(value, format_checker=FormatChecker())

    def clarity(self, value: Any, path: str) -> Clarity:
        data = self.mapping(value, path, "clarity")
        self.keys(data, {"what", "why", "success", "due"}, path)
        return Clarity(what=self.text(data.get("what"), join(path, "what")),
                       why=self.text(data.get("why"), join(path, "why")),
                       success=self.text(data.get("success"), join(path, "success")),
                       due=self.duration(data.get("due"), join(path, "due")))

    def on_fail(self, value: Any, path: str, step: str) -> OnFail | None:
        if value is None:
            return None
        data = self.mapping(value, path, "on_fail")
        self.keys(data, {"send_back", "reject"}, path, step)
        send_back = self.text(data.get("send_back"), join(path, "send_back"))
        reject = data.get("reject") is True
        if (send_back is None) == (not reject):
            raise self.fail(path, "on_fail is {send_back: STEP} or {reject: true}")
        return OnFail(send_back=send_back, reject=reject)

    def steps(self, value: Any, path: str, top: int | None, branch: int | None,
              seen: set[str]) -> tuple[Step, ...]:
        if not isinstance(value, list):
            raise self.fail(path, "steps must be a list")
        out = []
        for index, raw in enumerate(value):
            step_path = join(path, index)
            position = (top if top is not None else index, branch, index if branch is not None else 0)
            out.append(self.step(raw, step_path, position, seen))
        return tuple(out)

    def step(self, raw: Any, path: str, position: tuple[int, int | None, int], seen: set[str]) -> Step:
        if not isinstance(raw, dict):
            raise self.fail(path, "each step is a mapping with `id` and `type`")
        step_id = raw.get("id")
        if not isinstance(step_id, str) or not step_id:
            raise self.fail(join(path, "id"), "every step needs an id")
        kind = raw.get("type")
        if kind not in STEP_TYPES:
            raise self.fail(join(path, "type"), f"type must be one of {', '.join(STEP_TYPES)}, not {kind!r}")
        if step_id in seen:
            self.finding("duplicate-step-id", join(path, "id"),
                         f"step id {step_id!r} is used more than once; step ids are unique across the playbook",
                         step_id)
        seen.add(step_id)
        self.keys(raw, _KEYS[kind], path, step_id)
        top, branch, index = position
        common: dict[str, Any] = {"id": step_id, "path": path, "top": top, "branch": branch, "index": index,
                                  "when": self.expression(raw.get("when"), join(path, "when"), step_id)}
        if kind == "task":
            produces, validator = self.schema(raw.get("produces"), join(path, "produces"))
            routing = raw.get("routing", "least-loaded")
            if routing not in ("least-loaded", "round-robin"):
                raise self.fail(join(path, "routing"), "routing is least-loaded or round-robin")
            return TaskStep(**common, owner=self.text(raw.get("owner"), join(path, "owner")), routing=routing,
                            clarity=self.clarity(raw.get("clarity"), join(path, "clarity")),
                            produces=produces, validator=validator)
        if kind == "check":
            rules = []
            raw_rules = raw.get("rules") or []
            if not isinstance(raw_rules, list):
                raise self.fail(join(path, "rules"), "rules is a list of {expr, message, on_fail}")
            for number, rule in enumerate(raw_rules):
                rule_path = join(join(path, "rules"), number)
                data = self.mapping(rule, rule_path, "a rule")
                self.keys(data, {"expr", "message", "on_fail"}, rule_path, step_id)
                expr = self.expression(data.get("expr"), join(rule_path, "expr"), step_id)
                if expr is None:
                    raise self.fail(rule_path, "a rule needs an `expr`")
                rules.append(Rule(expr=expr, message=self.text(data.get("message"), join(rule_path, "message"))
                                  or f"check rule failed: {expr.source}",
                                  on_fail=self.on_fail(data.get("on_fail"), join(rule_path, "on_fail"), step_id),
                                  path=rule_path))
            return CheckStep(**common, rules=tuple(rules),
                             on_fail=self.on_fail(raw.get("on_fail"), join(path, "on_fail"), step_id))
        if kind == "decision":
            return self.decision(raw, path, common)
        if kind == "action":
            produces, validator = self.schema(raw.get("produces"), join(path, "produces"))
            action = self.mapping(raw.get("action"), join(path, "action"), "action")
            self.keys(action, {"webhook", "secret_env", "callable"}, join(path, "action"), step_id)
            if ("webhook" in action) == ("callable" in action):
                raise self.fail(join(path, "action"), "an action is {webhook: URL, secret_env: VAR} or "
                                "{callable: 'module:function'}")
            return ActionStep(**common, owner=self.text(raw.get("owner"), join(path, "owner")), action=action,
                              clarity=self.clarity(raw.get("clarity"), join(path, "clarity")),
                              produces=produces, validator=validator)
        branches_raw = raw.get("branches")
        if not isinstance(branches_raw, list) or not branches_raw:
            raise self.fail(join(path, "branches"), "a parallel step has a list of branches, each a list of steps")
        branches = []
        for number, branch_raw in enumerate(branches_raw):
            branch_path = join(join(path, "branches"), number)
            if position[1] is not None:
                break
            for inner_index, inner in enumerate(branch_raw if isinstance(branch_raw, list) else []):
                if isinstance(inner, dict) and inner.get("type") == "parallel":
                    self.finding("nested-parallel", join(branch_path, inner_index),
                                 "parallel blocks cannot be nested; flatten the inner block into branches",
                                 str(inner.get("id")))
            flat = [s for s in (branch_raw if isinstance(branch_raw, list) else [])
                    if not (isinstance(s, dict) and s.get("type") == "parallel")]
            branches.append(self.steps(flat, branch_path, top, number, seen))
        return ParallelStep(**common, branches=tuple(branches))

    def decision(self, raw: dict[str, Any], path: str, common: dict[str, Any]) -> DecisionStep:
        step_id = common["id"]
        rights_raw = self.mapping(raw.get("rights"), join(path, "rights"), "rights")
        self.keys(rights_raw, {"recommend", "approve", "execute", "inform"}, join(path, "rights"), step_id)
        rights = Rights(recommend=self.names(rights_raw.get("recommend"), join(path, "rights.recommend")),
                        approve=self.text(rights_raw.get("approve"), join(path, "rights.approve")),
                        execute=self.text(rights_raw.get("execute"), join(path, "rights.execute")),
                        inform=self.names(rights_raw.get("inform"), join(path, "rights.inform")))
        rows = []
        raw_rows = raw.get("authority") or []
        if not isinstance(raw_rows, list):
            raise self.fail(join(path, "authority"), "authority is a list of {when, approve} rows")
        for number, row in enumerate(raw_rows):
            row_path = join(join(path, "authority"), number)
            data = self.mapping(row, row_path, "an authority row")
            self.keys(data, {"when", "approve"}, row_path, step_id)
            approve = self.text(data.get("approve"), join(row_path, "approve"))
            if not approve:
                raise self.fail(row_path, "an authority row names who may `approve`")
            rows.append(AuthorityRow(when=self.expression(data.get("when"), join(row_path, "when"), step_id),
                                     approve=approve, path=row_path))
        options = self.names(raw.get("options"), join(path, "options")) or ("approve", "reject")
        bad = [o for o in options if o not in ("approve", "reject", "send_back")]
        if bad:
            raise self.fail(join(path, "options"), f"options are approve, reject and send_back, not {bad[0]!r}")
        rationale = raw.get("rationale", "required")
        if rationale not in ("required", "optional"):
            raise self.fail(join(path, "rationale"), "rationale is required or optional")
        quorum = raw.get("quorum", 1)
        if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 1:
            raise self.fail(join(path, "quorum"), "quorum is a positive whole number")
        sla = None
        if raw.get("sla") is not None:
            sla_path = join(path, "sla")
            sla_raw = self.mapping(raw["sla"], sla_path, "sla")
            self.keys(sla_raw, {"due", "nudge", "escalate"}, sla_path, step_id)
            nudges = sla_raw.get("nudge") or []
            if not isinstance(nudges, list):
                nudges = [nudges]
            escalations = []
            for number, item in enumerate(self.items(sla_raw.get("escalate"), join(sla_path, "escalate"), "escalate")):
                item_path = join(join(sla_path, "escalate"), number)
                data = self.mapping(item, item_path, "an escalation")
                self.keys(data, {"after", "to"}, item_path, step_id)
                after = self.duration(data.get("after"), join(item_path, "after"))
                target = self.text(data.get("to"), join(item_path, "to"))
                if join(item_path, "after") in self.unreadable:
                    continue
                if after is None or not target:
                    raise self.fail(item_path, "an escalation is {after: DURATION, to: PERSON_OR_ROLE}")
                escalations.append(Escalation(after=after, to=target))
            sla = Sla(due=self.duration(sla_raw.get("due"), join(sla_path, "due")),
                      nudge=tuple(d for n, v in enumerate(nudges)
                                  if (d := self.duration(v, join(join(sla_path, "nudge"), n))) is not None),
                      escalate=tuple(escalations))
        return DecisionStep(**common, rights=rights, authority=tuple(rows), options=options,
                            rationale_required=rationale == "required",
                            separation_of_duties=self.names(raw.get("separation_of_duties"),
                                                            join(path, "separation_of_duties")),
                            quorum=quorum, clarity=self.clarity(raw.get("clarity"), join(path, "clarity")), sla=sla)

    def metric(self, value: Any) -> OutcomeMetric | None:
        if value is None:
            return None
        path = "outcome.metric"
        data = self.mapping(value, path, "outcome.metric")
        self.keys(data, {"name", "unit", "target", "direction"}, path)
        name = self.text(data.get("name"), join(path, "name"))
        target = data.get("target")
        direction = data.get("direction", "up")
        if not name or not isinstance(target, int | float) or isinstance(target, bool) \
                or direction not in ("up", "down"):
            raise self.fail(path, "outcome.metric is {name: TEXT, unit: TEXT, target: NUMBER, direction: up|down}")
        return OutcomeMetric(name=name, unit=self.text(data.get("unit"), join(path, "unit")), target=float(target),
                             direction=direction)

    def governance(self, value: Any) -> Governance:
        data = self.mapping(value, "governance", "governance")
        self.keys(data, {"cadence", "wip_limit_when_stabilizing", "triggers"}, "governance")
        cadence = data.get("cadence")
        if cadence not in (None, "weekly", "none"):
            raise self.fail("governance.cadence", "cadence is weekly (or none)")
        wip = data.get("wip_limit_when_stabilizing")
        if wip is not None and (not isinstance(wip, int) or isinstance(wip, bool) or wip < 1):
            raise self.fail("governance.wip_limit_when_stabilizing", "the WIP limit is a positive whole number")
        triggers = []
        for number, item in enumerate(self.items(data.get("triggers"), "governance.triggers", "triggers")):
            path = join("governance.triggers", number)
            raw = self.mapping(item, path, "a trigger")
            self.keys(raw, {"metric", "above", "below", "min_runs", "decisions"}, path)
            metric = raw.get("metric")
            if metric not in METRICS:
                raise self.fail(join(path, "metric"), f"metric is one of {', '.join(METRICS)}")
            above, below = raw.get("above"), raw.get("below")
            if metric == "agent_agreement_rate" and above is None and below is None:
                below = 0.9  # the documented default: a review when an agent agrees in fewer than 9 of 10
            if (above is None) == (below is None) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in (above, below) if v is not None):
                raise self.fail(path, "a trigger has a number for exactly one of `above` and `below`")
            min_runs = raw.get("min_runs", 5)
            if not isinstance(min_runs, int) or isinstance(min_runs, bool) or min_runs < 0:
                raise self.fail(join(path, "min_runs"), "min_runs is a whole number")
            decisions = raw.get("decisions", 20)
            if metric == "agent_agreement_rate" and below is None:
                raise self.fail(path, "an agent_agreement_rate trigger fires `below` a share (e.g. 0.9)")
            if "decisions" in raw and metric != "agent_agreement_rate":
                raise self.fail(join(path, "decisions"), "`decisions` belongs to agent_agreement_rate triggers")
            if not isinstance(decisions, int) or isinstance(decisions, bool) or decisions < 1:
                raise self.fail(join(path, "decisions"), "decisions is a positive whole number")
            triggers.append(Trigger(metric=metric, above=above, below=below, min_runs=min_runs, decisions=decisions))
        return Governance(cadence=None if cadence == "none" else cadence, wip_limit_when_stabilizing=wip,
                          triggers=tuple(triggers))


def load_playbook(source: Source) -> Playbook:
    """Build a playbook from parsed YAML (or stored JSON wrapped in a Source).

    Raises:
        LoadError: the document cannot be read as a playbook; names the line and the path.
    """
    reader = _Reader(source)
    data = source.data
    if not isinstance(data, dict):
        raise reader.fail("", "a playbook is a mapping with id, title, outcome, workflow_owner and steps")
    playbook_id = data.get("id")
    if not isinstance(playbook_id, str) or not playbook_id:
        raise reader.fail("id", "a playbook needs an `id`")
    reader.playbook_id = playbook_id
    reader.keys(data, _TOP_KEYS, "")
    outcome_raw = reader.mapping(data.get("outcome"), "outcome", "outcome")
    reader.keys(outcome_raw, {"owner", "statement", "measure", "metric"}, "outcome")
    outcome = Outcome(owner=reader.text(outcome_raw.get("owner"), "outcome.owner"),
                      statement=reader.text(outcome_raw.get("statement"), "outcome.statement"),
                      measure=reader.text(outcome_raw.get("measure"), "outcome.measure"),
                      metric=reader.metric(outcome_raw.get("metric")))
    summary = reader.text(data.get("summary"), "summary")
    if summary is not None:
        try:
            template_fields(summary)
        except ValueError as exc:
            raise reader.fail("summary", str(exc)) from None
    input_schema, input_validator = reader.schema(data.get("input") or {"type": "object"}, "input")
    if "steps" not in data or not data["steps"]:
        raise reader.fail("steps", "a playbook needs at least one step")
    steps = reader.steps(data["steps"], "steps", None, None, set())
    by_id: dict[str, Step] = {}
    for step in _walk_steps(steps):
        by_id.setdefault(step.id, step)
    governance = reader.governance(data.get("governance"))
    for number, trigger in enumerate(governance.triggers):
        if trigger.metric == "outcome" and outcome.metric is None:
            raise reader.fail(join(join("governance.triggers", number), "metric"),
                              "a trigger on `outcome` needs outcome.metric: {name, unit, target, direction}")
    retention_raw = reader.mapping(data.get("retention"), "retention", "retention")
    reader.keys(retention_raw, {"attachments"}, "retention")
    retention = reader.duration(retention_raw.get("attachments"), "retention.attachments")
    return Playbook(id=playbook_id, title=reader.text(data.get("title"), "title") or playbook_id,
                    outcome=outcome, workflow_owner=reader.text(data.get("workflow_owner"), "workflow_owner"),
                    input_schema=input_schema or {}, steps=steps, governance=governance, summary=summary, data=data,
                    retention=retention,
                    source=source, issues=tuple(reader.issues), input_validator=input_validator, by_id=by_id)


def _walk_steps(steps: tuple[Step, ...]) -> Iterator[Step]:
    for step in steps:
        yield step
        if isinstance(step, ParallelStep):
            for branch in step.branches:
                yield from branch
