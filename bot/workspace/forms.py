"""Validating the /opp config modal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.deals.forms import _text
from bot.domain.languages import ENGLISH
from bot.domain.money import MAX_RATE, RATE_DECIMALS, read_rate
from bot.domain.values import MAX_DAYS_RANGE, N_, PROBABILITY_RANGE, Pipeline
from bot.i18n import Translator, translator


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
        channel = _text(values, key) or None
        if channel is not None and not _CHANNEL.match(channel):
            errors[key] = t("Pick a channel from the list.")
        outcome[key] = channel
    rates, problem = read_rate_lines(_text(values, "exchange_rates"), base_currency, t=t)
    if problem:
        errors["exchange_rates"] = problem
    if errors:
        return None, errors
    return WorkspaceSettings(stages.id, tuple(settings), outcome["won_channel"], outcome["lost_channel"], rates), {}
