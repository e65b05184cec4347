"""The admins' /opp config modal."""

from __future__ import annotations

from bot.domain.money import Rates
from bot.domain.values import (
    Pipeline,
)
from bot.i18n import Translator
from bot.slack.blocks import VIEW_BLOCKS, VIEW_TITLE, _input, _text_input, clip, plain
from bot.slack.ids import CONFIG_MODAL


def config_modal(stages: Pipeline, *, won_channel: str | None, lost_channel: str | None, rates: Rates, t: Translator) -> dict:
    """/opp config: per stage its alert channel, user group, win probability and max days; won / lost channels;
    the exchange rates into the workspace currency."""

    def channel_select(initial: str | None) -> dict:
        element: dict = {"type": "conversations_select", "action_id": "value", "placeholder": plain(t("No alerts")),
                         "filter": {"include": ["public", "private"], "exclude_bot_users": True}}
        if initial and not initial.startswith("#"):
            element["initial_conversation"] = initial
        return element

    blocks: list[dict] = []
    for number, stage in enumerate(stages.stages, start=1):
        prefix = f"{number}. {clip(stage.name, 30)}"
        blocks.append(_input(f"stage:{stage.id}:channel", t("{stage} · alert channel", stage=prefix),
                             channel_select(stage.alert_channel_id or stage.alert_channel), optional=True))
        blocks.append(_input(f"stage:{stage.id}:group", t("{stage} · user group to mention", stage=prefix),
                             _text_input("value", max_length=20, initial=stage.alert_usergroup, placeholder="S0123ABCD"), optional=True))
        blocks.append(_input(f"stage:{stage.id}:probability", t("{stage} · win probability (%)", stage=prefix),
                             _text_input("value", max_length=5, initial=str(stage.probability))))
        blocks.append(_input(f"stage:{stage.id}:max_days", t("{stage} · stalled after (days)", stage=prefix),
                             _text_input("value", max_length=5, initial=str(stage.max_days))))
    blocks.append(_input("won_channel", t("Announce won deals in"), channel_select(won_channel), optional=True))
    blocks.append(_input("lost_channel", t("Announce lost deals in"), channel_select(lost_channel), optional=True))
    blocks.append(_input("exchange_rates", t("Exchange rates into {base}", base=rates.base),
                         _text_input("value", max_length=1000, multiline=True, initial="\n".join(f"{r.currency} {r.rate:f}" for r in rates.rates),
                                     placeholder="EUR 7.82"),
                         optional=True, hint=rates_hint(rates, t=t)))
    return {"type": "modal", "callback_id": CONFIG_MODAL, "title": plain(t("Pipeline settings"), VIEW_TITLE), "submit": plain(t("Save"), VIEW_TITLE),
            "close": plain(t("Cancel"), VIEW_TITLE), "blocks": blocks[:VIEW_BLOCKS]}


def rates_hint(rates: Rates, *, t: Translator) -> str:
    """Under the rates box: what a line means, and when each rate was set (a changed rate is dated today)."""
    explained = t("One a line: a currency and what one unit is worth in {base}. Totals convert with these; a currency without a rate is shown apart.",
                  base=rates.base)
    if not rates.rates:
        return explained
    dates = t(", ").join(t("{currency} on {day}", currency=r.currency, day=r.set_on.isoformat()) for r in rates.rates)
    return clip(t("{explained} Set: {dates}.", explained=explained, dates=dates), 2000)
