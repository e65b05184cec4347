"""Unit tests for bot/workspace/config.py: the OPPBOT_CONFIG TOML file (pure: no Slack, no database)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from bot.workspace.config import (
    DEFAULT_STAGES,
    ConfigError,
    StageConfig,
    TeamConfig,
    WorkspaceConfig,
    load_config,
    parse_config,
)

# The example from /work/shared/PRODUCT.md, verbatim.
PRODUCT_EXAMPLE = """\
[workspace]
currency = "USD"                      # default currency of new opportunities
timezone = "Asia/Shanghai"            # fallback when a user's Slack time zone is unknown
admins = ["U0ADMIN"]                  # Slack user ids; Slack workspace admins count too
industries = ["Healthcare", "Finance", "Manufacturing", "Retail", "Technology"]
regions = ["North", "South", "East", "West"]
company_sizes = ["1-50", "51-500", "501-5000", "5000+"]

[[stages]]                            # open stages, in order
name = "Prospect"
probability = 10                      # percent, 0-100
max_days = 14                         # longer in this stage = stalled

[[stages]]
name = "Solution design"
probability = 30
max_days = 21
alert_channel = "C0SOLUTIONS"         # id or "#name"
alert_usergroup = "S0SOLUTIONS"       # mentioned as <!subteam^S0SOLUTIONS>

[outcomes]
won_channel = "#wins"
lost_channel = "C0SALESOPS"

[[teams]]
name = "East"
manager = "U0MGR"
members = ["U0REP1", "U0REP2"]
channel = "C0EAST"                    # optional: the digest is posted here too
digest = "30 8 * * 1-5"               # cron, in the team's time zone
timezone = "Asia/Shanghai"
"""


def toml(text: str) -> str:
    """Dedent a config snippet; line 1 is the first line after the opening quotes."""
    return textwrap.dedent(text).lstrip("\n")


def error_of(text: str, source: str = "x.toml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(toml(text), source)
    return str(info.value)


# --------------------------------------------------------------------------- defaults


def test_default_stage_model():
    assert [(s.name, s.probability, s.alert_channel) for s in DEFAULT_STAGES] == [
        ("Prospect", 10, None),
        ("Solution design", 30, "#solutions"),
        ("Technical evaluation", 50, "#engineering"),
        ("Negotiation", 80, None),
    ]
    assert all(s.alert_usergroup is None for s in DEFAULT_STAGES)
    assert all(s.max_days >= 1 for s in DEFAULT_STAGES)


def test_no_file_gives_the_defaults():
    config = load_config(None)
    assert config == WorkspaceConfig()
    assert config.pipelines[0].stages == DEFAULT_STAGES
    assert config.currency == "USD"
    assert config.timezone == "UTC"
    assert config.admins == ()
    assert config.teams == ()
    assert config.pipelines[0].won_channel is None and config.pipelines[0].lost_channel is None
    assert config.source == "<defaults>"


def test_empty_file_gives_the_defaults_with_its_source():
    config = parse_config("", "empty.toml")
    assert config.pipelines[0].stages == DEFAULT_STAGES
    assert config.currency == "USD"
    assert config.source == "empty.toml"


def test_config_is_frozen():
    config = WorkspaceConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.currency = "EUR"  # type: ignore[misc]  # the assignment the test expects to be refused


# --------------------------------------------------------------------------- the product example


def test_product_example_parses_with_the_right_values():
    config = parse_config(PRODUCT_EXAMPLE, "oppbot.toml")
    assert config.source == "oppbot.toml"
    assert config.currency == "USD"
    assert config.timezone == "Asia/Shanghai"
    assert config.admins == ("U0ADMIN",)
    assert config.industries == ("Healthcare", "Finance", "Manufacturing", "Retail", "Technology")
    assert config.regions == ("North", "South", "East", "West")
    assert config.company_sizes == ("1-50", "51-500", "501-5000", "5000+")
    assert config.pipelines[0].stages == (
        StageConfig("Prospect", 10, 14),
        StageConfig("Solution design", 30, 21, alert_channel="C0SOLUTIONS", alert_usergroup="S0SOLUTIONS"),
    )
    assert config.pipelines[0].won_channel == "#wins"
    assert config.pipelines[0].lost_channel == "C0SALESOPS"
    assert config.teams == (
        TeamConfig(name="East", manager="U0MGR", members=("U0REP1", "U0REP2"), channel="C0EAST",
                   digest="30 8 * * 1-5", timezone="Asia/Shanghai"),
    )


def test_load_config_reads_a_file_and_names_it(tmp_path: Path):
    path = tmp_path / "oppbot.toml"
    path.write_text(PRODUCT_EXAMPLE, encoding="utf-8")
    config = load_config(path)
    assert config.source == str(path)
    assert [s.name for s in config.pipelines[0].stages] == ["Prospect", "Solution design"]


def test_load_config_errors_name_the_file_path(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text('[workspace]\ncurrency = "usd"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2: workspace.currency: ")


def test_load_config_missing_file_is_a_config_error(tmp_path: Path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: cannot read")


def test_stage_defaults_for_missing_probability_and_max_days():
    config = parse_config(toml("""
        [[stages]]
        name = "A"
        [[stages]]
        name = "B"
        [[stages]]
        name = "C"
    """))
    assert [(s.probability, s.max_days) for s in config.pipelines[0].stages] == [(10, 30), (20, 30), (30, 30)]


def test_string_values_are_trimmed():
    config = parse_config(toml("""
        [workspace]
        currency = " EUR "
        [[stages]]
        name = "  Discovery  "
    """))
    assert config.currency == "EUR"
    assert config.pipelines[0].stages[0].name == "Discovery"


# --------------------------------------------------------------------------- unknown keys


def test_unknown_top_level_key():
    message = error_of("""
        colour = "red"
        [workspace]
        currency = "USD"
    """)
    assert message == "x.toml:1: colour: unknown key (allowed: assignment, exchange_rates, outcomes, pipelines, stages, teams, workspace)"


@pytest.mark.parametrize("text, line, key", [
    ('[wrkspace]\ncurrency = "USD"\n', 1, "wrkspace"),
    ('[workspace]\ncurrency = "USD"\n\n[[stage]]\nname = "A"\n', 4, "stage"),
], ids=["[wrkspace]", "[[stage]]"])
def test_unknown_top_level_table_names_its_line(text, line, key):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.toml")
    assert str(info.value).startswith(f"x.toml:{line}: {key}: unknown key")


def test_unknown_key_in_workspace():
    message = error_of("""
        [workspace]
        currency = "USD"
        colour = "red"
    """)
    assert message == ("x.toml:3: workspace.colour: unknown key "
                       "(allowed: admins, company_sizes, currency, industries, language, regions, timezone)")


def test_unknown_key_in_a_stage_names_stage_index_and_line():
    message = error_of("""
        [workspace]
        currency = "USD"

        [[stages]]
        name = "Prospect"
        colour = "blue"

        [[stages]]
        name = "Demo"
        probability = 30
        colour = "red"
    """)
    assert message == ("x.toml:6: stages[1].colour: unknown key "
                       "(allowed: alert_channel, alert_usergroup, max_days, name, probability)")

    message = error_of("""
        [[stages]]
        name = "Prospect"

        [[stages]]
        name = "Demo"
        probability = 30
        colour = "red"
    """)
    # the line of the key inside the second [[stages]] table
    assert message == ("x.toml:7: stages[2].colour: unknown key "
                       "(allowed: alert_channel, alert_usergroup, max_days, name, probability)")


def test_unknown_key_in_a_team():
    message = error_of("""
        [[teams]]
        name = "East"
        manager = "U0MGR"

        [[teams]]
        name = "West"
        manager = "U0MGR2"
        lead = "U0LEAD"
    """)
    assert message == ("x.toml:8: teams[2].lead: unknown key "
                       "(allowed: auto_assign, channel, digest, manager, members, name, pipeline, routing_channel, timezone)")


def test_unknown_key_in_outcomes():
    message = error_of("""
        [outcomes]
        won_channel = "#wins"
        draw_channel = "#draws"
    """)
    assert message == "x.toml:3: outcomes.draw_channel: unknown key (allowed: lost_channel, won_channel)"


# --------------------------------------------------------------------------- stages


def test_duplicate_stage_is_case_insensitive():
    message = error_of("""
        [[stages]]
        name = "Prospect"

        [[stages]]
        name = "Demo"

        [[stages]]
        name = "PROSPECT"
    """)
    assert message == "x.toml:8: stages[3].name: duplicate stage 'PROSPECT'"


@pytest.mark.parametrize("value", [150, -1, 101])
def test_probability_out_of_range(value):
    message = error_of(f"""
        [[stages]]
        name = "Prospect"
        probability = 10

        [[stages]]
        name = "Demo"
        probability = {value}
    """)
    assert message == f"x.toml:7: stages[2].probability: must be between 0 and 100, got {value}"


def test_probability_example_from_the_brief():
    message = error_of("""
        [workspace]
        currency = "USD"

        [[stages]]
        name = "Prospect"
        probability = 150
    """)
    assert message == "x.toml:6: stages[1].probability: must be between 0 and 100, got 150"


@pytest.mark.parametrize("value", [0, 100])
def test_probability_bounds_are_inclusive(value):
    config = parse_config(f'[[stages]]\nname = "A"\nprobability = {value}\n')
    assert config.pipelines[0].stages[0].probability == value


def test_max_days_zero():
    message = error_of("""
        [[stages]]
        name = "Prospect"
        max_days = 0
    """)
    assert message == "x.toml:3: stages[1].max_days: must be between 1 and 3650, got 0"


@pytest.mark.parametrize("raw, shown", [('"50"', "'50'"), ("50.5", "50.5"), ("true", "True")])
def test_probability_must_be_a_whole_number(raw, shown):
    message = error_of(f"""
        [[stages]]
        name = "Prospect"
        probability = {raw}
    """)
    assert message == f"x.toml:3: stages[1].probability: must be a whole number, got {shown}"


@pytest.mark.parametrize("name", ["Won", "lost", " LOST "])
def test_won_and_lost_are_not_stages(name):
    message = error_of(f"""
        [[stages]]
        name = "Prospect"
        [[stages]]
        name = "{name}"
    """)
    assert message == "x.toml:4: stages[2].name: Won and Lost are outcomes, not stages; leave them out"


def test_stage_name_only_digits_is_refused():
    message = error_of("""
        [[stages]]
        name = "2024"
    """)
    assert message.startswith("x.toml:2: stages[1].name: a stage name can't be only digits")


def test_stage_name_too_long():
    message = error_of(f"""
        [[stages]]
        name = "{'x' * 41}"
    """)
    assert message == "x.toml:2: stages[1].name: must be at most 40 characters"


def test_empty_stage_list():
    message = error_of("""
        stages = []
    """)
    assert message == "x.toml:1: stages: needs at least one stage"


def test_too_many_stages():
    text = "".join(f'[[stages]]\nname = "S{i}"\n' for i in range(21))
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.toml")
    assert "stages: at most 20 stages are supported" in str(info.value)


def test_missing_stage_name_names_the_key():
    message = error_of("""
        [[stages]]
        name = "Prospect"
        [[stages]]
        probability = 5
    """)
    assert message == "x.toml:3: stages[2].name: is required"


def test_missing_team_manager_names_the_key():
    message = error_of("""
        [[teams]]
        name = "East"
    """)
    assert message == "x.toml:1: teams[1].manager: is required"


# --------------------------------------------------------------------------- channels, user groups


@pytest.mark.parametrize("value", ["general", "C0 X", "#General", "c0abc", "#"])
def test_bad_alert_channel(value):
    message = error_of(f"""
        [[stages]]
        name = "Prospect"
        alert_channel = "{value}"
    """)
    assert message == ("x.toml:3: stages[1].alert_channel: must be a channel id like C0123ABCD "
                       f"or a #channel-name, got {value!r}")


@pytest.mark.parametrize("value", ["#solutions", "#eng-team_1.x", "C0SOLUTIONS", "G0PRIVATE"])
def test_channel_ids_and_names_are_accepted(value):
    config = parse_config(f'[[stages]]\nname = "A"\nalert_channel = "{value}"\n')
    assert config.pipelines[0].stages[0].alert_channel == value


def test_bad_outcome_channel():
    message = error_of("""
        [outcomes]
        won_channel = "#wins"
        lost_channel = "sales ops"
    """)
    assert message == ("x.toml:3: outcomes.lost_channel: must be a channel id like C0123ABCD "
                       "or a #channel-name, got 'sales ops'")


def test_bad_team_channel():
    message = error_of("""
        [[teams]]
        name = "East"
        manager = "U0MGR"
        channel = "east"
    """)
    assert message == ("x.toml:4: teams[1].channel: must be a channel id like C0123ABCD "
                       "or a #channel-name, got 'east'")


@pytest.mark.parametrize("value", ["U0SOLUTIONS", "solutions", "@solutions"])
def test_bad_user_group(value):
    message = error_of(f"""
        [[stages]]
        name = "Prospect"
        alert_usergroup = "{value}"
    """)
    assert message == f"x.toml:3: stages[1].alert_usergroup: must be a user group id like S0123ABCD, got {value!r}"


# --------------------------------------------------------------------------- workspace values


@pytest.mark.parametrize("value", ["Mars/Olympus", "Shanghai", "/etc/localtime"])
def test_bad_workspace_timezone(value):
    message = error_of(f"""
        [workspace]
        timezone = "{value}"
    """)
    assert message == (f"x.toml:2: workspace.timezone: unknown time zone {value!r} "
                       "(use an IANA name like Asia/Shanghai)")


@pytest.mark.parametrize("value", ["Asia", "America"])
def test_timezone_that_is_a_region_directory_is_a_config_error(value):
    message = error_of(f"""
        [workspace]
        timezone = "{value}"
    """)
    assert message == (f"x.toml:2: workspace.timezone: unknown time zone {value!r} "
                       "(use an IANA name like Asia/Shanghai)")


def test_bad_team_timezone():
    message = error_of("""
        [[teams]]
        name = "East"
        manager = "U0MGR"
        timezone = "Asia/Atlantis"
    """)
    assert message == ("x.toml:4: teams[1].timezone: unknown time zone 'Asia/Atlantis' "
                       "(use an IANA name like Asia/Shanghai)")


@pytest.mark.parametrize("value", ["usd", "US", "USDT", "U5D"])
def test_bad_currency(value):
    message = error_of(f"""
        [workspace]
        currency = "{value}"
    """)
    assert message == f"x.toml:2: workspace.currency: must be a 3-letter ISO currency code like USD, got {value!r}"


@pytest.mark.parametrize("raw, detail", [
    ('["U0ADMIN", "bob"]', "entries must be Slack user ids like U0123ABCD, got 'bob'"),
    ('["<@U0ADMIN>"]', "entries must be Slack user ids like U0123ABCD, got '<@U0ADMIN>'"),
    ('"U0ADMIN"', "must be a list of non-empty strings"),
    ('["U0ADMIN", "U0ADMIN"]', "duplicate entry 'U0ADMIN'"),
])
def test_admins_must_be_user_ids(raw, detail):
    message = error_of(f"""
        [workspace]
        currency = "USD"
        admins = {raw}
    """)
    assert message == f"x.toml:3: workspace.admins: {detail}"


def test_empty_industry_list_is_refused():
    message = error_of("""
        [workspace]
        industries = []
    """)
    assert message == "x.toml:2: workspace.industries: must not be empty (leave the key out for the defaults)"


def test_workspace_must_be_a_table():
    message = error_of("""
        workspace = "x"
    """)
    assert message == "x.toml:1: workspace: must be a table ([workspace])"


# --------------------------------------------------------------------------- teams


def test_duplicate_team_is_case_insensitive():
    message = error_of("""
        [[teams]]
        name = "East"
        manager = "U0MGR"

        [[teams]]
        name = "east"
        manager = "U0MGR2"
    """)
    assert message == "x.toml:6: teams[2].name: duplicate team 'east'"


def test_a_rep_belongs_to_one_team():
    message = error_of("""
        [[teams]]
        name = "East"
        manager = "U0MGR"
        members = ["U0REP1", "U0REP2"]

        [[teams]]
        name = "West"
        manager = "U0MGR2"
        members = ["U0REP3", "U0REP2"]
    """)
    assert message == ("x.toml:9: teams[2].members: U0REP2 is already a member of team 'East'; "
                       "a rep belongs to one team")


def test_team_manager_must_be_a_user_id():
    message = error_of("""
        [[teams]]
        name = "East"
        manager = "boss"
    """)
    assert message == "x.toml:3: teams[1].manager: must be a Slack user id like U0123ABCD, got 'boss'"


@pytest.mark.parametrize("cron", ["61 8 * * *", "every morning", "* * * * * *", "30 25 * * 1-5"])
def test_bad_cron(cron):
    message = error_of(f"""
        [[teams]]
        name = "East"
        manager = "U0MGR"
        digest = "{cron}"
    """)
    assert message.startswith("x.toml:4: teams[1].digest: must be a cron expression like '30 8 * * 1-5' (")


def test_team_digest_default():
    config = parse_config('[[teams]]\nname = "East"\nmanager = "U0MGR"\n')
    assert config.teams[0].digest == "30 8 * * 1-5"
    assert config.teams[0].members == ()
    assert config.teams[0].timezone is None


# --------------------------------------------------------------------------- TOML syntax


def test_invalid_toml_syntax_names_file_and_line():
    message = error_of("""
        [workspace]
        currency = "USD"
        timezone =
    """)
    assert message.startswith("x.toml: not valid TOML: ")
    assert "line 3" in message


def test_duplicate_key_is_invalid_toml():
    message = error_of("""
        [workspace]
        currency = "USD"
        currency = "EUR"
    """)
    assert message.startswith("x.toml: not valid TOML: ")
    assert "line 3" in message


def test_the_workspace_language():
    assert parse_config('[workspace]\nlanguage = "zh-CN"\n', "x.toml").language == "zh-CN"
    assert parse_config("", "x.toml").language == "en"
    assert error_of('[workspace]\nlanguage = "chinese"\n') == (
        "x.toml:2: workspace.language: must be \"en\" or \"zh-CN\", got 'chinese'")


def test_the_built_in_stage_model_is_named_in_the_workspace_language():
    chinese = parse_config('[workspace]\nlanguage = "zh-CN"\n', "x.toml")
    assert [(s.name, s.probability, s.max_days) for s in chinese.pipelines[0].stages] == [
        ("初步接触", 10, 14), ("方案设计", 30, 21), ("技术评估", 50, 30), ("商务谈判", 80, 21)]
    assert [s.name for s in parse_config('[workspace]\nlanguage = "en"\n', "x.toml").pipelines[0].stages] == [s.name for s in DEFAULT_STAGES]
    assert (chinese.regions[:3], chinese.industries[0]) == (("华北", "华东", "华南"), "医疗")
    assert [p.name for p in chinese.pipelines] == ["销售"]
    # stages the file names are kept as they are, whatever the language
    assert [s.name for s in parse_config('[workspace]\nlanguage = "zh-CN"\n[[stages]]\nname = "Prospect"\n', "x.toml").pipelines[0].stages] == ["Prospect"]


# ----- several pipelines ------------------------------------------------------------------------------

def test_three_pipelines_with_their_stages_channels_and_teams():
    from tests.support import THREE_PIPELINES_CONFIG

    config = parse_config(THREE_PIPELINES_CONFIG, "three.toml")
    assert [(p.name, len(p.stages)) for p in config.pipelines] == [("New business", 5), ("Renewals", 3), ("Partners", 4)]
    assert config.pipelines[1].description == "Existing customers renewing" and config.pipelines[1].won_channel == "#renewals"
    assert [(t.name, t.pipeline) for t in config.teams] == [("East", None), ("Accounts", "Renewals")]


def test_outcomes_are_the_channels_of_the_pipelines_that_name_none():
    config = parse_config("""
[outcomes]
won_channel = "#wins"
lost_channel = "C0LOST"

[[pipelines]]
name = "A"
lost_channel = "#a-lost"
[[pipelines.stages]]
name = "One"

[[pipelines]]
name = "B"
[[pipelines.stages]]
name = "One"
""", "x.toml")
    assert [(p.won_channel, p.lost_channel) for p in config.pipelines] == [("#wins", "#a-lost"), ("#wins", "C0LOST")]


def test_a_team_names_its_pipeline_ignoring_case():
    config = parse_config("""
[[pipelines]]
name = "New business"
[[pipelines.stages]]
name = "One"
[[pipelines]]
name = "Renewals"
[[pipelines.stages]]
name = "Due"
[[teams]]
name = "Accounts"
manager = "U0MGR"
pipeline = "renewals"
""", "x.toml")
    assert config.teams[0].pipeline == "Renewals"


PIPELINES_WITH_A_BAD_STAGE = """\
[workspace]
currency = "USD"

[[pipelines]]
name = "New business"

[[pipelines.stages]]
name = "Prospect"

[[pipelines]]
name = "Renewals"

[[pipelines.stages]]
name = "Due"

[[pipelines.stages]]
name = "Quote"

[[pipelines.stages]]
name = "Negotiation"
probability = 150
"""


@pytest.mark.parametrize("text, message", [
    (PIPELINES_WITH_A_BAD_STAGE, "x.toml:21: pipelines[2].stages[3].probability: must be between 0 and 100, got 150"),
    (PIPELINES_WITH_A_BAD_STAGE.replace('name = "Quote"', 'name = "due"'), "x.toml:17: pipelines[2].stages[2].name: duplicate stage 'due'"),
    (PIPELINES_WITH_A_BAD_STAGE.replace('name = "Quote"', 'name = "Won"'),
     "x.toml:17: pipelines[2].stages[2].name: Won and Lost are outcomes, not stages; leave them out"),
    (PIPELINES_WITH_A_BAD_STAGE.replace('name = "Renewals"', 'name = "new BUSINESS"'),
     "x.toml:11: pipelines[2].name: duplicate pipeline 'new BUSINESS'"),
    (PIPELINES_WITH_A_BAD_STAGE.replace('[[pipelines]]\nname = "Renewals"', '[[pipelines]]\nname = "Renewals"\ncolour = "red"'),
     "x.toml:12: pipelines[2].colour: unknown key (allowed: description, lost_channel, name, stages, won_channel)"),
    (PIPELINES_WITH_A_BAD_STAGE.replace('[[pipelines.stages]]\nname = "Prospect"\n', ''),
     "x.toml:4: pipelines[1].stages: needs its stages ([[pipelines.stages]] tables after it)"),
    ('[[pipelines]]\nname = "A"\n[[pipelines.stages]]\nname = "One"\n[[stages]]\nname = "Two"\n',
     "x.toml:5: stages: give the stages inside each [[pipelines]] ([[pipelines.stages]]), not also at the top level"),
    ('[[pipelines]]\nname = "A"\n[[pipelines.stages]]\nname = "One"\n[[teams]]\nname = "East"\nmanager = "U0MGR"\npipeline = "Renewals"\n',
     "x.toml:8: teams[1].pipeline: no pipeline is named 'Renewals' (pipelines: A)"),
    ('[[pipelines]]\ndescription = "no name"\n[[pipelines.stages]]\nname = "One"\n', "x.toml:1: pipelines[1].name: is required"),
    ('[[pipelines]]\nname = "' + "x" * 41 + '"\n[[pipelines.stages]]\nname = "One"\n', "x.toml:2: pipelines[1].name: must be at most 40 characters"),
    ("".join(f'[[pipelines]]\nname = "P{i}"\n[[pipelines.stages]]\nname = "One"\n' for i in range(21)),
     "x.toml:1: pipelines: at most 20 pipelines are supported"),
])
def test_pipeline_errors_name_the_pipeline_the_stage_and_the_line(text, message):
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "x.toml")
    assert str(raised.value) == message


def test_export_round_trips_several_pipelines():
    from bot.workspace.config import to_toml
    from tests.support import THREE_PIPELINES_CONFIG

    config = parse_config(THREE_PIPELINES_CONFIG, "three.toml")
    config = dataclasses.replace(config, pipelines=(
        dataclasses.replace(config.pipelines[0], description='Quotes "and" lines\\ too', lost_channel="C0LOST"), *config.pipelines[1:]))
    written = to_toml(config)
    assert written.count("[[pipelines]]") == 3 and written.count("[[pipelines.stages]]") == 12 and "[[stages]]" not in written
    again = parse_config(written, "three.toml")
    assert again == config
    assert parse_config(to_toml(again), "three.toml") == again
    # the old form reads as one pipeline, and is written in the new form
    old = parse_config('[[stages]]\nname = "Prospect"\n[outcomes]\nwon_channel = "#wins"\n', "old.toml")
    assert parse_config(to_toml(old), "old.toml") == old and "[[pipelines]]\nname = \"Sales\"" in to_toml(old)
