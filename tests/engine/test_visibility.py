"""Who sees which runs and tasks (SPEC §7), rule by rule: each way of taking part in a run and each reader, each
reached alone; guests and admins; the same rules as SQL for the run list; and anything hidden is answered
exactly like something that does not exist."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ledgerflow.domain.directory import load_directory
from ledgerflow.domain.errors import NotFound
from ledgerflow.domain.playbook import load_playbook
from ledgerflow.domain.runs import Recommendation, RunState, TaskState
from ledgerflow.domain.source import parse_yaml
from ledgerflow.domain.states import RunStatus, TaskStatus
from ledgerflow.engine import access, governance, service
from ledgerflow.engine.tokens import ACTOR, ADMIN, GUEST, Principal
from ledgerflow.reporting import worklists
from ledgerflow.storage.store import Store
from tests.conftest import DIRECTORY, PRICING
from tests.engine.helpers import GOOD_OUTPUT, act, caller, only_open, run_state, start

PLAYBOOK = load_playbook(parse_yaml(PRICING.read_text(), "pricing-exception.yaml"))
DIRECTORY_NOW = load_directory(parse_yaml(DIRECTORY.read_text(), "directory.yaml"))[0]
AT = "2026-03-02T08:00:00Z"
NOBODY_YET = RunState(id="r-1", playbook="pricing-exception", version=1, status=RunStatus.RUNNING,
                      started_by="sam", started_at=AT)


def _task(**values: object) -> TaskState:
    base = TaskState(id="t-1", run="r-1", playbook="pricing-exception", step="approve", type="decision",
                     status=TaskStatus.READY, assignee="erin", ready_at=AT)
    return replace(base, **values)  # type: ignore[arg-type]


WAYS = {  # each way of taking part in a run, given to lena alone
    "started it": replace(NOBODY_YET, started_by="lena"),
    "assigned a task": replace(NOBODY_YET, tasks=(_task(assignee="lena"),)),
    "represented on a task": replace(NOBODY_YET, tasks=(_task(on_behalf_of="lena"),)),
    "pulled in on a task": replace(NOBODY_YET, tasks=(_task(pulled_in=("omar", "lena")),)),
    "recommended": replace(NOBODY_YET, recommendations=(Recommendation(
        task="t-1", step="approve", attempt=1, actor="lena", outcome="approve", rationale="ok", data_hash="h",
        at=AT),)),
}


@pytest.mark.parametrize("way", list(WAYS))
def test_each_way_of_taking_part_in_a_run_alone_lets_one_see_it(way: str) -> None:
    run = WAYS[way]
    assert access.takes_part(run, "lena")
    assert not access.takes_part(run, "victor")  # who has no part in it at all


def test_nobody_takes_part_in_a_run_by_a_task_of_someone_else() -> None:
    run = replace(NOBODY_YET, tasks=(_task(assignee="erin", on_behalf_of="dave", pulled_in=("omar",)),))
    assert not access.takes_part(run, "lena")


def test_the_readers_of_a_version_are_its_owners_and_who_recommends_or_is_informed_at_a_decision() -> None:
    assert access.owners(PLAYBOOK) == {"sam", "maria"}  # the workflow owner and the outcome owner
    # recommend: deal-desk (carol, chen); inform: account-exec (alice, bob) and maria; approve gives no right to read
    assert access.readers(PLAYBOOK, DIRECTORY_NOW) == {"sam", "maria", "carol", "chen", "alice", "bob"}
    assert access.readers(PLAYBOOK, None) == {"sam", "maria"}  # no directory: the owners alone


def test_a_playbook_without_a_workflow_owner_is_owned_by_its_outcome_owner_alone() -> None:
    unowned = load_playbook(parse_yaml(PRICING.read_text().replace("workflow_owner: sam\n", ""), "p.yaml"))
    assert unowned.workflow_owner is None
    assert access.owners(unowned) == {"maria"}


def _away(text: str, who: str, delegate: str) -> str:
    line = f"{who}@example.com, roles: [finance]}}"
    return text.replace(line, line[:-1] + f", away: {{from: 2026-03-04, until: 2026-03-06, delegate: {delegate}}}}}")


@pytest.fixture
def runs(store: Store, tmp_path: Path) -> dict[str, RunState]:
    """Runs each seen by someone through one way alone: `pulled` (dave pulled in by an escalation), `lena`'s
    (she started it), `decided` (its decision delegated by its approver to the other finance member, and
    recommended on by carol, who has since left the deal desk)."""
    with_escalation = PRICING.read_text().replace("          to: maria", "          to: dave")
    (tmp_path / "escalating.yaml").write_text(with_escalation)
    service.publish(store, str(tmp_path / "escalating.yaml"), caller("admin"))
    pulled = start(store, deal_value=900000)  # only vp-sales approves it; the escalation pulls dave in
    act(store, "complete", only_open(store, pulled.id), output=GOOD_OUTPUT)
    service.advance_clock(store, "25h", caller("admin"))
    lena = start(store, by="lena")
    decided = start(store)
    decision = act(store, "complete", only_open(store, decided.id), output=GOOD_OUTPUT)["opened"][0]
    act(store, "recommend", decision, "carol", outcome="approve", rationale="margin holds")
    approver, other = decision.assignee, "erin" if decision.assignee == "dave" else "dave"
    text = _away(DIRECTORY.read_text(), str(approver), other).replace("roles: [deal-desk]}", "roles: [legal]}", 1)
    text = text.replace("agents:", "  - {id: da_e, name: D. A., email: da_e@example.com, roles: [legal]}\nagents:")
    (tmp_path / "directory.yaml").write_text(text)
    service.load_directory_file(store, str(tmp_path / "directory.yaml"), caller("admin"))
    service.advance_clock(store, "20h", caller("admin"))  # past the away start, before the decision's SLA
    found = {name: run_state(store, run.id) for name, run in (("pulled", pulled), ("lena", lena),
                                                               ("decided", decided))}
    assert found["pulled"].tasks[-1].pulled_in == ("dave",)
    assert (found["decided"].tasks[-1].assignee, found["decided"].tasks[-1].on_behalf_of) == (other, approver)
    return found


def test_the_run_list_holds_exactly_the_runs_each_actor_may_see(store: Store, runs: dict[str, RunState]) -> None:
    ids = {run.id: name for name, run in runs.items()}
    decided = runs["decided"].tasks[-1]
    expected = {"lena": {"lena"}, "carol": {"decided"}, "omar": set(), "victor": set(), "intake-bot": set(),
                "da_e": set(),  # not dave: the underscore in the id is no wildcard
                str(decided.assignee): {"decided"}, str(decided.on_behalf_of): {"decided"}}
    expected["dave"] = expected.get("dave", set()) | {"pulled"}
    for reader in ("sam", "maria", "chen", "alice", "bob"):  # owners, recommenders and informed of pricing
        expected[reader] = {"pulled", "lena", "decided"}
    with store.read() as tx:
        for actor, names in expected.items():
            rows, more = access.page_of_runs(tx, actor, playbook=None, status=None, after=None, limit=10)
            assert ({ids[row.id] for row in rows}, more) == (names, None), actor
            assert {ids[i] for i, run in ((r.id, r) for r in runs.values()) if access.sees_run(tx, run, actor)} \
                == names, actor


def test_the_run_list_comes_a_page_at_a_time_oldest_first_ties_by_id(store: Store,
                                                                   runs: dict[str, RunState]) -> None:
    order = sorted(runs.values(), key=lambda r: (r.started_at, r.id))
    assert runs["lena"].started_at == runs["decided"].started_at  # two runs of one instant: ordered by id
    seen, after = [], None
    with store.read() as tx:
        for _ in order:
            rows, after = access.page_of_runs(tx, "sam", playbook=None, status=None, after=after, limit=1)
            seen += [row.id for row in rows]
            if after is None:
                break
    assert seen == [r.id for r in order] and after is None
    with store.read() as tx:
        rows, last = access.page_of_runs(tx, "sam", playbook=None, status=None, after=order[0].id, limit=2)
    assert ([row.id for row in rows], last) == ([r.id for r in order[1:]], None)  # the last page names no next


def test_the_run_list_filters_by_playbook_and_status(store: Store, runs: dict[str, RunState]) -> None:
    cancelled = runs["lena"]
    service.cancel_run(store, cancelled.id, caller("lena"), "no longer needed")
    with store.read() as tx:
        ended, _ = access.page_of_runs(tx, "sam", playbook=None, status="cancelled", after=None, limit=10)
        running, _ = access.page_of_runs(tx, "sam", playbook="pricing-exception", status="running", after=None,
                                         limit=10)
        other, _ = access.page_of_runs(tx, "sam", playbook="agent-action-approval", status=None, after=None, limit=10)
    assert [row.id for row in ended] == [cancelled.id]
    assert {row.id for row in running} == {runs["pulled"].id, runs["decided"].id}
    assert other == []


@pytest.mark.parametrize("after", ["r-unknown", "lena"])
def test_a_cursor_naming_no_run_one_sees_is_refused(store: Store, runs: dict[str, RunState], after: str) -> None:
    cursor = runs[after].id if after in runs else after
    with store.read() as tx, pytest.raises(NotFound) as refused:
        access.page_of_runs(tx, "carol", playbook=None, status=None, after=cursor, limit=10)
    assert (refused.value.rule, refused.value.message) == ("bad-cursor", f"after={cursor!r} names no run you can see")


def _principal(actor: str, kind: str = ACTOR, task: str | None = None) -> Principal:
    return Principal(token_id="tok", actor=actor, kind=kind, task=task)


def test_a_run_is_shown_to_whoever_may_see_it_and_to_an_admin_and_hidden_as_unknown_from_anyone_else(
        store: Store, runs: dict[str, RunState]) -> None:
    run = runs["lena"]
    with store.read() as tx:
        for who in (_principal("lena"), _principal("sam"), _principal("root", ADMIN)):
            assert access.visible_run(tx, run.id, who).id == run.id
        for who in (_principal("omar"), _principal("lena", GUEST, run.tasks[0].id)):  # a guest sees no run
            with pytest.raises(NotFound) as hidden:
                access.visible_run(tx, run.id, who)
            assert (hidden.value.rule, hidden.value.message) == ("unknown-run", f"unknown run {run.id!r}")


def test_a_task_is_shown_with_its_run_to_whoever_sees_the_run_to_an_admin_and_to_its_own_guest(
        store: Store, runs: dict[str, RunState]) -> None:
    run = runs["lena"]
    task = run.tasks[0]
    with store.read() as tx:
        for who in (_principal("lena"), _principal("root", ADMIN), _principal("bob", GUEST, task.id)):
            found, of = access.visible_task(tx, task.id, who)
            assert (found.id, of.id if of else None) == (task.id, run.id)
        for who in (_principal("omar"), _principal("bob", GUEST, runs["decided"].tasks[0].id)):
            with pytest.raises(NotFound) as hidden:
                access.visible_task(tx, task.id, who)
            assert (hidden.value.rule, hidden.value.message) == ("unknown-task", f"unknown task {task.id!r}")


def test_a_follow_up_is_shown_to_its_assignee_the_owners_and_an_admin_only(store: Store) -> None:
    decided = governance.decide(store, "pricing-exception", actor="sam", channel="cli", decision="continue",
                                rationale="figures say so", follow_ups=[("Retrain account execs", "bob", "1w")])
    follow_up = decided["follow_ups"][0]
    with store.read() as tx:
        for who in (_principal("bob"), _principal("maria"), _principal("sam"), _principal("root", ADMIN)):
            found, run = access.visible_task(tx, follow_up, who)
            assert (found.id, run) == (follow_up, None)
        for who in (_principal("alice"), _principal("carol")):  # who reads every run of the playbook does not
            with pytest.raises(NotFound) as hidden:
                access.visible_task(tx, follow_up, who)
            assert (hidden.value.rule, hidden.value.message) == ("unknown-task", f"unknown task {follow_up!r}")
        assert access.owns(tx, "pricing-exception", "maria") and access.owns(tx, "pricing-exception", "sam")
        assert not access.owns(tx, "pricing-exception", "bob")


def test_who_reads_a_run_follows_its_own_playbook_version(store: Store, tmp_path: Path) -> None:
    """omar (legal) is informed at version 2's decision only: not at version 1's, nor at another playbook's."""
    first = start(store)
    informing = PRICING.read_text().replace("inform: [account-exec, maria]", "inform: [account-exec, maria, legal]")
    (tmp_path / "v2.yaml").write_text(informing)
    service.publish(store, str(tmp_path / "v2.yaml"), caller("admin"))
    second = start(store)
    for title in ("Other", "Other, revised"):  # another playbook's version 2, which does not inform legal
        (tmp_path / "other.yaml").write_text(PRICING.read_text().replace("id: pricing-exception", "id: pricing-other")
                                             .replace("title: Pricing exception approval", f"title: {title}"))
        service.publish(store, str(tmp_path / "other.yaml"), caller("admin"))
    other = start(store, playbook="pricing-other")
    assert (first.version, second.version, other.version) == (1, 2, 2)
    with store.read() as tx:
        rows, _ = access.page_of_runs(tx, "omar", playbook=None, status=None, after=None, limit=10)
        assert [row.id for row in rows] == [second.id]
        assert [access.sees_run(tx, run, "omar") for run in (first, second, other)] == [False, True, False]
        board = worklists.board(tx, "omar", worklists.BoardFilter())  # the same rule, read off the tasks table
        assert {row["run"] for row in board.rows} == {second.id}


def test_runs_started_at_one_instant_come_in_id_order_across_pages(store: Store) -> None:
    ids = sorted(start(store).id for _ in range(6))  # random ids: inserted in another order than theirs
    seen, after = [], None
    with store.read() as tx:
        for _ in ids:
            rows, after = access.page_of_runs(tx, "sam", playbook=None, status=None, after=after, limit=2)
            seen += [row.id for row in rows]
            if after is None:
                break
    assert seen == ids


def test_a_reader_of_one_playbook_among_several_sees_its_runs_and_tasks_and_no_others(
        store: Store, runs: dict[str, RunState]) -> None:
    """With two playbooks published, a reader of one in every version is filtered by that playbook (not let see
    everything), on the run list and on the operations board alike."""
    service.publish(store, str(Path(__file__).parents[1] / "reports" / "small-credit.yaml"), caller("admin"))
    credit, _ = service.start_run(store, "small-credit", {"customer": "Acme", "amount": 50}, caller("victor"))
    pricing = {run.id for run in runs.values()}
    with store.read() as tx:
        chen, maria = access.visibility(tx, "chen"), access.visibility(tx, "maria")
        assert (chen.every, chen.everything) == (("pricing-exception",), False)
        assert maria.everything  # an owner of both
        seen = {actor: {row.id for row in access.page_of_runs(tx, actor, playbook=None, status=None, after=None,
                                                              limit=10)[0]} for actor in ("chen", "maria", "victor")}
        board = {actor: {row["run"] for row in worklists.board(tx, actor, worklists.BoardFilter()).rows}
                 for actor in ("chen", "maria", "victor")}
    assert seen == {"chen": pricing, "maria": pricing | {credit.id}, "victor": {credit.id}}
    open_runs = {run_id for run_id in pricing | {credit.id} if _has_open_task(store, run_id)}
    assert board == {"chen": open_runs - {credit.id}, "maria": open_runs, "victor": {credit.id}}


def _has_open_task(store: Store, run_id: str) -> bool:
    return any(task.is_open for task in run_state(store, run_id).tasks)


def test_the_run_list_is_in_start_order_even_where_ids_sort_the_other_way(store: Store,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    countdown = iter(range(999, 0, -1))
    monkeypatch.setattr(service, "new_id", lambda prefix: f"{prefix}-{next(countdown):03d}")
    started = []
    for _ in range(3):
        started.append(start(store).id)
        service.advance_clock(store, "1h", caller("admin"))
    assert started == sorted(started, reverse=True)  # each newer run has a smaller id
    with store.read() as tx:
        rows, _ = access.page_of_runs(tx, "sam", playbook=None, status=None, after=None, limit=10)
        assert [row.id for row in rows] == started  # oldest first, by when they started
        newest_first, _ = worklists.runs(tx, "sam", worklists.RunFilter())
        assert [row["id"] for row in newest_first] == started[::-1]
