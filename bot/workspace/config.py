"""Workspace configuration (OPPBOT_CONFIG, TOML): pipelines and their stages, outcomes, teams, admins, lists.

Every key is optional and unknown keys are errors. A problem is reported with the file, the
line (when it can be located) and the key, e.g. ``oppbot.toml:14: stages[2].probability: must be
between 0 and 100, got 150``.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.domain.cron import trigger as cron_trigger
from bot.domain.languages import LANGUAGES
from bot.domain.money import MAX_RATE, RATE_DECIMALS, ExchangeRate, read_rate
from bot.domain.stages import AN_OUTCOME, GIVEN_TWICE, ONLY_DIGITS, stage_name_problem
from bot.domain.timezones import is_zone
from bot.domain.values import (
    MAX_DAYS_RANGE,
    MAX_PIPELINES,
    MAX_STAGES,
    PIPELINE_DESCRIPTION_MAX,
    PIPELINE_NAME_MAX,
    PROBABILITY_RANGE,
    STAGE_NAME_MAX,
)

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
USERGROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
_LANGUAGE = re.compile("^(" + "|".join(re.escape(code) for code in LANGUAGES) + ")$")
LIST_ITEM_MAX = 60


# Common names that are not ISO 4217 codes, and the code meant.
_CURRENCY_ALIASES = {"RMB": "CNY", "NTD": "TWD", "YEN": "JPY", "UKP": "GBP", "STG": "GBP", "SFR": "CHF"}


def not_iso_currency(code: str) -> str | None:
    """Why `code` is not an ISO 4217 currency code (Babel's list), or None when it is one."""
    from babel.numbers import list_currencies

    if code in list_currencies():
        return None
    hint = f" (for {code} use {_CURRENCY_ALIASES[code]})" if code in _CURRENCY_ALIASES else ""
    return f"{code!r} is not an ISO 4217 currency code{hint}"


class ConfigError(ValueError):
    """A configuration problem; str() is one line naming file, line, key and what is wrong."""


@dataclass(frozen=True)
class StageConfig:
    name: str
    probability: int
    max_days: int
    alert_channel: str | None = None
    alert_usergroup: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    stages: tuple[StageConfig, ...]
    description: str = ""
    won_channel: str | None = None
    lost_channel: str | None = None


@dataclass(frozen=True)
class TeamConfig:
    name: str
    manager: str
    members: tuple[str, ...] = ()
    channel: str | None = None
    digest: str = "30 8 * * 1-5"
    timezone: str | None = None
    auto_assign: bool = False
    routing_channel: str | None = None
    pipeline: str | None = None  # the name of the team's default pipeline; None: the first


@dataclass(frozen=True)
class AssignmentConfig:
    """How suggestions weigh a rep's record on similar deals, their speed, and their current load."""

    window_days: int = 365
    win_rate: float = 0.5
    cycle: float = 0.2
    load: float = 0.3


# The name of the one pipeline a file with top-level [[stages]] (or none) describes, by the workspace's language.
DEFAULT_PIPELINE_NAMES = {"en": "Sales", "zh-CN": "销售"}


@dataclass(frozen=True)
class WorkspaceConfig:
    currency: str = "USD"
    timezone: str = "UTC"
    language: str = "en"  # "en" | "zh-CN"
    admins: tuple[str, ...] = ()
    industries: tuple[str, ...] = ("Healthcare", "Finance", "Manufacturing", "Retail", "Technology", "Public sector", "Other")
    regions: tuple[str, ...] = ("North", "South", "East", "West")
    company_sizes: tuple[str, ...] = ("1-50", "51-500", "501-5000", "5000+")
    pipelines: tuple[PipelineConfig, ...] = field(default_factory=lambda: (PipelineConfig(DEFAULT_PIPELINE_NAMES["en"], DEFAULT_STAGES),))
    teams: tuple[TeamConfig, ...] = ()
    assignment: AssignmentConfig = field(default_factory=AssignmentConfig)
    exchange_rates: tuple[ExchangeRate, ...] = ()  # into `currency`
    source: str = "<defaults>"


DEFAULT_STAGES: tuple[StageConfig, ...] = (
    StageConfig("Prospect", 10, 14),
    StageConfig("Solution design", 30, 21, alert_channel="#solutions"),
    StageConfig("Technical evaluation", 50, 30, alert_channel="#engineering"),
    StageConfig("Negotiation", 80, 21),
)

# The same model for a workspace in Chinese (`[workspace] language = "zh-CN"` and no [[stages]]).
DEFAULT_STAGES_ZH: tuple[StageConfig, ...] = (
    StageConfig("初步接触", 10, 14),
    StageConfig("方案设计", 30, 21, alert_channel="#solutions"),
    StageConfig("技术评估", 50, 30, alert_channel="#engineering"),
    StageConfig("商务谈判", 80, 21),
)
DEFAULT_STAGES_BY_LANGUAGE = {"en": DEFAULT_STAGES, "zh-CN": DEFAULT_STAGES_ZH}

# The form's built-in choices for a workspace in Chinese (the English ones are WorkspaceConfig's defaults).
DEFAULT_CHOICES_ZH = {
    "industries": ("医疗", "金融", "制造业", "零售", "科技", "政府及公共事业", "其他"),
    "regions": ("华北", "华东", "华南", "华中", "西南", "西北", "东北"),
    "company_sizes": ("1-50 人", "51-500 人", "501-5000 人", "5000 人以上"),
}

_WORKSPACE_KEYS = {"currency", "timezone", "language", "admins", "industries", "regions", "company_sizes"}
_STAGE_KEYS = {"name", "probability", "max_days", "alert_channel", "alert_usergroup"}
_OUTCOME_KEYS = {"won_channel", "lost_channel"}
_TEAM_KEYS = {"name", "manager", "members", "channel", "digest", "timezone", "auto_assign", "routing_channel", "pipeline"}
_PIPELINE_KEYS = {"name", "description", "won_channel", "lost_channel", "stages"}
_ASSIGNMENT_KEYS = {"window_days", "win_rate", "cycle", "load"}
_RATE_KEYS = {"rate", "set_on"}
_TOP_KEYS = {"workspace", "pipelines", "stages", "outcomes", "teams", "assignment", "exchange_rates"}
MAX_RATES = 50


class _Locator:
    """Finds the line of a key in the TOML text, so errors point at it (tomllib has no positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, table: str | None, index: int | None, key: str | None) -> int | None:
        start, end = 0, len(self.lines)
        if table is not None:
            header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]" if index is not None else rf"^\s*\[\s*{re.escape(table)}\s*\]")
            seen = -1
            found = None
            for number, line in enumerate(self.lines):
                if header.match(line):
                    seen += 1
                    if index is None or seen == index:
                        found = number
                        break
            if found is None:
                return None
            start = found
            end = next((n for n in range(found + 1, len(self.lines)) if re.match(r"^\s*\[", self.lines[n])), len(self.lines))
            if key is None:
                return start + 1
        if key is None:
            return None
        pattern = re.compile(rf"^\s*(\"?{re.escape(key)}\"?\s*=|\[\[?\s*{re.escape(key)}\s*\]\]?)")
        for number in range(start, end):
            if pattern.match(self.lines[number]):
                return number + 1
        return start + 1 if table is not None else None


class _Reader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.locator = _Locator(text)

    def fail(self, message: str, table: str | None = None, index: int | None = None, key: str | None = None) -> ConfigError:
        line = self.locator.line_of(table, index, key)
        where = f"{self.source}:{line}" if line else self.source
        path = table or ""
        if index is not None:
            path += f"[{index + 1}]"
        if key:
            path = f"{path}.{key}" if path else key
        return ConfigError(f"{where}: {path}: {message}" if path else f"{where}: {message}")

    def check_keys(self, data: dict, allowed: set[str], table: str | None, index: int | None = None) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(f"unknown key (allowed: {', '.join(sorted(allowed))})", table, index, key)

    def string(self, data: dict, key: str, table: str | None, index: int | None = None, *, required: bool = False,
               pattern: re.Pattern | None = None, what: str = "", max_len: int = 200) -> str | None:
        if key not in data:
            if required:
                raise self.fail("is required", table, index, key)
            return None
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail("must be a non-empty string", table, index, key)
        value = value.strip()
        if len(value) > max_len:
            raise self.fail(f"must be at most {max_len} characters", table, index, key)
        if pattern is not None and not pattern.match(value):
            raise self.fail(f"must be {what}, got {value!r}", table, index, key)
        return value

    def integer(self, data: dict, key: str, table: str, index: int | None, low: int, high: int, default: int) -> int:
        if key not in data:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"must be a whole number, got {value!r}", table, index, key)
        if not low <= value <= high:
            raise self.fail(f"must be between {low} and {high}, got {value}", table, index, key)
        return value

    def string_list(self, data: dict, key: str, table: str | None, index: int | None = None, *,
                    pattern: re.Pattern | None = None, what: str = "", max_items: int = 100) -> tuple[str, ...] | None:
        if key not in data:
            return None
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail("must be a list of non-empty strings", table, index, key)
        items = tuple(v.strip() for v in value)
        if len(items) > max_items:
            raise self.fail(f"must have at most {max_items} entries", table, index, key)
        seen: set[str] = set()
        for item in items:
            if pattern is not None and not pattern.match(item):
                raise self.fail(f"entries must be {what}, got {item!r}", table, index, key)
            if len(item) > LIST_ITEM_MAX:
                raise self.fail(f"entries must be at most {LIST_ITEM_MAX} characters, got {item!r}", table, index, key)
            if item.lower() in seen:
                raise self.fail(f"duplicate entry {item!r}", table, index, key)
            seen.add(item.lower())
        return items

    def boolean(self, data: dict, key: str, table: str, index: int) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"must be true or false, got {value!r}", table, index, key)
        return value

    def weight(self, data: dict, key: str) -> float:
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
            raise self.fail(f"must be a number from 0 to 10, got {value!r}", "assignment", None, key)
        return float(value)

    def timezone(self, data: dict, key: str, table: str | None, index: int | None = None) -> str | None:
        value = self.string(data, key, table, index)
        if value is None:
            return None
        if not is_zone(value):
            raise self.fail(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)", table, index, key)
        return value


CHANNEL_WHAT = "a channel id like C0123ABCD or a #channel-name"


def parse_config(text: str, source: str = "<config>") -> WorkspaceConfig:
    reader = _Reader(source, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    reader.check_keys(data, _TOP_KEYS, None)

    values: dict[str, Any] = {"source": source}
    workspace = data.get("workspace", {})
    if not isinstance(workspace, dict):
        raise reader.fail("must be a table ([workspace])", None, None, "workspace")
    reader.check_keys(workspace, _WORKSPACE_KEYS, "workspace")
    currency = reader.string(workspace, "currency", "workspace", pattern=CURRENCY, what="a 3-letter ISO currency code like USD")
    if currency and (problem := not_iso_currency(currency)):
        raise reader.fail(problem, "workspace", None, "currency")
    if currency:
        values["currency"] = currency
    tz = reader.timezone(workspace, "timezone", "workspace")
    if tz:
        values["timezone"] = tz
    language = reader.string(workspace, "language", "workspace", pattern=_LANGUAGE, what=" or ".join(f'"{code}"' for code in LANGUAGES))
    if language:
        values["language"] = language
    admins = reader.string_list(workspace, "admins", "workspace", pattern=USER_ID, what="Slack user ids like U0123ABCD")
    if admins is not None:
        values["admins"] = admins
    for key in ("industries", "regions", "company_sizes"):
        items = reader.string_list(workspace, key, "workspace")
        if items is not None:
            if not items:
                raise reader.fail("must not be empty (leave the key out for the defaults)", "workspace", None, key)
            values[key] = items

    language_now = values.get("language", WorkspaceConfig.language)
    if values.get("language") == "zh-CN":
        for key, choices in DEFAULT_CHOICES_ZH.items():
            values.setdefault(key, choices)

    outcomes = data.get("outcomes", {})
    if not isinstance(outcomes, dict):
        raise reader.fail("must be a table ([outcomes])", None, None, "outcomes")
    reader.check_keys(outcomes, _OUTCOME_KEYS, "outcomes")
    announce = {key: reader.string(outcomes, key, "outcomes", pattern=_CHANNEL, what=CHANNEL_WHAT) for key in ("won_channel", "lost_channel")}

    pipelines_data = data.get("pipelines")
    if pipelines_data is not None:
        if "stages" in data:
            raise reader.fail("give the stages inside each [[pipelines]] ([[pipelines.stages]]), not also at the top level", None, None, "stages")
        if not isinstance(pipelines_data, list) or not all(isinstance(p, dict) for p in pipelines_data):
            raise reader.fail("must be an array of tables ([[pipelines]])", None, None, "pipelines")
        if not pipelines_data:
            raise reader.fail("needs at least one pipeline", None, None, "pipelines")
        if len(pipelines_data) > MAX_PIPELINES:
            raise reader.fail(f"at most {MAX_PIPELINES} pipelines are supported", None, None, "pipelines")
        pipelines = []
        pipeline_names: set[str] = set()
        for i, pipeline in enumerate(pipelines_data):
            reader.check_keys(pipeline, _PIPELINE_KEYS, "pipelines", i)
            name = reader.string(pipeline, "name", "pipelines", i, required=True, max_len=PIPELINE_NAME_MAX)
            assert name is not None
            if name.casefold() in pipeline_names:
                raise reader.fail(f"duplicate pipeline {name!r}", "pipelines", i, "name")
            pipeline_names.add(name.casefold())
            if "stages" not in pipeline:
                raise reader.fail("needs its stages ([[pipelines.stages]] tables after it)", "pipelines", i, "stages")
            pipelines.append(PipelineConfig(
                name=name,
                description=reader.string(pipeline, "description", "pipelines", i, max_len=PIPELINE_DESCRIPTION_MAX) or "",
                stages=_stages(reader, pipeline["stages"], i),
                won_channel=reader.string(pipeline, "won_channel", "pipelines", i, pattern=_CHANNEL, what=CHANNEL_WHAT) or announce["won_channel"],
                lost_channel=reader.string(pipeline, "lost_channel", "pipelines", i, pattern=_CHANNEL, what=CHANNEL_WHAT) or announce["lost_channel"],
            ))
        values["pipelines"] = tuple(pipelines)
    else:
        # today's form: top-level [[stages]] (or the built-in ones) and [outcomes] are the one pipeline
        stages_data = data.get("stages")
        stages = DEFAULT_STAGES_BY_LANGUAGE[language_now] if stages_data is None else _stages(reader, stages_data, None)
        values["pipelines"] = (PipelineConfig(DEFAULT_PIPELINE_NAMES[language_now], stages, won_channel=announce["won_channel"],
                                              lost_channel=announce["lost_channel"]),)

    teams_data = data.get("teams")
    if teams_data is not None:
        if not isinstance(teams_data, list) or not all(isinstance(t, dict) for t in teams_data):
            raise reader.fail("must be an array of tables ([[teams]])", None, None, "teams")
        teams = []
        team_names: set[str] = set()
        member_of: dict[str, str] = {}
        for i, team in enumerate(teams_data):
            reader.check_keys(team, _TEAM_KEYS, "teams", i)
            name = reader.string(team, "name", "teams", i, required=True, max_len=60)
            assert name is not None
            if name.lower() in team_names:
                raise reader.fail(f"duplicate team {name!r}", "teams", i, "name")
            team_names.add(name.lower())
            manager = reader.string(team, "manager", "teams", i, required=True, pattern=USER_ID, what="a Slack user id like U0123ABCD")
            assert manager is not None
            members = reader.string_list(team, "members", "teams", i, pattern=USER_ID, what="Slack user ids like U0123ABCD") or ()
            for member in members:
                if member in member_of:
                    raise reader.fail(f"{member} is already a member of team {member_of[member]!r}; a rep belongs to one team", "teams", i, "members")
                member_of[member] = name
            digest = reader.string(team, "digest", "teams", i) or "30 8 * * 1-5"
            try:
                cron_trigger(digest, None)
            except ValueError as exc:
                raise reader.fail(f"must be a cron expression like '30 8 * * 1-5' ({exc})", "teams", i, "digest") from None
            teams.append(TeamConfig(
                name=name,
                manager=manager,
                members=members,
                channel=reader.string(team, "channel", "teams", i, pattern=_CHANNEL, what=CHANNEL_WHAT),
                digest=digest,
                timezone=reader.timezone(team, "timezone", "teams", i),
                auto_assign=reader.boolean(team, "auto_assign", "teams", i),
                routing_channel=reader.string(team, "routing_channel", "teams", i, pattern=_CHANNEL, what=CHANNEL_WHAT),
                pipeline=_team_pipeline(reader, team, i, values["pipelines"]),
            ))
        values["teams"] = tuple(teams)

    assignment = data.get("assignment", {})
    if not isinstance(assignment, dict):
        raise reader.fail("must be a table ([assignment])", None, None, "assignment")
    reader.check_keys(assignment, _ASSIGNMENT_KEYS, "assignment")
    weights = {key: reader.weight(assignment, key) for key in ("win_rate", "cycle", "load") if key in assignment}
    if weights and sum({**asdict(AssignmentConfig()), **weights}[k] for k in ("win_rate", "cycle", "load")) <= 0:
        raise reader.fail("the weights win_rate, cycle and load can't all be 0", "assignment", None, "win_rate")
    window = reader.integer(assignment, "window_days", "assignment", None, 7, 3650, default=365)
    values["assignment"] = AssignmentConfig(window_days=window, **weights)

    values["exchange_rates"] = _exchange_rates(reader, data.get("exchange_rates", {}), values.get("currency", WorkspaceConfig.currency))
    return WorkspaceConfig(**values)


def _stages(reader: _Reader, stages_data: object, pipeline_index: int | None) -> tuple[StageConfig, ...]:
    """A pipeline's open stages: the top-level [[stages]] (pipeline_index None), or a [[pipelines]]'s
    [[pipelines.stages]]; errors name the stage as `stages[n]` or `pipelines[m].stages[n]`, with its line."""
    if pipeline_index is None:
        reader_of, table, outer = reader, "stages", None
    else:
        reader_of, table, outer = _NestedReader(reader, pipeline_index), "pipelines.stages", "pipelines"
    if not isinstance(stages_data, list) or not all(isinstance(s, dict) for s in stages_data):
        raise reader.fail(f"must be an array of tables ([[{table}]])", outer, pipeline_index, "stages")
    if not stages_data:
        raise reader.fail("needs at least one stage", outer, pipeline_index, "stages")
    if len(stages_data) > MAX_STAGES:
        raise reader.fail(f"at most {MAX_STAGES} stages are supported", outer, pipeline_index, "stages")
    stages = []
    seen_names: set[str] = set()
    for i, stage in enumerate(stages_data):
        reader_of.check_keys(stage, _STAGE_KEYS, table, i)
        name = reader_of.string(stage, "name", table, i, required=True, max_len=STAGE_NAME_MAX)
        assert name is not None
        problem = stage_name_problem(name, seen_names)  # its length was checked as it was read
        if problem == AN_OUTCOME:
            raise reader_of.fail("Won and Lost are outcomes, not stages; leave them out", table, i, "name")
        if problem == ONLY_DIGITS:
            raise reader_of.fail("a stage name can't be only digits (digits select stages by number)", table, i, "name")
        if problem == GIVEN_TWICE:
            raise reader_of.fail(f"duplicate stage {name!r}", table, i, "name")
        seen_names.add(name.lower())
        stages.append(StageConfig(
            name=name,
            probability=reader_of.integer(stage, "probability", table, i, *PROBABILITY_RANGE, default=default_probability(i)),
            max_days=reader_of.integer(stage, "max_days", table, i, *MAX_DAYS_RANGE, default=DEFAULT_MAX_DAYS),
            alert_channel=reader_of.string(stage, "alert_channel", table, i, pattern=_CHANNEL, what=CHANNEL_WHAT),
            alert_usergroup=reader_of.string(stage, "alert_usergroup", table, i, pattern=USERGROUP_ID, what="a user group id like S0123ABCD"),
        ))
    return tuple(stages)


DEFAULT_MAX_DAYS = 30


def default_probability(index: int) -> int:
    """The win probability of the stage at `index` (from 0) that gives none: 10 %, 20 %, … up to 90 %."""
    return min(90, 10 * (index + 1))


class _NestedReader(_Reader):
    """Reads one pipeline's [[pipelines.stages]]: stage i of pipeline m is the file's k-th such header for
    finding its line, and is named `pipelines[m].stages[i]` in errors."""

    def __init__(self, outer: _Reader, pipeline_index: int) -> None:
        self.source = outer.source
        self.locator = outer.locator
        self.pipeline_index = pipeline_index

    def fail(self, message: str, table: str | None = None, index: int | None = None, key: str | None = None) -> ConfigError:
        line = self.locator.line_of("pipelines.stages", _nested_index(self.locator.lines, self.pipeline_index, index or 0), key)
        where = f"{self.source}:{line}" if line else self.source
        path = f"pipelines[{self.pipeline_index + 1}].stages[{(index or 0) + 1}]" + (f".{key}" if key else "")
        return ConfigError(f"{where}: {path}: {message}")


def _nested_index(lines: list[str], pipeline_index: int, stage_index: int) -> int:
    """Which `[[pipelines.stages]]` header of the file, counted from 0, opens stage `stage_index` of pipeline `pipeline_index`."""
    pipeline_seen, nested_seen, in_pipeline = -1, 0, 0
    for line in lines:
        if re.match(r"^\s*\[\[\s*pipelines\s*\]\]", line):
            pipeline_seen += 1
        elif re.match(r"^\s*\[\[\s*pipelines\.stages\s*\]\]", line):
            if pipeline_seen == pipeline_index:
                if in_pipeline == stage_index:
                    return nested_seen
                in_pipeline += 1
            nested_seen += 1
    return nested_seen


def _team_pipeline(reader: _Reader, team: dict, i: int, pipelines: tuple[PipelineConfig, ...]) -> str | None:
    name = reader.string(team, "pipeline", "teams", i, max_len=PIPELINE_NAME_MAX)
    if name is None:
        return None
    for pipeline in pipelines:
        if pipeline.name.casefold() == name.casefold():
            return pipeline.name
    raise reader.fail(f"no pipeline is named {name!r} (pipelines: {', '.join(p.name for p in pipelines)})", "teams", i, "pipeline")


def _exchange_rates(reader: _Reader, table: object, base: str) -> tuple[ExchangeRate, ...]:
    """[exchange_rates]: EUR = { rate = 7.82, set_on = 2026-11-30 } — one unit of EUR in the workspace currency."""
    if not isinstance(table, dict):
        raise reader.fail("must be a table ([exchange_rates])", None, None, "exchange_rates")
    if len(table) > MAX_RATES:
        raise reader.fail(f"at most {MAX_RATES} rates are supported", None, None, "exchange_rates")
    rates = []
    for currency, entry in table.items():
        if not CURRENCY.match(currency):
            raise reader.fail(f"a rate's key must be a 3-letter ISO currency code like EUR, got {currency!r}", "exchange_rates", None, currency)
        if problem := not_iso_currency(currency):
            raise reader.fail(problem, "exchange_rates", None, currency)
        if currency == base:
            raise reader.fail(f"{currency} is the workspace currency; it needs no rate", "exchange_rates", None, currency)
        if not isinstance(entry, dict):
            raise reader.fail(f"must be {{ rate = 7.82, set_on = 2026-11-30 }}: one {currency} in {base}, and the day it was set",
                              "exchange_rates", None, currency)
        for key in entry:
            if key not in _RATE_KEYS:
                raise reader.fail(f"unknown key {key!r} (allowed: {', '.join(sorted(_RATE_KEYS))})", "exchange_rates", None, currency)
        rate = read_rate(entry.get("rate"))
        if rate is None:
            raise reader.fail(f"rate must be a positive number under {MAX_RATE:,} with at most {RATE_DECIMALS} decimals, "
                              f"got {entry.get('rate')!r}", "exchange_rates", None, currency)
        set_on = entry.get("set_on")
        if isinstance(set_on, str):
            try:
                set_on = date.fromisoformat(set_on)
            except ValueError:
                pass
        if isinstance(set_on, datetime) or not isinstance(set_on, date):
            raise reader.fail(f"set_on must be the date the rate was set, like 2026-11-30, got {set_on!r}", "exchange_rates", None, currency)
        rates.append(ExchangeRate(currency, rate, set_on))
    return tuple(sorted(rates, key=lambda r: r.currency))


_CHANNEL = re.compile(f"{CHANNEL_ID.pattern}|{CHANNEL_NAME.pattern}")


def load_config(path: Path | None) -> WorkspaceConfig:
    if path is None:
        return WorkspaceConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path))


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"can't write {value!r} as TOML")


def to_toml(config: WorkspaceConfig) -> str:
    """The configuration as an OPPBOT_CONFIG file; `parse_config` reads it back to the same values."""
    lines = ["# oppbot workspace configuration, exported with `oppbot config --export`.", "", "[workspace]"]
    for key in ("currency", "timezone", "language", "admins", "industries", "regions", "company_sizes"):
        lines.append(f"{key} = {_toml_value(getattr(config, key))}")
    for pipeline in config.pipelines:
        lines += ["", "[[pipelines]]", f"name = {_toml_value(pipeline.name)}"]
        if pipeline.description:
            lines.append(f"description = {_toml_value(pipeline.description)}")
        if pipeline.won_channel:
            lines.append(f"won_channel = {_toml_value(pipeline.won_channel)}")
        if pipeline.lost_channel:
            lines.append(f"lost_channel = {_toml_value(pipeline.lost_channel)}")
        for stage in pipeline.stages:
            lines += ["", "[[pipelines.stages]]", f"name = {_toml_value(stage.name)}", f"probability = {stage.probability}",
                      f"max_days = {stage.max_days}"]
            if stage.alert_channel:
                lines.append(f"alert_channel = {_toml_value(stage.alert_channel)}")
            if stage.alert_usergroup:
                lines.append(f"alert_usergroup = {_toml_value(stage.alert_usergroup)}")
    for team in config.teams:
        lines += ["", "[[teams]]", f"name = {_toml_value(team.name)}", f"manager = {_toml_value(team.manager)}",
                  f"members = {_toml_value(list(team.members))}", f"digest = {_toml_value(team.digest)}"]
        if team.channel:
            lines.append(f"channel = {_toml_value(team.channel)}")
        if team.timezone:
            lines.append(f"timezone = {_toml_value(team.timezone)}")
        if team.auto_assign:
            lines.append("auto_assign = true")
        if team.routing_channel:
            lines.append(f"routing_channel = {_toml_value(team.routing_channel)}")
        if team.pipeline:
            lines.append(f"pipeline = {_toml_value(team.pipeline)}")
    a = config.assignment
    lines += ["", "[assignment]", f"window_days = {a.window_days}", f"win_rate = {a.win_rate}", f"cycle = {a.cycle}", f"load = {a.load}"]
    if config.exchange_rates:
        lines += ["", f"[exchange_rates]  # one unit of each currency in {config.currency}"]
        lines += [f'{r.currency} = {{ rate = "{r.rate:f}", set_on = {r.set_on.isoformat()} }}' for r in config.exchange_rates]
    return "\n".join(lines) + "\n"
