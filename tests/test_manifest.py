"""The Slack app manifest creates an app with everything the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from slack_sdk import WebClient

from bot.slack.ids import FROM_MESSAGE_SHORTCUT, NEW_SHORTCUT

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API method (as slack_sdk spells it) -> the bot scope it needs (None: the method needs none).
SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_open": "im:write",
    "conversations_join": "channels:join",
    "conversations_info": "channels:read",
    "conversations_list": "groups:read",
    "conversations_history": "channels:history",  # and groups:, im:, mpim:history: see the test below
    "users_info": "users:read",
    "files_upload_v2": "files:write",
    "usergroups_list": "usergroups:read",
    "chat_getPermalink": None,
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "auth_test": None,
    "apps_connections_open": None,  # with the app-level token and its connections:write (manifest.yml's header), no bot scope
}
# WebClient's Web API methods (chat_postMessage, views_open, …), as opposed to its plumbing.
API_METHODS = {name for name in dir(WebClient) if re.fullmatch(r"[a-z]+(?:_[a-zA-Z0-9]+)+", name) and not name.startswith("api_")}


def source_text() -> str:
    return "\n".join(p.read_text() for folder in ("bot", "handlers") for p in (ROOT / folder).rglob("*.py"))


def test_every_web_api_method_used_has_its_scope():
    used = set(re.findall(r"\.(\w+)\(", source_text())) & API_METHODS
    assert {"chat_postMessage", "views_open", "users_info"} <= used, "the scan found no Web API calls"
    unknown = used - set(SCOPES)
    assert not unknown, f"Web API methods used without a known scope (add them to SCOPES and the manifest): {sorted(unknown)}"
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {SCOPES[m] for m in used if SCOPES[m]} <= scopes
    assert "commands" in scopes


def test_the_bot_reads_the_history_of_every_kind_of_conversation_it_posts_in():
    """A delivery whose post got no answer is looked for in its conversation (bot/slack/gateway.py): a
    public or private channel, a DM or a group DM, each with its own history scope."""
    assert {"channels:history", "groups:history", "im:history", "mpim:history"} <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_the_scope_check_fails_on_a_method_it_does_not_know():
    """A new Web API call without its scope in the table is caught, not ignored."""
    used = set(re.findall(r"\.(\w+)\(", "client.reminders_add(text='x')")) & API_METHODS
    assert used == {"reminders_add"} and used - set(SCOPES) == {"reminders_add"}


def test_the_usage_hint_is_the_command_registry():
    import handlers  # noqa: F401 - the listeners bind every registered subcommand
    from bot.slack.commands import REGISTRY, usage_hint

    command = MANIFEST["features"]["slash_commands"][0]
    assert command["usage_hint"] == usage_hint()
    assert all(f"{name}" in command["usage_hint"] for name in REGISTRY)


def test_command_shortcuts_events_and_interactivity():
    features, settings = MANIFEST["features"], MANIFEST["settings"]
    command = features["slash_commands"][0]
    assert command["command"] == "/opp" and command["should_escape"] is True
    assert {s["callback_id"]: s["type"] for s in features["shortcuts"]} == {NEW_SHORTCUT: "global", FROM_MESSAGE_SHORTCUT: "message"}
    assert features["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert settings["interactivity"]["is_enabled"] is True
    for url in (command["url"], settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]):
        assert url.endswith("/slack/events")


def test_env_example_lists_every_key_with_a_comment():
    lines = (ROOT / ".env.example").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)]
    assert set(keys) == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DATABASE_URL",
                         "OPPBOT_CONFIG", "OPPBOT_TICK_SECONDS", "PORT", "LOG_LEVEL"}
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            assert lines[index - 1].startswith("#"), f"{line} has no comment above it"
    settings_source = (ROOT / "bot" / "settings.py").read_text()
    for key in keys:
        assert f'"{key}"' in settings_source, f"{key} is documented but never read"


def test_example_config_parses():
    from bot.workspace.config import load_config

    config = load_config(ROOT / "oppbot.example.toml")
    assert [s.name for s in config.stages] == ["Prospect", "Solution design", "Technical evaluation", "Negotiation"]
