"""Request and response models of the REST API, and their conversion from the domain's dataclasses."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledgerflow.domain.attachments import shown
from ledgerflow.domain.runs import RunState, TaskState
from ledgerflow.domain.times import display_time
from ledgerflow.engine.api_queries import TaskContext
from ledgerflow.reporting.timeline import describe


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------- requests


Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$", description="A document uploaded with POST /attachments.")]
Attachments = Annotated[list[Sha256], Field(default_factory=list, max_length=100, description=(
    "Documents to attach, by the SHA-256 `POST /attachments` answered (your own uploads)."))]


class StartRunIn(_In):
    playbook: str
    input: dict[str, Any]
    why: str | None = None
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)  # the largest version a database column holds
    attachments: Attachments


class CancelIn(_In):
    reason: str


class CompleteIn(_In):
    output: dict[str, Any] | None = None
    attachments: Attachments


class HoldIn(_In):
    reason: str = Field(description="Why the hold is placed or lifted (a matter, a request).")


class HoldOut(BaseModel):
    run: str
    held: bool = Field(description="Under a legal hold: retention removes none of the run's documents.")


class AttachmentOut(BaseModel):
    """A document attached to a run (SPEC §14): fetch its bytes with GET /attachments/{sha256}."""

    name: str
    sha256: str
    size: int
    media_type: str = Field(description="Detected from the content when it was attached.")
    actor: str = Field(description="Who attached it.")
    at: str | None
    task: str | None = Field(description="The task it was completed with; null: attached when the run started.")
    step: str | None
    inline: bool = Field(description="Whether it may be shown inline (PDF and images).")
    removed_at: str | None = Field(description="When retention removed its bytes; the hash remains.")


class Uploaded(BaseModel):
    """A document stored by its SHA-256; refer to it in `attachments` of a run start or a completion."""

    name: str
    sha256: str
    size: int
    media_type: str


class DecideIn(_In):
    outcome: str = Field(examples=["approve"])
    rationale: str | None = None
    to: str | None = Field(default=None, description="The send_back target step.")


class RecommendIn(_In):
    outcome: str
    rationale: str


class ReassignIn(_In):
    to: str
    reason: str


class FollowUpIn(_In):
    text: str
    owner: str
    due: str = Field(examples=["1w"])


class OutcomeIn(_In):
    period: str = Field(description="An ISO week like 2026-W10.")
    value: float = Field(allow_inf_nan=False)
    note: str | None = None


class GovernanceIn(_In):
    decision: Literal["continue", "stabilize", "pause", "stop"]
    rationale: str
    follow_ups: list[FollowUpIn] = Field(default_factory=list)


class AutonomyIn(_In):
    """An owner's decision on what an agent may decide at a decision step (SPEC §11)."""

    agent: str = Field(description="The agent.", examples=["intake-bot"])
    step: str = Field(description="The decision step.", examples=["triage"])
    change: Literal["limit", "withdraw", "restore"] = Field(
        description="`limit`: the new bound of the agent's guarded row (`QUANTITY <= BOUND`), wider or narrower; "
                    "`withdraw`: the agent decides nothing at the step; `restore`: the guard as written.")
    limit: float | None = Field(default=None, description="With `change: limit`: the new bound.", examples=[5000])
    rationale: str = Field(description="Why; recorded with the agent's scorecard of the moment.")


# ------------------------------------------------------------------------------------------ responses


class TaskOut(BaseModel):
    """The task object of SPEC §6, with its full detail."""

    task: str
    run: str | None
    playbook: str
    step: str
    type: str
    status: str
    assignee: str | None
    ready_at: str | None
    due_at: str | None
    sla_due_at: str | None
    attempt: int
    seat: int
    on_behalf_of: str | None
    blocked: bool
    escalated: bool
    started_at: str | None
    ended_at: str | None
    outcome: str | None
    rationale: str | None
    output: dict[str, Any] | None
    approver: str | None
    data_hash: str | None
    error: str | None
    note: str | None
    summary: str | None = Field(default=None, description="What the run is about, from the playbook's "
                                "summary template (SPEC §12); null where none is declared or not shown.")

    @classmethod
    def of(cls, t: TaskState, summary: str | None = None) -> TaskOut:
        return cls(task=t.id, run=t.run, playbook=t.playbook, step=t.step, type=t.type, status=str(t.status),
                   assignee=t.assignee, ready_at=display_time(t.ready_at), due_at=display_time(t.due_at),
                   sla_due_at=display_time(t.sla_due_at), attempt=t.attempt, seat=t.seat,
                   on_behalf_of=t.on_behalf_of, blocked=t.blocked, escalated=t.escalated,
                   started_at=display_time(t.started_at), ended_at=display_time(t.ended_at), outcome=t.outcome,
                   rationale=t.rationale, output=t.output, approver=t.approver, data_hash=t.data_hash,
                   error=t.error, note=t.note, summary=summary)


class RunRef(BaseModel):
    run: str
    status: str


class RunOut(BaseModel):
    run: str
    playbook: str
    version: int
    status: str
    started_by: str
    started_at: str | None
    ended_at: str | None

    @classmethod
    def of(cls, r: RunState | Any) -> RunOut:
        return cls(run=r.id, playbook=r.playbook, version=r.version, status=str(r.status), started_by=r.started_by,
                   started_at=display_time(r.started_at), ended_at=display_time(r.ended_at))


class RunStarted(BaseModel):
    run: str
    status: str
    tasks: list[TaskOut] = Field(description="The run's open tasks.")


class EventOut(BaseModel):
    """One entry of the audit log, as the timeline shows it."""

    seq: int
    at: str | None
    type: str
    actor: str
    channel: str
    task: str | None
    step: str | None
    authority: dict[str, Any]
    data: dict[str, Any]
    text: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> EventOut:
        return cls(seq=row["seq"], at=display_time(row["at"]), type=row["type"], actor=row["actor"],
                   channel=row["channel"], task=row["task"], step=row["step"], authority=row["authority"] or {},
                   data=row["data"] or {}, text=describe(row))


class RunDetail(RunOut):
    input: dict[str, Any]
    why: str | None
    tasks: list[TaskOut]
    attachments: list[AttachmentOut]
    held: bool = Field(description="Under a legal hold: retention removes none of its documents.")
    timeline: list[EventOut]

    @classmethod
    def of_run(cls, r: RunState, events: list[dict[str, Any]]) -> RunDetail:
        return cls(**RunOut.of(r).model_dump(), input=r.input, why=r.why, tasks=[TaskOut.of(t) for t in r.tasks],
                   attachments=[AttachmentOut(**a) for a in shown(r.attachments)], held=r.held,
                   timeline=[EventOut.of(e) for e in events])


class RunPage(BaseModel):
    items: list[RunOut]
    next: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


class EventPage(BaseModel):
    items: list[EventOut]
    next: int | None = Field(description="Pass as `after` for the next page; null when none is left now.")


class TaskResult(BaseModel):
    """What a task command answers: the task, its run, and the tasks the command opened."""

    task: TaskOut
    run: RunRef | None
    opened: list[TaskOut]

    @classmethod
    def of(cls, result: dict[str, Any]) -> TaskResult:
        run = result["run"]
        return cls(task=TaskOut.of(result["task"]),
                   run=RunRef(run=run.id, status=str(run.status)) if run is not None else None,
                   opened=[TaskOut.of(t) for t in result["opened"]])


class Clarity(BaseModel):
    what: str | None
    why: str | None
    success: str | None
    owner: str | None
    due: str | None = Field(description="The review duration, e.g. 1d.")
    due_at: str | None


class SlaClock(BaseModel):
    now: str | None = Field(description="The database clock (simulated or real).")
    ready_at: str | None
    due_at: str | None
    sla_due_at: str | None
    hours_to_due: float | None
    hours_to_sla: float | None
    overdue: bool
    sla_breached: bool
    nudges: list[str | None]
    nudges_sent: int
    escalations: list[dict[str, Any]]
    escalated: bool


class TaskContextOut(BaseModel):
    """A task with everything needed to act on it. For a guest, only the task, clarity, produces and clock."""

    task: TaskOut
    run: RunOut | None
    guest: bool
    why: str | None = Field(None, description="The run's `why`: what its starter said it is for.")
    input: dict[str, Any] | None
    earlier_outputs: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    clarity: Clarity
    rights: dict[str, Any] | None
    produces: dict[str, Any] | None = Field(description="The JSON Schema the output must meet.")
    sla: SlaClock
    data_hash: str | None = Field(description="For a decision: the hash of the data under decision now.")
    you_may: list[str] = Field(description="What the caller may try now: start, complete, decide, recommend, "
                                           "reassign (a hint; the engine decides).")
    attachments: list[AttachmentOut] = Field(description="The run's documents (a guest: its own task's).")

    @classmethod
    def of(cls, c: TaskContext) -> TaskContextOut:
        return cls(task=TaskOut.of(c.task, c.summary), run=RunOut.of(c.run) if c.run is not None else None,
                   guest=c.guest, why=c.why, input=c.input, earlier_outputs=c.earlier_outputs,
                   recommendations=c.recommendations,
                   decisions=c.decisions, clarity=Clarity(**c.clarity), rights=c.rights, produces=c.produces,
                   sla=SlaClock(**c.sla), data_hash=c.data_hash, you_may=c.you_may,
                   attachments=[AttachmentOut(**a) for a in c.attachments])


class PlaybookSummary(BaseModel):
    playbook: str
    version: int
    versions: int
    title: str
    workflow_owner: str | None
    outcome_owner: str | None
    governance: str


class PlaybookOut(BaseModel):
    playbook: str
    version: int
    title: str
    content_hash: str
    published_at: str | None
    published_by: str
    governance: str
    definition: dict[str, Any]
    source: str


class FindingOut(BaseModel):
    playbook: str | None
    step: str | None
    rule: str
    severity: str
    message: str
    file: str | None
    line: int | None
    path: str


class LintOut(BaseModel):
    ok: bool = Field(description="False when a finding has severity error.")
    findings: list[FindingOut]


class Published(BaseModel):
    playbook: str
    version: int
    created: bool
    findings: list[FindingOut]


class VerifyOut(BaseModel):
    ok: bool
    events: int
    first_bad: dict[str, Any] | None


class Latency(BaseModel):
    median_hours: float | None
    p90_hours: float | None


class ChannelLatency(BaseModel):
    decided: int
    median_hours: float | None
    p90_hours: float | None


class OutcomeBlock(BaseModel):
    name: str
    unit: str | None
    target: float
    direction: str
    value: float | None
    on_target: bool | None


class ScorecardOut(BaseModel):
    playbook: str
    period: str
    throughput: int
    exception_rate: float | None
    rework: int
    decision_latency: Latency
    first_pass_yield: float | None
    quality_trend: float | None
    outcome: OutcomeBlock | None = Field(default=None, description="The outcome measure and the period's value "
                                         "(SPEC §12); null where the playbook declares no outcome.metric.")
    latency_by_channel: dict[str, ChannelLatency] | None = Field(
        default=None, description="With `by_channel=true`: decision latency per channel decisions were taken "
                                  "through (web, api, cli, mcp, email, slack); channels without decisions are "
                                  "left out.")


class OutcomeOut(BaseModel):
    """A recorded outcome value, and the governance reviews its triggers opened."""

    playbook: str
    period: str
    metric: str
    value: float
    note: str | None
    recorded_by: str
    recorded_at: str | None
    authority: dict[str, Any]
    reviews: list[str]
    outcome: OutcomeBlock


class GovernanceOut(BaseModel):
    playbook: str
    decision: str
    decided_by: str
    decided_at: str | None
    scorecard: ScorecardOut
    closed: list[str] = Field(description="The review tasks this decision closed.")
    follow_ups: list[str] = Field(description="The follow-up tasks it opened.")


class StalledOut(BaseModel):
    task: str
    run: str | None
    playbook: str
    summary: str | None = None
    step: str
    assignee: str | None
    due_at: str | None
    overdue_hours: float
    blocked: bool
    type: str
    status: str


class WaitingOut(BaseModel):
    """One row of `report waiting` (SPEC §12): an open run's open task, whom it waits on and since when."""

    run: str
    playbook: str
    summary: str | None
    step: str
    task: str
    waiting_on: str | None
    since: str | None
    waiting_hours: float
    overdue: bool
    blocked: bool
    due_at: str | None


class AutonomyOut(BaseModel):
    """What an agent may decide at a decision step now (SPEC §11)."""

    row: int = Field(description="The agent's guarded authority row at the step (0-based).")
    guard: str | None = Field(description="The row's guard as the playbook writes it.")
    written_limit: float | None = Field(description="The bound the guard writes, if it has the form QUANTITY <= N.")
    limit: float | None = Field(description="The bound in force: the owners' limit, else the written one.")
    withdrawn: bool
    changed: bool = Field(description="Whether an owners' decision is in force (false as written or restored).")
    decided_by: str | None = Field(description="Who took the latest decision on it; null if nobody yet.")
    decided_at: str | None
    rationale: str | None


class AgentAutonomyOut(AutonomyOut):
    agent: str
    playbook: str
    step: str


class AutonomyChangeOut(BaseModel):
    """The decision as recorded, with the agent's scorecard that informed it and the decisions it moved on."""

    playbook: str
    step: str
    agent: str
    change: str
    limit: float | None
    withdrawn: bool
    decided_by: str
    decided_at: str | None
    rationale: str
    seq: int = Field(description="The `governance.autonomy_changed` event.")
    scorecard: list[dict[str, Any]] = Field(description="`report agents` rows of the agent on this playbook.")
    moved: list[str] = Field(description="Open decisions the agent may no longer take, moved on at once.")


class AgentScoreOut(BaseModel):
    """One agent at one decision step (SPEC §11): how its recommendations and decisions held up."""

    agent: str
    playbook: str
    step: str
    recommendations: int
    agreed: int
    overridden: int
    agreement_rate: float | None = Field(description="agreed / (agreed + overridden); null before any decision.")
    decisions: int
    decisions_reversed: int
    autonomy: AutonomyOut | None = Field(default=None, description="What it may decide there now; null when it "
                                                                   "holds no guarded authority row at the step.")


class ClarityReport(BaseModel):
    findings: list[dict[str, Any]]
    gaps: list[dict[str, Any]]


# ------------------------------------------------------------------------------------ approval grants


class ApprovalIn(_In):
    playbook: str = Field(examples=["agent-action-approval"])
    action: str = Field(examples=["refund"])
    arguments: dict[str, Any]
    reason: str


class ConsumeIn(_In):
    arguments: dict[str, Any] = Field(description="The exact arguments the action will run with.")


class GrantOut(BaseModel):
    """What an approval allows: bound to the agent, the action, its arguments' SHA-256 and the version."""

    agent: str
    action: str
    arguments_sha256: str
    playbook: str
    version: int
    approver: str | None
    on_behalf_of: str | None
    decision: str
    rationale: str | None
    decided_at: str | None
    expires_at: str
    consumed_at: str | None


class ApprovalOut(BaseModel):
    """An approval request (SPEC §11): pending, approved (with its grant), rejected or expired."""

    approval: str
    run: str
    status: Literal["pending", "approved", "rejected", "expired"]
    action: str | None = None
    agent: str | None = None
    requested_at: str | None = None
    expires_at: str | None = None
    detail: str | None = None
    grant: GrantOut | None = None
