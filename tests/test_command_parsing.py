"""Unit tests for bot/slack/commands.py (the /opp registry): parsing `/opp` text (pure: no Slack, no database)."""

from __future__ import annotations

import pytest

from bot.slack.commands import (
    HELP_LINES,
    Command,
    CommandError,
    parse,
    parse_mention,
    parse_ref,
)


def error_of(text: str) -> str:
    with pytest.raises(CommandError) as info:
        parse(text)
    return str(info.value)


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "help", "HELP", "help me please"])
def test_empty_or_help_gives_help(text):
    assert parse(text) == Command("help")


def test_help_lines_cover_the_subcommands():
    usages = " ".join(usage for usage, _ in HELP_LINES)
    for sub in ("new", "list", "show", "stage", "won", "lost", "help"):
        assert f"/opp {sub}" in usages


# --------------------------------------------------------------------------- new


def test_new_without_name():
    assert parse("new") == Command("new", text=None)


def test_new_with_a_name_keeps_it_verbatim():
    assert parse("new Big deal name") == Command("new", text="Big deal name")
    assert parse("  NEW   Acme  —  200 seats ") == Command("new", text="Acme  —  200 seats")


def test_new_name_too_long():
    assert parse("new " + "n" * 150).text == "n" * 150
    assert error_of("new " + "n" * 151) == "The name is too long: 151 characters, at most 150."


# --------------------------------------------------------------------------- list


def test_list_plain():
    assert parse("list") == Command("list", stage=None, user_id=None)


def test_list_stage_prefix():
    assert parse("list nego") == Command("list", stage="nego", user_id=None)


def test_list_escaped_user_with_label():
    assert parse("list <@U0REP2|bob>") == Command("list", stage=None, user_id="U0REP2")


def test_list_multi_word_stage_and_user():
    assert parse("list solution design <@U0REP2>") == Command("list", stage="solution design", user_id="U0REP2")
    # the user may come first too
    assert parse("list <@U0REP2> solution design") == Command("list", stage="solution design", user_id="U0REP2")


def test_list_two_users_is_an_error():
    assert error_of("list <@U0REP1> <@U0REP2>") == "Name at most one person: /opp list [stage] [@user]."


@pytest.mark.parametrize("token", ["@bob", "<@bob>", "<@U0REP2"])
def test_list_unescaped_user_is_an_error(token):
    message = error_of(f"list nego {token}")
    assert message == f"“{token}” is not a person Slack recognises; pick them from the @ menu."


def test_parse_mention():
    assert parse_mention("<@U0REP2>") == "U0REP2"
    assert parse_mention("<@W0ENTERPRISE|ann>") == "W0ENTERPRISE"
    assert parse_mention("@bob") is None
    assert parse_mention("<#C0CHAN|general>") is None


# --------------------------------------------------------------------------- show / won


@pytest.mark.parametrize("token", ["OPP-12", "opp-12", "Opp12", "12", "#12"])
def test_show_accepts_the_usual_ways_to_write_an_id(token):
    assert parse(f"show {token}") == Command("show", ref=12)


@pytest.mark.parametrize("token", ["OPP-0", "abc", "OPP-", "OPP-12x", "0", "OPP--12", "1234567890"])
def test_show_bad_id_names_the_token(token):
    assert error_of(f"show {token}") == f"“{token}” is not an opportunity id; write it like OPP-12."


@pytest.mark.parametrize("text", ["show", "show OPP-1 OPP-2"])
def test_show_usage(text):
    assert error_of(text) == "Usage: /opp show OPP-12."


def test_parse_ref():
    assert parse_ref(" OPP-42 ") == 42
    with pytest.raises(CommandError) as info:
        parse_ref("OPP-0")
    assert "OPP-0" in str(info.value)


def test_won():
    assert parse("won OPP-3") == Command("won", ref=3)
    assert error_of("won") == "Usage: /opp won OPP-12."
    assert error_of("won OPP-3 yay") == "Usage: /opp won OPP-12."
    assert error_of("won deal") == "“deal” is not an opportunity id; write it like OPP-12."


# --------------------------------------------------------------------------- stage


def test_stage_multi_word():
    assert parse("stage OPP-3 technical eval") == Command("stage", ref=3, stage="technical eval")


def test_stage_by_number():
    assert parse("stage opp-3 2") == Command("stage", ref=3, stage="2")


@pytest.mark.parametrize("text", ["stage", "stage OPP-3"])
def test_stage_usage(text):
    assert error_of(text) == "Usage: /opp stage OPP-12 <stage>."


def test_stage_bad_ref():
    assert error_of("stage negotiation OPP-3") == "“negotiation” is not an opportunity id; write it like OPP-12."


# --------------------------------------------------------------------------- lost


def test_lost_keeps_the_reason_verbatim():
    assert parse("lost OPP-3 too expensive, chose X") == Command("lost", ref=3, text="too expensive, chose X")
    assert parse("lost OPP-3   price:  2x  budget ") == Command("lost", ref=3, text="price:  2x  budget")


def test_lost_without_reason():
    assert error_of("lost OPP-3") == "Say why it was lost: /opp lost OPP-12 <reason>."
    assert error_of("lost") == "Usage: /opp lost OPP-12 <reason>."


def test_lost_reason_too_long():
    assert parse("lost OPP-3 " + "r" * 500).text == "r" * 500
    assert error_of("lost OPP-3 " + "r" * 501) == "The reason is too long: 501 characters, at most 500."


def test_lost_bad_ref():
    assert error_of("lost expensive OPP-3") == "“expensive” is not an opportunity id; write it like OPP-12."


# --------------------------------------------------------------------------- unknown


def test_unknown_subcommand_names_it():
    assert error_of("frobnicate OPP-3") == "I don't know the subcommand “frobnicate”."


def test_unknown_subcommand_keeps_its_case_and_is_clipped():
    assert error_of("Frob") == "I don't know the subcommand “Frob”."
    assert error_of("x" * 100) == f"I don't know the subcommand “{'x' * 40}”."


def test_command_error_is_a_value_error():
    assert issubclass(CommandError, ValueError)
