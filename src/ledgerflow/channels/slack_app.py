"""Slack approvals (SPEC §13) with the official `slack_sdk`: messages out, interactions in.

With a bot token and a signing secret, a decision reaches its assignee (a person with `slack: U…` in the
directory) as a Block Kit message: the summary, key fields of the data, the due time and a button per outcome.
A button opens a modal for the rationale; its submission records the decision through the same command as
every channel, with channel `slack`, as the directory person the Slack user is, and the message is updated
with the outcome and who decided. Each button carries the `data_hash` the message showed: a decision on data
that changed since is refused, as for e-mail links. Reminders and escalations arrive as plain messages.

Requests from Slack are verified by `slack_sdk.signature.SignatureVerifier` (HMAC-SHA256 over the raw body,
with a five-minute timestamp window) before anything is read from them; see `server.slack_routes`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from ledgerflow.channels.decision_mail import label
from ledgerflow.channels.delivery import DeliveryError
from ledgerflow.domain.errors import Forbidden, InvalidInput, LedgerflowError
from ledgerflow.domain.flow import data_under_decision
from ledgerflow.domain.runs import RunState
from ledgerflow.engine import action_links, service
from ledgerflow.engine.action_links import Case, LinkRefused
from ledgerflow.ops.config import Settings
from ledgerflow.storage.store import Store, Tx

ACTION_ID = "ledgerflow_decide"
"""Buttons' action_id prefix: `ledgerflow_decide:<outcome>`."""
CALLBACK_ID = "ledgerflow_rationale"
"""The rationale modal's callback_id."""
KEY_FIELDS = 8
"""Fields of the run's input shown on the message (Slack allows ten per section)."""
STYLES = {"approve": "primary", "reject": "danger"}
log = logging.getLogger(__name__)


class SlackRefused(Forbidden):
    """Raised when an interaction comes from a Slack user who is not a person in the directory
    (`slack-user-unknown`) or is not one ledgerflow sent (`slack-bad-interaction`)."""

    default_rule = "slack-user-unknown"


def client(settings: Settings) -> WebClient:
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:299] + "…"


def decision_blocks(case: Case, data_hash: str, outcomes: tuple[str, ...], task_url: str) -> list[dict[str, Any]]:
    """The Block Kit message of a decision: summary, key fields, due, a button per outcome."""
    fields = [{"type": "mrkdwn", "text": f"*{key}*\n{_text(value)}"}
              for key, value in list((case.input or {}).items())[:KEY_FIELDS]] if isinstance(case.input, dict) else []
    if case.due_at:
        fields.append({"type": "mrkdwn", "text": f"*Due*\n{case.due_at}"})
    about = "\n".join(line for line in (f"*About:* {case.summary}" if case.summary else "",
                                        f"*What:* {case.what}" if case.what else "",
                                        f"*Why:* {case.why}" if case.why else "") if line)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": case.title[:150]}}]
    if about:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": about}})
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    buttons = []
    for outcome in outcomes:
        button: dict[str, Any] = {
            "type": "button", "action_id": f"{ACTION_ID}:{outcome}",
            "text": {"type": "plain_text", "text": label(outcome)},
            "value": json.dumps({"task": case.task, "outcome": outcome, "data_hash": data_hash})}
        if outcome in STYLES:
            button["style"] = STYLES[outcome]
        buttons.append(button)
    blocks.append({"type": "actions", "block_id": "decide", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                    "text": f"<{task_url}|Open the task in ledgerflow>"}]})
    return blocks


def deliver(store: Store, row: Any) -> None:
    """Send one outbox message to its Slack user: a decision assigned to them with buttons, else as text.

    Raises:
        DeliveryError: Slack refused or could not be reached (the worker retries).
    """
    settings = store.settings
    person = row.payload.get("to")
    blocks = None
    if row.task and person:
        with store.read() as tx:
            found = action_links.open_decision(tx, row.task)
        if found is not None and found[1].assignee == person:
            run, task, playbook, step = found
            blocks = decision_blocks(action_links.case_of(run, playbook, step, task),
                                     data_under_decision(run, playbook, step), step.options,
                                     f"{settings.base_url}/tasks/{task.id}")
    text = str(row.payload.get("text") or row.subject)
    try:
        if blocks is None:
            client(settings).chat_postMessage(channel=row.recipient, text=text, mrkdwn=True)
        else:
            client(settings).chat_postMessage(channel=row.recipient, text=row.subject, blocks=blocks)
    except SlackApiError as exc:
        raise DeliveryError(f"Slack {exc.response.get('error', 'error')}") from None
    except (SlackClientError, OSError) as exc:
        raise DeliveryError(f"Slack: {exc}") from None


def _person(store: Store, payload: dict[str, Any]) -> str:
    user = payload.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    with store.read() as tx:
        directory = tx.directory()
    actor = directory.by_slack(user_id) if directory is not None and isinstance(user_id, str) else None
    if actor is None or actor.is_agent:
        raise SlackRefused(f"Slack user {user_id} is not a person in ledgerflow's directory; nothing was recorded")
    return actor.id


def _field(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _offered(value: Any) -> dict[str, str]:
    """A button's value or the modal's metadata: what ledgerflow offered, as ledgerflow wrote it."""
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        data = None
    keys = ("task", "outcome", "data_hash")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
        raise SlackRefused("this interaction did not come from a ledgerflow message", rule="slack-bad-interaction")
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


def interact(store: Store, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Answer one verified interaction: a button opens the rationale modal, the modal's submission decides.

    Returns the JSON body to answer Slack with (None: an empty 200).

    Raises:
        SlackRefused: the Slack user is not in the directory, or the payload is not one ledgerflow made.
        InvalidInput: an interaction type ledgerflow does not handle.
    """
    person = _person(store, payload)
    kind = payload.get("type")
    if kind == "block_actions":
        _open_modal(store, person, payload)
        return None
    if kind == "view_submission" and _field(payload, "view", "callback_id") == CALLBACK_ID:
        return _submit(store, person, payload)
    raise InvalidInput(f"interaction type {kind!r} is not handled", rule="slack-bad-interaction")


def _open_modal(store: Store, person: str, payload: dict[str, Any]) -> None:
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    offered = _offered(action.get("value"))
    channel, ts = _field(payload, "container", "channel_id"), _field(payload, "container", "message_ts")
    web = client(store.settings)
    try:
        with store.read() as tx:
            _, task, _, step = action_links.current(tx, offered["task"], person, offered["data_hash"])
    except LinkRefused as exc:
        _call(web.chat_postEphemeral, channel=str(channel), user=str(_field(payload, "user", "id")),
              text=f"Nothing was recorded: {exc.message}")
        return
    rationale: dict[str, Any] = {
        "type": "input", "block_id": "rationale", "optional": not step.rationale_required,
        "label": {"type": "plain_text", "text": "Rationale"},
        "element": {"type": "plain_text_input", "action_id": "text", "multiline": True, "max_length": 3000}}
    metadata = json.dumps({**offered, "channel": channel, "ts": ts})
    _call(web.views_open, trigger_id=str(payload.get("trigger_id")), view={
        "type": "modal", "callback_id": CALLBACK_ID, "private_metadata": metadata,
        "title": {"type": "plain_text", "text": label(offered["outcome"])[:24]},
        "submit": {"type": "plain_text", "text": label(offered["outcome"])[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{label(offered['outcome'])} task "
                                                                          f"{task.id} ({step.id})?"}}, rationale]})


def _call(method: Any, **args: Any) -> None:
    """A Web API call answering an interaction; its failure is logged (Slack shows the user nothing)."""
    try:
        method(**args)
    except (SlackClientError, OSError) as exc:
        log.warning("Slack %s failed: %s", getattr(method, "__name__", "call"), exc)


def _submit(store: Store, person: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    metadata = _field(payload, "view", "private_metadata")
    offered = _offered(metadata)
    rationale = _field(payload, "view", "state", "values", "rationale", "text", "value")
    rationale = rationale.strip() if isinstance(rationale, str) else ""

    def still_offered(tx: Tx, _: RunState) -> None:
        action_links.current(tx, offered["task"], person, offered["data_hash"])

    try:
        service.task_command(store, "decide", offered["task"], service.Caller(actor=person, channel="slack"),
                             precondition=still_offered, outcome=offered["outcome"], rationale=rationale or None,
                             to=None)
    except LedgerflowError as exc:
        return {"response_action": "errors", "errors": {"rationale": f"{exc.message} [{exc.rule}]"[:3000]}}
    with store.read() as tx:
        directory = tx.directory()
    actor = directory.get(person) if directory is not None else None
    meta = json.loads(str(metadata))
    if isinstance(meta.get("channel"), str) and isinstance(meta.get("ts"), str):
        said = f"*{label(offered['outcome'])}* by {actor.name if actor else person}" + (
            f": {rationale}" if rationale else "")
        _call(client(store.settings).chat_update, channel=meta["channel"], ts=meta["ts"], text=said, blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": said}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Task {offered['task']}, recorded "
                                                                        "in ledgerflow from Slack"}]}])
    return None
