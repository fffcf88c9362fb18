"""Read what is recorded, for a person at a terminal: `directory show`, `token list`, `governance history`; and
`governance autonomy`, which reads an agent's autonomy or changes it.

They hang on the sub-apps of `ledgerflow.cli.main`, which imports this module once its sub-apps exist; each
imports what it needs when it runs, so that loading the command line stays cheap (`--help`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledgerflow.cli.main import As, caller, directory_app, emit, governance_app, store, token_app
from ledgerflow.domain.errors import InvalidInput


@directory_app.command("show")
def directory_show(role: Annotated[str | None, typer.Option(help="Only the members of this role.")] = None) -> None:
    """The directory in force: each person and agent with roles, delegate and away periods; each role's members."""
    from ledgerflow.cli import render
    from ledgerflow.domain.times import display_time

    with store().read() as tx:
        directory, row = tx.directory(), tx.directory_row()
    if directory is None:
        raise InvalidInput("no directory is loaded yet: ledgerflow directory load FILE", rule="no-directory")
    if role is not None and role not in directory.roles:
        raise InvalidInput(f"unknown role {role!r}; the roles are: {', '.join(sorted(directory.roles))}",
                           rule="unknown-role")
    actors: list[dict[str, Any]] = [
        {"id": a.id, "kind": a.kind, "name": a.name, "email": a.email, "roles": list(a.roles), "delegate": a.delegate,
         "away": [{"from": p.start.isoformat(), "until": p.until.isoformat(), "delegate": p.delegate}
                  for p in a.away]}
        for a in directory.actors if role is None or role in a.roles]
    roles = {name: list(members) for name, members in sorted(directory.roles.items()) if role in (None, name)}
    result = {"version": row.version, "loaded_at": display_time(row.loaded_at), "actors": actors, "roles": roles}
    rows = [{**a, "roles": ", ".join(a["roles"]), "delegate": a["delegate"] or "",
             "away": "; ".join(f"{p['from']}..{p['until']}" + (f" to {p['delegate']}" if p["delegate"] else "")
                               for p in a["away"])} for a in actors]
    emit(result, render.table(f"Directory v{row.version} (loaded {result['loaded_at']})",
                              ("id", "kind", "name", "roles", "delegate", "away"), rows))


@token_app.command("list")
def token_list(actor: Annotated[str | None, typer.Option("--actor", help="Only this actor's tokens.")] = None) -> None:
    """Tokens and guest links by id (never their value), with whose they are and whether they still work."""
    from ledgerflow.cli import render
    from ledgerflow.engine import tokens

    found = tokens.listing(store(), caller(None), actor=actor)
    rows = [{**row, "for": row["email"] or "", "task": row["task"] or ""} for row in found]
    emit(found, render.table("Tokens", ("id", "actor+kind", "state", "task+for", "created_at+expires_at"), rows))


@governance_app.command("history")
def governance_history(playbook_id: str) -> None:
    """A playbook's reviews and decisions, oldest first: who decided what, why, on which figures."""
    from ledgerflow.cli import render
    from ledgerflow.engine import governance

    found = governance.history(store(), playbook_id)
    if not found:
        emit(found, f"{playbook_id}: no review or decision yet")
        return
    emit(found, "\n".join(_history_line(entry, render.cell) for entry in found))


def _history_line(entry: dict[str, Any], cell: Any) -> str:
    """One entry as a sentence: a review and why it opened, or a decision with its rationale and figures."""
    card = {key: value for key, value in (entry["scorecard"] or {}).items() if value is not None}
    shown = ", ".join(f"{key} {cell(key, card[key])}" for key in ("throughput", "exception_rate", "first_pass_yield")
                      if key in card)
    figures = f" [{shown}]" if card.get("exception_rate") is not None else ""  # an empty week says nothing
    if entry["type"] == "governance.autonomy_changed":
        return f"{entry['at']}  {entry['by']} decided {entry['decision']} for {entry['agent']} at {entry['step']}: " \
               f"{entry['reason']}"
    if entry["type"] == "governance.decided":
        follow = "".join(f"\n      follow-up for {f['owner']}: {f['text']}" for f in entry["follow_ups"])
        return f"{entry['at']}  {entry['by']} decided {entry['decision']}: {entry['reason']}{figures}{follow}"
    trigger = f" ({entry['trigger']})" if entry["trigger"] else ""
    return f"{entry['at']}  review opened{trigger}: {entry['reason']}{figures}"


@governance_app.command("autonomy")
def governance_autonomy(
    playbook_id: str,
    agent: Annotated[str | None, typer.Option(help="The agent whose autonomy changes.")] = None,
    step: Annotated[str | None, typer.Option(help="The decision step where it changes.")] = None,
    limit: Annotated[float | None, typer.Option(
        help="The new bound of the agent's guarded row (`QUANTITY <= BOUND`): widen or narrow it.")] = None,
    withdraw: Annotated[bool, typer.Option("--withdraw", help="The agent decides nothing at the step.")] = False,
    restore: Annotated[bool, typer.Option("--restore", help="Back to the guard as the playbook writes it.")] = False,
    rationale: Annotated[str | None, typer.Option(
        help="Why (recorded with the agent's scorecard of the moment).")] = None,
    as_: As = None,
) -> None:
    """What each agent may decide at each step of a playbook; with --agent, --step and one of --limit,
    --withdraw or --restore, the outcome or workflow owner changes it (SPEC §11), without republishing."""
    from ledgerflow.cli import render
    from ledgerflow.engine import autonomy

    chosen = [name for name, on in (("limit", limit is not None), ("withdraw", withdraw), ("restore", restore)) if on]
    if not chosen and agent is None and step is None:
        found = autonomy.current(store(), playbook_id)
        rows = [{**row, "autonomy": autonomy_cell(row), "since": row["decided_at"] or "",
                 "by": row["decided_by"] or ""} for row in found]
        emit(found, render.table(f"{playbook_id}: what each agent may decide",
                                 ("agent", "step", "guard", "autonomy", "since", "by"), rows))
        return
    if len(chosen) != 1 or agent is None or step is None:
        raise InvalidInput("say --agent ID --step STEP and exactly one of --limit N, --withdraw or --restore",
                           rule="bad-autonomy-change")
    result = autonomy.change(store(), playbook_id, actor=caller(as_).actor, channel="cli", agent=agent, step=step,
                             change=chosen[0], limit=limit, rationale=rationale or "")
    moved = f"; {len(result['moved'])} open decision(s) moved on" if result["moved"] else ""
    emit(result, f"{playbook_id}: {agent} at {step}: {autonomy_cell(result)} (by {result['decided_by']}){moved}")


def autonomy_cell(row: dict[str, Any]) -> str:
    """An agent's autonomy at a step in a few words: withdrawn, or the limit in force."""
    if row.get("withdrawn"):
        return "withdrawn"
    if row.get("limit") is None:
        return "as the playbook writes it"
    return f"up to {row['limit']:,g}"
