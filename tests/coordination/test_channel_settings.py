"""The settings of the e-mail links and the Slack app (SPEC §13), read from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ledgerflow.domain.errors import InvalidInput
from ledgerflow.ops.config import load_settings


def test_links_expire_after_72_hours_unless_set_and_slack_needs_both_its_secrets(tmp_path: Path) -> None:
    none = tmp_path / "absent.toml"
    default = load_settings({}, none)
    assert default.action_link_ttl == timedelta(hours=72) and not default.slack_app
    assert default.slack_api_url == "https://slack.com/api/" and "slack-app" not in default.channels
    set_ = load_settings({"LEDGERFLOW_ACTION_LINK_TTL": "2d", "LEDGERFLOW_SLACK_BOT_TOKEN": "xoxb-1",
                          "LEDGERFLOW_SLACK_SIGNING_SECRET": "s", "LEDGERFLOW_SLACK_API_URL": "http://127.0.0.1:9/api"},
                         none)
    assert set_.action_link_ttl == timedelta(days=2) and set_.slack_app and "slack-app" in set_.channels
    assert set_.slack_api_url == "http://127.0.0.1:9/api/"
    assert not load_settings({"LEDGERFLOW_SLACK_BOT_TOKEN": "xoxb-1"}, none).slack_app


@pytest.mark.parametrize("value", ["soon", "0h", "-1h"])
def test_a_link_expiry_that_is_not_a_positive_duration_is_bad_config(tmp_path: Path, value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_settings({"LEDGERFLOW_ACTION_LINK_TTL": value}, tmp_path / "absent.toml")
    assert info.value.rule == "bad-config"
