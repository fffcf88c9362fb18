"""The operations board (issue #21 §2): blocked and overdue first then the longest wait, filters, a count
per person, reassigning with a reason for owners, and nothing of runs the person may not see."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerflow.engine import service
from ledgerflow.storage.store import Store
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, snapshot, start
from tests.web.conftest import csrf_of, sign_in


def _rows(page: str) -> list[str]:
    """The task ids of the board's rows, in order."""
    return [part.split('"')[0] for part in page.split('data-task="')[1:]]


def test_the_board_puts_overdue_work_first_then_the_longest_wait(store: Store, web: TestClient) -> None:
    oldest = only_open(store, start(store, customer="Oldest").id)
    service.advance_clock(store, "20h", service.Caller())
    decided_run = start(store, customer="Newer")
    decision = act(store, "complete", only_open(store, decided_run.id), output=GOOD_OUTPUT)["opened"][0]
    service.advance_clock(store, "5h", service.Caller())  # prepare (due 1d) not yet late; the decision's SLA not
    fresh = only_open(store, start(store, customer="Fresh").id)
    sign_in(web, "sam")
    assert _rows(web.get("/waiting").text) == [oldest.id, decision.id, fresh.id]
    service.advance_clock(store, "20h", service.Caller())  # now the decision's SLA and oldest's due have passed
    page = web.get("/waiting").text
    assert _rows(page)[-1] == fresh.id and "overdue" in page
    assert 'id="board-total">3 open tasks' in page


def test_the_board_filters_by_playbook_step_and_person_and_counts_per_person(store: Store, web: TestClient) -> None:
    runs = [start(store, customer=f"c{i}") for i in range(3)]
    decision = act(store, "complete", only_open(store, runs[0].id), output=GOOD_OUTPUT)["opened"][0]
    sign_in(web, "sam")
    page = web.get("/waiting").text
    counts = page.split('id="per-person"')[1].split("</table>")[0]
    assert "Dave Okafor" in counts or "Erin Walsh" in counts
    by_step = web.get("/waiting", params={"playbook": "pricing-exception", "step": "approve"}).text
    assert _rows(by_step) == [decision.id] and '<option selected>approve</option>' in by_step
    person = str(decision.assignee)
    mine = web.get("/waiting", params={"person": person}).text
    assert _rows(mine) == [decision.id]
    assert _rows(web.get("/waiting", params={"playbook": "no-such-playbook"}).text) == []


def test_an_owner_reassigns_from_the_board_with_a_reason(store: Store, web: TestClient) -> None:
    task = only_open(store, start(store, by="maria").id)
    other = "bob" if task.assignee == "alice" else "alice"
    sign_in(web, "sam")
    board = web.get("/waiting").text
    assert f'id="to-{task.id}"' in board
    before = snapshot(store)
    refused = web.post(f"/tasks/{task.id}/reassign", data={"csrf_token": csrf_of(board), "to": other,
                                                          "reason": " ", "back": "board"})
    assert refused.status_code in (400, 409) and 'role="alert"' in refused.text and snapshot(store) == before
    done = web.post(f"/tasks/{task.id}/reassign", data={"csrf_token": csrf_of(board), "to": other,
                                                       "reason": "Alice is on the customer call", "back": "board"})
    assert done.url.path == "/waiting" and "reassign recorded" in done.text
    assert only_open(store, task.run or "").assignee == other
    sign_in(web, other)
    assert f'id="to-{task.id}"' not in web.get("/waiting").text  # not an owner: no reassign on the board


def test_the_board_shows_nothing_of_runs_the_person_may_not_see(store: Store, web: TestClient) -> None:
    run = start(store, customer="Secret Corp")
    sign_in(web, "lena")
    for path in ("/waiting", "/waiting/rows"):
        page = web.get(path).text
        assert run.id not in page and "Secret Corp" not in page and "No open run waits on anyone." in page


def test_a_person_who_reads_no_playbook_sees_the_runs_they_take_part_in(store: Store, web: TestClient) -> None:
    start(store, customer="Not theirs")
    run = start(store, customer="Theirs")
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    sign_in(web, str(decision.assignee))  # finance: neither recommends nor is informed at any step
    assert _rows(web.get("/waiting").text) == [decision.id]
