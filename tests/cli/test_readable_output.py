"""Human-readable output for a person at a terminal: recorded text as recorded, figures and ids people can use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ledgerflow.cli.main import main
from tests.conftest import DIRECTORY, PRICING, START


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    for args in (("init", "--simulated-clock", START), ("directory", "load", str(DIRECTORY)),
                 ("playbook", "publish", str(PRICING))):
        assert run(capsys, *args, "--db", url)[0] == 0
    return url


def started(capsys: pytest.CaptureFixture[str], db: str, why: str | None = None) -> tuple[str, str]:
    """A run of pricing-exception waiting on its decision: (run id, decision task id)."""
    extra = ("--why", why) if why is not None else ()
    result = run_json(capsys, "run", "start", "pricing-exception", "--as", "bob", "--db", db, *extra,
                      "--input", '{"customer": "Acme", "deal_value": 12000, "discount_pct": 18}')
    assert isinstance(result, dict)
    run_id, task = result["run"], result["tasks"][0]
    done = run_json(capsys, "task", "complete", task["task"], "--as", task["assignee"], "--db", db, "--output",
                    '{"deal_sheet_url": "https://docs/1", "justification": "Competitor offered 20% on renewal"}')
    assert isinstance(done, dict)
    return run_id, done["opened"][0]["task"]


def test_recorded_text_in_brackets_prints_as_recorded(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id, decision = started(capsys, db, why="[urgent] renewal at risk")
    code, _, err = run(capsys, "task", "decide", decision, "--as", "dave", "--outcome", "approve", "--db", db,
                       "--rationale", "OK per policy [section 4.2] of the vendor manual")
    assert code == 0, err
    code, out, _ = run(capsys, "run", "show", run_id, "--db", db)
    assert code == 0
    assert "OK per policy [section 4.2] of the vendor manual" in out
    assert "[urgent] renewal at risk" in out


def test_playbook_show_keeps_the_lists_of_the_source(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, _ = run(capsys, "playbook", "show", "pricing-exception", "--db", db)
    assert code == 0
    assert "required: [customer, deal_value, discount_pct]" in out
    assert "options: [approve, reject, send_back]" in out


def test_task_show_gives_the_runs_why_and_what_the_decision_reads(capsys: pytest.CaptureFixture[str],
                                                                  db: str) -> None:
    _, decision = started(capsys, db, why="Renewal at risk [Q3]")
    shown = run_json(capsys, "task", "show", decision, "--db", db)
    assert isinstance(shown, dict)
    assert (shown["task"], shown["why"], shown["step"]) == (decision, "Renewal at risk [Q3]", "approve")
    assert shown["context"]["input"]["customer"] == "Acme"
    assert [o["step"] for o in shown["context"]["outputs"]] == ["prepare"]
    assert shown["summary"] == "customer=Acme, deal_value=12000, discount_pct=18"
    code, out, _ = run(capsys, "task", "show", decision, "--as", "dave", "--db", db)
    assert code == 0 and "why this run: Renewal at risk [Q3]" in out and "you may: start, decide" in out
    code, _, err = run(capsys, "task", "show", decision, "--as", "lena", "--db", db)
    assert code == 2 and "unknown-task" in err  # lena takes no part in the run: it is hidden, as in the API


def test_clock_advance_says_what_fired_and_for_whom(capsys: pytest.CaptureFixture[str], db: str) -> None:
    started(capsys, db)
    code, out, _ = run(capsys, "clock", "advance", "5h", "--db", db)
    assert code == 0
    assert "2026-03-02T12:00:00Z  dave nudged on approve" in out and "timer(s)" not in out


def test_ids_print_whole_in_an_80_column_table(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id, decision = started(capsys, db)
    code, out, _ = run(capsys, "task", "list", "--db", db)
    assert code == 0 and decision in out
    code, out, _ = run(capsys, "run", "list", "--db", db)
    assert code == 0 and run_id in out


@pytest.mark.parametrize("command", [("task", "list"), ("run", "list"), ("report", "stalled"), ("report", "waiting"),
                                     ("report", "waits", "pricing-exception", "--period", "2026-W10"),
                                     ("directory", "show"), ("token", "list")])
def test_tables_fit_80_columns_and_cut_nothing(capsys: pytest.CaptureFixture[str], db: str,
                                               command: tuple[str, ...]) -> None:
    started(capsys, db)
    run(capsys, "token", "create", "--actor", "dave", "--db", db)
    run(capsys, "clock", "advance", "3d", "--db", db)
    code, out, _ = run(capsys, *command, "--db", db)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
    assert all(len(time) == 20 for time in re.findall(r"2026-03-[0-9T:Z]*", out))  # times whole, on one line


def test_task_list_and_stalled_say_which_run_and_what_it_is_about(capsys: pytest.CaptureFixture[str],
                                                                  db: str) -> None:
    run_id, decision = started(capsys, db)
    run(capsys, "clock", "advance", "3d", "--db", db)
    for command in (("task", "list", "--status", "open"), ("report", "stalled")):
        code, out, _ = run(capsys, *command, "--db", db)
        rows = [line for line in out.splitlines() if line.startswith(decision)]
        assert code == 0 and rows, command
        below = out.splitlines()[out.splitlines().index(rows[0]) + 1]
        assert below.startswith(run_id), command  # the run's id under the task's
        assert "customer=Acme," in out and "discount_pct=18" in out, command


def test_run_show_names_the_authority_row_by_its_condition(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run_id, decision = started(capsys, db)
    run(capsys, "task", "decide", decision, "--as", "dave", "--outcome", "approve", "--rationale", "ok", "--db", db)
    code, out, _ = run(capsys, "run", "show", run_id, "--db", db)
    assert code == 0 and "authority_row" not in out
    assert "dave decided approve on approve via cli under the authority row `input.deal_value <= 50000` (finance " \
           "approves): ok" in out
    shown = run_json(capsys, "run", "show", run_id, "--db", db)
    assert isinstance(shown, dict)  # JSON keeps the recorded authority as it is hashed
    assert {"kind": "authority_row", "detail": 0} in [e["authority"] for e in shown["timeline"]]


def test_report_figures_read_as_people_read_them(capsys: pytest.CaptureFixture[str], db: str) -> None:
    _, decision = started(capsys, db)
    run(capsys, "task", "decide", decision, "--as", "dave", "--outcome", "reject", "--rationale", "no", "--db", db)
    code, out, _ = run(capsys, "scorecard", "pricing-exception", "--period", "2026-W10", "--db", db)
    assert code == 0 and "100%" in out and "1.0" not in out.split("exception_rate")[1].split("\n")[0]


def test_a_stalled_task_that_is_not_blocked_shows_no_false(capsys: pytest.CaptureFixture[str], db: str) -> None:
    _, decision = started(capsys, db)
    run(capsys, "clock", "advance", "3d", "--db", db)
    code, out, _ = run(capsys, "report", "stalled", "--db", db)
    assert code == 0 and decision in out and "False" not in out


def test_publish_shows_the_warnings_it_let_through(capsys: pytest.CaptureFixture[str], db: str,
                                                   tmp_path: Path) -> None:
    warned = tmp_path / "warned.yaml"
    warned.write_text(PRICING.read_text().replace("          to: maria", "          to: dave"))
    code, out, _ = run(capsys, "playbook", "publish", str(warned), "--db", db)
    assert code == 0 and "escalation-below-authority" in out


def test_demo_tells_the_month_then_scorecards_with_throughput_and_where_work_waited(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "demo", "--seed", "7", "--db", f"sqlite:///{tmp_path}/demo.db")
    assert code == 0
    story, _, rest = out.partition("The weekly scorecards")
    assert story.startswith("Mon 2026-03-02\n") and "requests: " in story and "decided stabilize" in story
    scorecards, _, waits = rest.partition("Where work waited this month")
    assert "throughput" in scorecards and "2026-W13" in scorecards and "%" in scorecards
    assert not re.search(r"\b0\.\d{2,}", scorecards)  # shares as percentages, not 0.5769...
    assert "prepare" in waits and "approve" in waits and "audit verify: ok" in waits
    assert max(len(line) for line in out.partition("audit verify")[0].splitlines()) <= 80
