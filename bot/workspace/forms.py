"""Validating the /opp config modal (one pipeline's settings, the workspace's rates) and the "Add a pipeline" modal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.deals.forms import _text
from bot.domain.languages import ENGLISH
from bot.domain.money import MAX_RATE, RATE_DECIMALS, read_rate
from bot.domain.stages import AN_OUTCOME, GIVEN_TWICE, ONLY_DIGITS, TOO_LONG, stage_name_problem
from bot.domain.values import (
    MAX_DAYS_RANGE,
    MAX_STAGES,
    N_,
    PIPELINE_DESCRIPTION_MAX,
    PIPELINE_NAME_MAX,
    PROBABILITY_RANGE,
    STAGE_NAME_MAX,
    Invalid,
    Pipeline,
)
from bot.i18n import Translator, translator
from bot.workspace.config import DEFAULT_MAX_DAYS, StageConfig, default_probability


@dataclass(frozen=True)
class StageSettings:
    stage_id: int
    alert_channel: str | None
    alert_usergroup: str | None
    probability: int
    max_days: int


@dataclass(frozen=True)
class WorkspaceSettings:
    pipeline_id: int  # the pipeline whose stages and announcement channels these are
    stages: tuple[StageSettings, ...]
    won_channel: str | None
    lost_channel: str | None
    exchange_rates: tuple[tuple[str, Decimal], ...] = ()  # (currency, one unit in the workspace currency), by code
    name: str | None = None  # the pipeline's new name (None: kept)
    description: str | None = None  # its new description (None: kept)
    retire: bool = False  # retire the pipeline (its stages too; its deals and history stay readable)


@dataclass(frozen=True)
class NewPipeline:
    """The "Add a pipeline" modal: a pipeline with its stages, positioned last."""

    name: str
    description: str
    stages: tuple[StageConfig, ...]
    won_channel: str | None = None
    lost_channel: str | None = None


class SettingsProblem(Invalid):
    """A refused /opp config change, shown under one field of the form (`field`: name, retire, …)."""

    def __init__(self, field: str, message: str, /, **values: object) -> None:
        super().__init__(message, **values)
        self.field = field


def pipeline_block(pipeline_id: int, field: str) -> str:
    """The block id of one of a pipeline's own fields in the config modal: it names the pipeline, so that Slack
    doesn't carry what was typed for one pipeline over to another when the modal is redrawn."""
    return f"pipeline:{pipeline_id}:{field}"


RETIRE = "retire"
KEEP = "keep"


MAX_RATE_LINES = 50
_RATE_LINE = re.compile(r"^\s*([A-Za-z]{3})\s*[=:]?\s*(\S+)\s*$")


def read_rate_lines(raw: str, base: str, *, t: Translator | None = None) -> tuple[tuple[tuple[str, Decimal], ...], str | None]:
    """The rates box: one `EUR 7.82` a line (`EUR = 7.82` and `EUR: 7.82` too); an error names the first wrong line
    (in the reader's language, `t`; English without one)."""
    t = t or translator(ENGLISH)
    rates: dict[str, Decimal] = {}
    lines = [line for line in raw.splitlines() if line.strip()]
    if len(lines) > MAX_RATE_LINES:
        return (), t("At most {n} rates, one a line.", n=MAX_RATE_LINES)
    for line in lines:
        match = _RATE_LINE.match(line)
        shown = line.strip()[:40]
        if not match:
            return (), t("“{line}”: write a currency code and its rate, like “EUR 7.82” (one EUR in {base}).", line=shown, base=base)
        currency, rate = match.group(1).upper(), read_rate(match.group(2))
        if currency == base:
            return (), t("{base} is the workspace currency; it needs no rate.", base=base)
        if rate is None:
            return (), t("“{line}”: the rate must be a positive number under {max} with at most {decimals} decimals.",
                         line=shown, max=t.number(MAX_RATE), decimals=RATE_DECIMALS)
        if currency in rates:
            return (), t("{currency} is given twice; keep one line.", currency=currency)
        rates[currency] = rate
    return tuple(sorted(rates.items())), None


# Slack ids, as long as the columns that hold one allow at most
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,31}$")


_USERGROUP = re.compile(r"^S[A-Z0-9]{2,31}$")


# what a whole-number field says when it is not one, and when it is out of its range
PROBABILITY_PROBLEMS = (N_("Win probability must be a whole number from {low} to {high}."),
                        N_("Win probability must be from {low} to {high}, not {value}."))
MAX_DAYS_PROBLEMS = (N_("Days before stalled must be a whole number from {low} to {high}."),
                     N_("Days before stalled must be from {low} to {high}, not {value}."))


def _whole_number(raw: str, low: int, high: int, problems: tuple[str, str], t: Translator) -> tuple[int | None, str | None]:
    not_whole, out_of_range = problems
    if not re.fullmatch(r"-?[0-9]{1,6}", raw):
        return None, t(not_whole, low=low, high=high)
    value = int(raw)
    if not low <= value <= high:
        return None, t(out_of_range, low=low, high=high, value=value)
    return value, None


def validate_workspace_settings(values: Mapping[str, object], stages: Pipeline, base_currency: str,
                                *, t: Translator) -> tuple[WorkspaceSettings | None, dict[str, str]]:
    """The /opp config modal; errors are keyed by block id (`stage:<id>:probability`, …), in the reader's language."""
    errors: dict[str, str] = {}
    settings = []
    for stage in stages.stages:
        key = f"stage:{stage.id}"
        channel = _text(values, f"{key}:channel") or None
        if channel is not None and not _CHANNEL.match(channel):
            errors[f"{key}:channel"] = t("Pick a channel from the list.")
        group = _text(values, f"{key}:group").upper() or None
        if group is not None and not _USERGROUP.match(group):
            errors[f"{key}:group"] = t("A user group id looks like S0123ABCD (Slack admin → User groups → copy ID).")
        probability, problem = _whole_number(_text(values, f"{key}:probability"), *PROBABILITY_RANGE, PROBABILITY_PROBLEMS, t)
        if problem:
            errors[f"{key}:probability"] = problem
        max_days, problem = _whole_number(_text(values, f"{key}:max_days"), *MAX_DAYS_RANGE, MAX_DAYS_PROBLEMS, t)
        if problem:
            errors[f"{key}:max_days"] = problem
        if probability is not None and max_days is not None:
            settings.append(StageSettings(stage.id, channel, group, probability, max_days))
    outcome = {}
    for key in ("won_channel", "lost_channel"):
        block = pipeline_block(stages.id, key)
        channel = _text(values, block) or None
        if channel is not None and not _CHANNEL.match(channel):
            errors[block] = t("Pick a channel from the list.")
        outcome[key] = channel
    name = description = None
    if (block := pipeline_block(stages.id, "name")) in values:
        name, problem = read_pipeline_name(_text(values, block), t=t)
        if problem:
            errors[block] = problem
    if (block := pipeline_block(stages.id, "description")) in values:
        description = " ".join(_text(values, block).split())
        if len(description) > PIPELINE_DESCRIPTION_MAX:
            errors[block] = t("At most {n} characters.", n=PIPELINE_DESCRIPTION_MAX)
    retire = _text(values, pipeline_block(stages.id, "retire")) == RETIRE
    rates, problem = read_rate_lines(_text(values, "exchange_rates"), base_currency, t=t)
    if problem:
        errors["exchange_rates"] = problem
    if errors:
        return None, errors
    return WorkspaceSettings(stages.id, tuple(settings), outcome["won_channel"], outcome["lost_channel"], rates,
                             name=name, description=description, retire=retire), {}


def read_pipeline_name(raw: str, *, t: Translator) -> tuple[str, str | None]:
    name = " ".join(raw.split())
    if not name:
        return name, t("Give the pipeline a name.")
    if len(name) > PIPELINE_NAME_MAX:
        return name, t("A pipeline's name is at most {n} characters.", n=PIPELINE_NAME_MAX)
    return name, None


NEW_PIPELINE_BLOCKS = ("new_pipeline:name", "new_pipeline:description", "new_pipeline:stages", "new_pipeline:won_channel",
                       "new_pipeline:lost_channel")
_NUMBER = re.compile(r"-?[0-9]{1,6}")


def read_stage_lines(raw: str, *, t: Translator) -> tuple[tuple[StageConfig, ...], str | None]:
    """The stages box of "Add a pipeline": one stage a line, `Name, probability, max days` (`Renewal due, 40, 30`);
    the probability and the days may be left out, with the configuration file's defaults. An error names the line."""
    lines = [line for line in raw.replace("，", ",").splitlines() if line.strip()]
    if not lines:
        return (), t("Give at least one stage, one a line: “Name, probability, max days”.")
    if len(lines) > MAX_STAGES:
        return (), t("At most {n} stages, one a line.", n=MAX_STAGES)
    stages: list[StageConfig] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        shown = clip_line(line)
        parts = [part.strip() for part in line.split(",")]
        if len(parts) > 3:
            return (), t("Line {number} (“{line}”): write “Name, probability, max days”, like “Renewal due, 40, 30”.", number=number, line=shown)
        name = " ".join(parts[0].split())
        if not name:
            return (), t("Line {number} (“{line}”): the stage needs a name.", number=number, line=shown)
        problem = stage_name_problem(name, seen)
        if problem == TOO_LONG:
            return (), t("Line {number}: a stage name is at most {n} characters.", number=number, n=STAGE_NAME_MAX)
        if problem == AN_OUTCOME:
            return (), t("Line {number}: Won and Lost are outcomes, not stages; leave them out.", number=number)
        if problem == ONLY_DIGITS:
            return (), t("Line {number}: a stage name can't be only digits (digits select stages by number).", number=number)
        if problem == GIVEN_TWICE:
            return (), t("Line {number}: the stage “{name}” is given twice.", number=number, name=name)
        seen.add(name.lower())
        probability, max_days = default_probability(len(stages)), DEFAULT_MAX_DAYS
        if len(parts) > 1 and parts[1]:
            value, problem = _line_number(parts[1], PROBABILITY_RANGE, PROBABILITY_PROBLEMS, t)
            if problem:
                return (), t("Line {number} (“{line}”): {problem}", number=number, line=shown, problem=problem)
            assert value is not None
            probability = value
        if len(parts) > 2 and parts[2]:
            value, problem = _line_number(parts[2], MAX_DAYS_RANGE, MAX_DAYS_PROBLEMS, t)
            if problem:
                return (), t("Line {number} (“{line}”): {problem}", number=number, line=shown, problem=problem)
            assert value is not None
            max_days = value
        stages.append(StageConfig(name, probability, max_days))
    return tuple(stages), None


def clip_line(line: str) -> str:
    line = line.strip()
    return line if len(line) <= 60 else line[:59] + "…"


def _line_number(raw: str, bounds: tuple[int, int], problems: tuple[str, str], t: Translator) -> tuple[int | None, str | None]:
    raw = raw.removesuffix("%").strip()
    return _whole_number(raw, bounds[0], bounds[1], problems, t)


def validate_new_pipeline(values: Mapping[str, object], *, t: Translator) -> tuple[NewPipeline | None, dict[str, str]]:
    """The "Add a pipeline" modal; errors keyed by its block ids (NEW_PIPELINE_BLOCKS), in the reader's language."""
    errors: dict[str, str] = {}
    name_block, description_block, stages_block, won_block, lost_block = NEW_PIPELINE_BLOCKS
    name, problem = read_pipeline_name(_text(values, name_block), t=t)
    if problem:
        errors[name_block] = problem
    description = " ".join(_text(values, description_block).split())
    if len(description) > PIPELINE_DESCRIPTION_MAX:
        errors[description_block] = t("At most {n} characters.", n=PIPELINE_DESCRIPTION_MAX)
    stages, problem = read_stage_lines(_text(values, stages_block), t=t)
    if problem:
        errors[stages_block] = problem
    channels = {}
    for block in (won_block, lost_block):
        channel = _text(values, block) or None
        if channel is not None and not _CHANNEL.match(channel):
            errors[block] = t("Pick a channel from the list.")
        channels[block] = channel
    if errors:
        return None, errors
    return NewPipeline(name, description, stages, channels[won_block], channels[lost_block]), {}
