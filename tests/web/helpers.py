"""A pricing exception whose schemas carry titles, descriptions, an enum and a format, and whose runs have a
summary: what the generated forms and labelled fields of the web UI are tested on."""

from __future__ import annotations

from pathlib import Path

from ledgerflow.storage.store import Store
from tests.conftest import PRICING
from tests.engine.helpers import publish_text

INPUT = """input:
  type: object
  required: [customer, deal_value, discount_pct]
  properties:
    customer: {type: string, minLength: 1, title: Customer, description: The account as it is named in the CRM}
    deal_value: {type: number, minimum: 0, title: Deal value}
    discount_pct: {type: number, minimum: 0, maximum: 100, title: Discount (%)}
    region: {type: string, enum: [EMEA, Americas, APAC], title: Region}
    contact: {type: string, format: email, title: Contact e-mail}
"""
PRODUCES = """    produces:
      type: object
      required: [deal_sheet_url, justification]
      properties:
        deal_sheet_url: {type: string, minLength: 1, title: Deal sheet link}
        justification: {type: string, title: Why this discount}
"""


def rich_text() -> str:
    text = PRICING.read_text(encoding="utf-8")
    head, rest = text.split("input:\n", 1)
    rest = rest[rest.index("steps:"):]
    text = head.replace("title: Pricing exception approval\n",
                        'title: Pricing exception approval\nsummary: "{customer}: {deal_value} at {discount_pct}%"\n')
    text = text + INPUT + rest
    start = text.index("    produces:\n")
    end = text.index("  - id: completeness")
    return text[:start] + PRODUCES + text[end:]


def publish_rich(store: Store, tmp_path: Path) -> None:
    """Publish the richer pricing exception as the next version of `pricing-exception`."""
    assert publish_text(store, tmp_path, rich_text())["created"]
