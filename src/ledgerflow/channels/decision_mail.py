"""A decision e-mail's two parts (SPEC §13): plain text and HTML, each with the case summary, the data under
decision and one link per allowed outcome. The HTML is rendered by Jinja with autoescaping, since the data
under decision is whatever the run's starter typed."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ledgerflow.engine.action_links import DecisionMail

TEMPLATES = Path(__file__).parents[1] / "web" / "templates" / "act"
LABELS = {"approve": "Approve", "reject": "Reject", "send_back": "Send back"}


def label(outcome: str) -> str:
    return LABELS.get(outcome, outcome.replace("_", " ").capitalize())


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    env.filters["label"] = label
    env.filters["pretty"] = pretty
    return env


def text_part(mail: DecisionMail, body: str) -> str:
    """The notification's own text, then the data under decision and the links."""
    lines = [body, "", "Data under decision", "-------------------", "Input:", pretty(mail.case.input)]
    for step, output in mail.case.outputs.items():
        lines += [f"Output of {step}:", pretty(output)]
    lines += ["", f"Decide from this e-mail (links for {mail.addressee_name} only, each used once, until "
                  f"{mail.expires_at}; each opens a page to confirm with your rationale):"]
    lines += [f"  {label(outcome)}: {url}" for outcome, url in mail.links]
    return "\n".join(lines)


def html_part(mail: DecisionMail, subject: str, task_url: str) -> str:
    return _environment().get_template("mail.html").render(mail=mail, subject=subject, task_url=task_url)
