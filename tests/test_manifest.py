"""The Slack app manifest creates an app with everything the code uses."""

from __future__ import annotations

import copy
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
    "views_push": None,
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


# Slack's limits on the manifest's text fields, in characters: (path, at least, at most, required). A `[]` in a
# path is every item of that list. From the app manifest reference (docs.slack.dev/reference/app-manifest and the
# field descriptions Slack's SDKs copy from it), except the shortcut name's: the reference states none, but Slack's
# apps.manifest API rejects one over 24 characters ("must be less than 25 characters").
LIMITS: list[tuple[str, int, int, bool]] = [
    ("display_information.name", 1, 35, True),
    ("display_information.description", 1, 140, False),
    ("display_information.long_description", 174, 4000, False),
    ("features.bot_user.display_name", 1, 80, True),
    ("features.shortcuts[].name", 1, 24, True),
    ("features.shortcuts[].description", 1, 150, True),
    ("features.shortcuts[].callback_id", 1, 255, True),
    ("features.slash_commands[].command", 2, 32, True),
    ("features.slash_commands[].description", 1, 2000, True),
    ("features.slash_commands[].usage_hint", 1, 1000, False),
]
# features.bot_user.display_name: "Allowed characters: a-z, 0-9, -, _, and ."
BOT_NAME = re.compile(r"[a-z0-9._-]+")


def fields(manifest: object, path: str) -> list[tuple[str, object]]:
    """(concrete path, value) of every field a LIMITS path names; a missing field has the value None."""
    found: list[tuple[str, object]] = [("", manifest)]
    for part in path.split("."):
        key, each = part.removesuffix("[]"), part.endswith("[]")
        step: list[tuple[str, object]] = []
        for where, node in found:
            value = node.get(key) if isinstance(node, dict) else None
            here = f"{where}.{key}".lstrip(".")
            if each:
                step += [(f"{here}[{i}]", item) for i, item in enumerate(value or [])]
            else:
                step.append((here, value))
        found = step
    return found


def limit_problems(manifest: object) -> list[str]:
    problems = []
    for path, low, high, required in LIMITS:
        for where, value in fields(manifest, path):
            if value is None:
                if required:
                    problems.append(f"{where} is missing")
            elif not isinstance(value, str):
                problems.append(f"{where} is not a string: {value!r}")
            elif not low <= len(value) <= high:
                problems.append(f"{where} has {len(value)} characters, Slack takes {low} to {high}: {value!r}")
    return problems


def test_every_text_field_is_within_slacks_limits():
    """Slack refuses to create the app from a manifest with a field over its limit: the paste must just work."""
    assert limit_problems(MANIFEST) == []
    assert fields(MANIFEST, "features.shortcuts[].name"), "the manifest has no shortcuts: the paths are wrong"
    assert BOT_NAME.fullmatch(MANIFEST["features"]["bot_user"]["display_name"])


def test_the_limit_check_catches_an_over_long_field():
    """The 31-character shortcut name the manifest once had (issue #16) is refused, as Slack refused it."""
    broken = copy.deepcopy(MANIFEST)
    broken["features"]["shortcuts"][1]["name"] = "Create opportunity from message"
    del broken["features"]["slash_commands"][0]["description"]
    assert limit_problems(broken) == [
        "features.shortcuts[1].name has 31 characters, Slack takes 1 to 24: 'Create opportunity from message'",
        "features.slash_commands[0].description is missing",
    ]


def test_the_usage_hint_is_the_command_registry():
    import handlers  # noqa: F401 - the listeners bind every registered subcommand
    from bot.slack.commands import REGISTRY, usage_hint

    command = MANIFEST["features"]["slash_commands"][0]
    assert command["usage_hint"] == usage_hint(), "manifest.yml's usage_hint is not bot/slack/commands.py's usage_hint()"
    assert len(usage_hint()) <= 1000, "the registry's usage hint is over Slack's limit: shorten what usage_hint() writes"
    assert usage_hint().split(" | ") == list(REGISTRY)


def test_the_command_description_names_every_subcommand():
    from bot.slack.commands import REGISTRY

    words = set(re.findall(r"\w+", MANIFEST["features"]["slash_commands"][0]["description"]))
    assert set(REGISTRY) - words == set(), "the /opp description in manifest.yml leaves these subcommands out"


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
    assert [s.name for s in config.pipelines[0].stages] == ["Prospect", "Solution design", "Technical evaluation", "Negotiation"]
