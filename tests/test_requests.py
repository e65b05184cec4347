"""Slack payloads parsed once into typed requests (bot/slack/requests.py). Pure: no Slack, no database."""

from __future__ import annotations

import json

import pytest

from bot.slack import requests


def test_a_slash_command_names_its_team_user_channel_trigger_and_text():
    request = requests.command({"team_id": "T1", "user_id": "U1", "channel_id": "C1", "trigger_id": "t", "response_url": "https://r",
                                "text": "stage OPP-1 nego"})
    assert (request.team_id, request.user_id, request.channel_id, request.trigger_id, request.response_url, request.text) == (
        "T1", "U1", "C1", "t", "https://r", "stage OPP-1 nego")


def test_a_click_on_a_message_a_select_and_a_click_on_the_app_home():
    on_card = requests.action({"team": {"id": "T1"}, "user": {"id": "U1"}, "trigger_id": "t", "response_url": "https://r",
                               "container": {"type": "message", "channel_id": "C1", "message_ts": "1.2", "is_ephemeral": False},
                               "actions": [{"action_id": "card_won", "block_id": "card:3", "value": "3"}]})
    assert (on_card.action_id, on_card.value, on_card.block_id, on_card.channel_id, on_card.message_ts) == ("card_won", "3", "card:3", "C1", "1.2")
    assert on_card.in_message and not on_card.in_home
    chosen = requests.action({"team": {"id": "T1"}, "user": {"id": "U1"}, "container": {"type": "message", "is_ephemeral": True},
                              "channel": {"id": "C2"}, "actions": [{"action_id": "card_stage_select", "selected_option": {"value": "3:7"}}]})
    assert (chosen.value, chosen.channel_id, chosen.is_ephemeral, chosen.in_message) == ("3:7", "C2", True, False)
    home = requests.action({"team": {"id": "T1"}, "user": {"id": "U1"}, "container": {"type": "view"}, "view": {"type": "home"},
                            "actions": [{"action_id": "follow_up_done", "value": "9"}]})
    assert home.in_home and not home.in_message and home.response_url is None


def test_a_submission_flattens_the_form_and_reads_its_metadata():
    view = {"callback_id": "new_opportunity", "private_metadata": json.dumps({"channel": "C1"}),
            "blocks": [{"type": "section"}, {"type": "input", "block_id": "name"}, {"type": "input", "block_id": "owner"}],
            "state": {"values": {"name": {"value": {"type": "plain_text_input", "value": "Acme"}},
                                 "owner": {"value": {"type": "users_select", "selected_user": "U2"}},
                                 "stage": {"value": {"type": "static_select", "selected_option": {"value": "4"}}},
                                 "close_date": {"value": {"type": "datepicker", "selected_date": "2026-12-24"}}}}}
    request = requests.submission({"team": {"id": "T1"}, "user": {"id": "U1"}, "view": view})
    assert request.values == {"name": "Acme", "owner": "U2", "stage": "4", "close_date": "2026-12-24"}
    assert request.metadata == {"channel": "C1"} and request.input_blocks == ("name", "owner") and request.callback_id == "new_opportunity"


@pytest.mark.parametrize("metadata", ["not json", "[1, 2]", ""])
def test_private_metadata_that_is_not_an_object_reads_as_empty(metadata):
    request = requests.submission({"team": {"id": "T1"}, "user": {"id": "U1"}, "view": {"private_metadata": metadata}})
    assert request.metadata == {}


@pytest.mark.parametrize("body", [{}, {"team": {"id": "T1"}}, {"user": {"id": "U1"}}, {"team": "T1", "user": "U1"},
                                  {"team_id": "", "user_id": "U1"}, {"team": {"id": 5}, "user": {"id": "U1"}}])
def test_a_payload_without_a_team_or_a_user_is_malformed(body):
    with pytest.raises(requests.Malformed):
        requests.action(body)


def test_a_shortcut_and_the_app_home_event():
    shortcut = requests.shortcut({"team": {"id": "T1"}, "user": {"id": "U1"}, "callback_id": "opportunity_from_message",
                                  "channel": {"id": "C1"}, "message": {"text": "call me", "ts": "1.5"}})
    assert (shortcut.channel_id, shortcut.message_text, shortcut.message_ts) == ("C1", "call me", "1.5")
    assert requests.home_opened({"user": "U1", "tab": "home"}, "T1").tab == "home"
    with pytest.raises(requests.Malformed):
        requests.home_opened({"tab": "home"}, "T1")


@pytest.mark.parametrize(("value", "expected"), [("C0SALES", "C0SALES"), ("G0PRIV", "G0PRIV"), ("DU0REP1", "DU0REP1"), ("#sales", None),
                                                 ({"id": "C1"}, None), (None, None), ("C0SALES x", None), ("U0REP1", None)])
def test_a_conversation_id_from_form_metadata_is_read_not_trusted(value, expected):
    assert requests.conversation_id(value) == expected
