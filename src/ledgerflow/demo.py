"""`ledgerflow demo`: a simulated month of pricing exceptions on a fresh database.

Four ISO weeks of requests from the account executives, checks, finance and sales decisions (some slow
enough to be nudged and escalated), rework, a weekly governance review each Monday and a risk trigger
in the third week — all through the same use cases as the command line, on a simulated clock.
"""

from __future__ import annotations

import random
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledgerflow.domain.errors import Conflict
from ledgerflow.domain.figures import Period, week_of
from ledgerflow.domain.times import parse_time
from ledgerflow.engine import governance, service
from ledgerflow.reporting import reports
from ledgerflow.reporting.digest import WIDTH, day_digest
from ledgerflow.reporting.scorecard import scorecard
from ledgerflow.storage.database import initialize, make_engine, normalize_url
from ledgerflow.storage.store import Store
from ledgerflow.trust import audit

EXAMPLES = Path(__file__).parent / "examples"
START = "2026-03-02T08:00:00Z"  # a Monday
PLAYBOOK = "pricing-exception"
CUSTOMERS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne"]
GOOD = "Competitor offered {pct}% on a three-year renewal; churn risk is high"


@dataclass
class Demo:
    store: Store
    rng: random.Random
    log: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    started: dict[str, int] = field(default_factory=dict)  # run id -> order started: ids are random, this is not
    names: dict[str, str] = field(default_factory=dict)
    """Run id -> the request's name, for the daily digest."""
    told: int = 0
    """The last event seq the digest has told."""

    said: list[str] = field(default_factory=list)
    """What the simulation itself says during the day, told under the day's title."""

    def say(self, text: str) -> None:
        with self.store.read() as tx:
            now = tx.now()
        self.said.extend(textwrap.wrap(f"{now:%H:%M} {text}", WIDTH, initial_indent="  ", subsequent_indent="      "))

    def tell_day(self, day: datetime) -> None:
        """The day's digest (08:00 to 08:00 the next day) from the events recorded since the last one."""
        with self.store.read() as tx:
            rows = tx.events(after_seq=self.told)
        if rows:
            self.told = rows[-1]["seq"]
        title, *lines = day_digest(f"{day:%a %Y-%m-%d}", rows, self.names)
        self.log.extend([title, *self.said, *lines])
        self.said = []

    def advance(self, duration: str) -> None:
        service.advance_clock(self.store, duration, service.Caller())

    def start_requests(self, count: int, week: int) -> None:
        for _ in range(count):
            risky = week == 3 and self.rng.random() < 0.5
            pct = self.rng.choice([45, 50]) if risky else self.rng.choice([5, 12, 15, 18, 22, 30, 35])
            value = self.rng.choice([8000, 20000, 35000, 48000, 75000, 120000])
            starter = self.rng.choice(["alice", "bob"])
            try:
                request = {"customer": self.rng.choice(CUSTOMERS), "deal_value": value, "discount_pct": pct}
                run, _ = service.start_run(self.store, PLAYBOOK, request, service.Caller(actor=starter),
                                           why="customer asked for a better price")
            except Conflict as refused:
                self.say(f"a request is held back ({refused.rule}): the engine enforces the decision")
                return
            self.started[run.id] = len(self.started)

    def work(self, *, slow_decider: str | None = None) -> int:
        """Every assignee works their open tasks once; a slow decider leaves theirs waiting."""
        done = 0
        with self.store.read() as tx:
            tasks = [t for t in tx.tasks(status="open") if t.run is not None]
        # in the order the work arrived, ties by run: the same seed plays the same month (ids are random)
        tasks.sort(key=lambda t: (t.ready_at, self.started[str(t.run)], t.step, t.attempt))
        for task in tasks:
            who = service.Caller(actor=str(task.assignee))
            if task.type == "decision":
                if task.assignee == slow_decider:
                    continue
                roll = self.rng.random()
                outcome = "approve" if roll < 0.8 else "reject" if roll < 0.9 else "send_back"
                if outcome == "send_back" and task.attempt > 1:
                    outcome = "approve"
                rationale = {"approve": "Margin stays above the floor", "reject": "Margin below the floor",
                             "send_back": "Attach the competitor quote"}[outcome]
                service.task_command(self.store, "decide", task.id, who, outcome=outcome, rationale=rationale,
                                     to=None)
            elif task.step == "prepare":
                sloppy = task.attempt == 1 and self.rng.random() < 0.15
                justification = "discount" if sloppy else GOOD.format(pct=self.rng.randint(10, 30))
                service.task_command(self.store, "complete", task.id, who,
                                     output={"deal_sheet_url": f"https://docs.example.com/deals/{task.run}",
                                             "justification": justification})
            else:
                service.task_command(self.store, "complete", task.id, who,
                                     output={"quote_id": f"Q-{self.rng.randint(1000, 9999)}"})
            done += 1
        return done

    def review(self, week: int) -> None:
        with self.store.read() as tx:
            reviews = [t for t in tx.tasks(status="open") if t.type == "review"]
            card = scorecard(self.store, PLAYBOOK, week_of(tx.now() - timedelta(days=1)))
        if not reviews:
            return
        rate = card["exception_rate"]
        if week == 4 and rate is not None and rate > 0.15:
            decision, actor = "stabilize", "maria"
            rationale = f"Exception rate {rate:.0%} last week: cap work in progress while the checks are fixed"
            follow_ups = [("Brief account executives on the 40% policy ceiling", "sam", "1w")]
        elif card["quality_trend"] is not None and card["quality_trend"] > 0 and week == 5:
            decision, actor, follow_ups = "continue", "maria", []
            rationale = f"First-pass yield recovering ({card['quality_trend'] * 100:+.0f} pts); lift the WIP cap"
        else:
            decision, actor, follow_ups = "continue", "sam", []
            rationale = f"Exception rate {rate:.0%}, first-pass yield {card['first_pass_yield']:.0%}: no change"
        result = governance.decide(self.store, PLAYBOOK, actor=actor, channel="cli", decision=decision,
                                   rationale=rationale, follow_ups=follow_ups)
        self.decisions.append({"week": card["period"], **{k: result[k] for k in ("decision", "decided_by")},
                               "rationale": rationale})
        self.say(f"weekly review: {actor} decided {decision}: {rationale}")


def run_demo(url: str | None, *, seed: int = 2026) -> dict[str, Any]:
    """Simulate four weeks; returns the weekly scorecards, governance decisions and the audit result."""
    url = normalize_url(url or f"sqlite:///ledgerflow-demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.db")
    engine = make_engine(url)
    initialize(engine, url, parse_time(START))
    engine.dispose()
    store = Store(url)
    admin = service.Caller()
    service.load_directory_file(store, str(EXAMPLES / "directory.yaml"), admin)
    service.publish(store, str(EXAMPLES / "pricing-exception.yaml"), admin)
    demo = Demo(store=store, rng=random.Random(seed))
    with store.read() as tx:
        demo.told = tx.last_seq()  # the set-up is not part of the story
    for week in range(1, 5):
        for day in range(5):
            with store.read() as tx:
                today = tx.now()
            if day == 0:
                demo.review(week)
            demo.start_requests(demo.rng.randint(3, 6), week)
            demo.advance("2h")
            demo.work()
            demo.advance("3h")
            slow = "erin" if week == 2 and day in (1, 2) else None
            demo.work(slow_decider=slow)
            demo.advance("4h")
            demo.work(slow_decider=slow)
            demo.advance("15h")  # overnight: nudges, SLA breaches and escalations fire
            demo.tell_day(today)
        demo.advance("2d")  # the weekend; Monday 08:00 the cadence review is waiting
    with store.read() as tx:
        now = tx.now()
    demo.review(5)
    demo.tell_day(now)
    weeks = [scorecard(store, PLAYBOOK, week_of(now - timedelta(days=7 * back))) for back in range(4, 0, -1)]
    month = Period(name=f"{weeks[0]['period']}..{weeks[-1]['period']}", start=week_of(now - timedelta(days=28)).start,
                   end=week_of(now).start)
    result = {"db": url, "weeks": weeks, "waits": reports.waits(store, PLAYBOOK, month),
              "governance": demo.decisions, "audit": audit.verify(store), "log": demo.log}
    store.close()
    return result
