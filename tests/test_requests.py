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


@pytest.mark.parametrize("metadata", ["not json", "[1, 2]", "", "null", 5, None, ["x"], {"opp": 1}, "[" * 5000])
def test_private_metadata_that_is_not_an_object_reads_as_empty(metadata):
    request = requests.submission({"team": {"id": "T1"}, "user": {"id": "U1"}, "view": {"private_metadata": metadata}})
    assert request.metadata == {}


@pytest.mark.parametrize("body", [{}, {"team": {"id": "T1"}}, {"user": {"id": "U1"}}, {"team": "T1", "user": "U1"},
                                  {"team_id": "", "user_id": "U1"}, {"team": {"id": 5}, "user": {"id": "U1"}},
                                  {"team": {"id": "T1"}, "user": {"id": "U1\x00"}}, {"team": {"id": "T1"}, "user": {"id": "U" * 40}},
                                  {"team": {"id": "T 1"}, "user": {"id": "U1"}}, {"team": ["T1"], "user": {"id": "U1"}}])
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


@pytest.mark.parametrize(("raw", "read"), [
    ("call\x00 me", "call me"), ("a\x01\x02\x03\x04\x05\x06\x07\x08b", "ab"), ("tab\tand\nline", "tab\tand\nline"),
    ("crlf\r\nline", "crlf\nline"), ("lone\rcr", "lonecr"), ("\x0b\x0c\x0e\x1b[31m\x1f", "[31m"), ("del\x7f", "del"),
    ("lone \ud800 surrogate", "lone  surrogate"), ("ＯＰＰ－１ 😀 \u200b\xa0\x85", "ＯＰＰ－１ 😀 \u200b\xa0\x85"), ("", ""),
    (5, ""), (None, ""), (["x"], ""), ({"text": "x"}, ""),
])
def test_typed_text_drops_the_control_characters_no_one_means_to_store(raw, read):
    assert requests.typed_text(raw) == read


def test_every_text_a_person_typed_is_read_without_control_characters():
    who = {"team": {"id": "T1"}, "user": {"id": "U1"}}
    assert requests.command({"team_id": "T1", "user_id": "U1", "text": "lost OPP-1 too\x00 dear\r\n"}).text == "lost OPP-1 too dear\n"
    assert requests.shortcut({**who, "message": {"text": "call\x1b me\x7f", "ts": "1.5"}}).message_text == "call me"
    view = {"state": {"values": {
        "name": {"value": {"type": "plain_text_input", "value": "Ac\x00me"}},
        "stage": {"value": {"type": "static_select", "selected_option": {"value": "4\x00"}}},
        "owner": {"value": {"type": "users_select", "selected_user": "U2\x08"}},
    }}}
    assert requests.submission({**who, "view": view}).values == {"name": "Acme", "stage": "4", "owner": "U2"}
    assert requests.action({**who, "actions": [{"action_id": "card_won", "value": "3\x00"}]}).value == "3"


@pytest.mark.parametrize("view", [
    None, "view", [], {"state": None}, {"state": "state"}, {"state": []}, {"state": {"values": None}}, {"state": {"values": []}},
    {"state": {"values": "values"}}, {"state": {"values": 5}},
])
def test_a_view_whose_state_is_not_an_object_has_no_values(view):
    assert requests.form_values(view) == {}
    assert requests.submission({"team": {"id": "T1"}, "user": {"id": "U1"}, "view": view}).values == {}


def test_entries_of_the_wrong_shape_or_type_read_as_not_filled_in():
    view = {"blocks": "blocks", "state": {"values": {
        "a": "not an object", "b": ["x"], "c": {"value": "not an element"}, "d": {"value": {"type": "plain_text_input", "value": 5}},
        "e": {"value": {"type": "plain_text_input", "value": ["x"]}}, "f": {"value": {"type": "static_select", "selected_option": "4"}},
        "g": {"value": {"type": "static_select", "selected_option": {"value": {"v": 1}}}}, "h": {"value": {"type": "users_select", "selected_user": 7}},
        "i": {"value": {"type": "datepicker", "selected_date": 20261224}}, "j": {"value": {"type": "mystery", "value": "x"}},
        "k": {"value": {"type": ["plain_text_input"], "value": "x"}}, "l": {"value": {"type": "radio_buttons", "selected_option": None}},
    }}}
    request = requests.submission({"team": {"id": "T1"}, "user": {"id": "U1"}, "view": view})
    assert request.values == dict.fromkeys("defghijkl")
    assert request.input_blocks == ()


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (42, 42), (0, None), (-1, None), (10**12, None), (10**30, None), (True, None),
                                                 (1.0, None), ("1", None), (None, None), ([1], None)])
def test_a_database_id_from_form_metadata_is_read_not_trusted(value, expected):
    assert requests.metadata_id(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("https://hooks.slack.com/actions/T1/1/x", "https://hooks.slack.com/actions/T1/1/x"), ("http://127.0.0.1:9/response/r1", "http://127.0.0.1:9/response/r1"),
    ("not a url", None), ("javascript:alert(1)", None), ("file:///etc/passwd", None), ("https://", None), ("https://x/\x00", None),
    ("https://x/ y", None), (5, None), (None, None), ("https://x/" + "a" * 3000, None),
])
def test_a_response_url_from_form_metadata_is_read_not_trusted(value, expected):
    assert requests.web_url(value) == expected
