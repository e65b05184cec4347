"""The admins' /opp config modal (one pipeline's settings, the workspace's exchange rates) and "Add a pipeline"."""

from __future__ import annotations

import json

from bot.domain.money import Rates
from bot.domain.values import MAX_STAGES, PIPELINE_DESCRIPTION_MAX, PIPELINE_NAME_MAX, Pipeline
from bot.i18n import Translator
from bot.slack.blocks import VIEW_BLOCKS, VIEW_TITLE, _input, _text_input, clip, escape, plain
from bot.slack.ids import CONFIG_ADD_PIPELINE_BUTTON, CONFIG_MODAL, CONFIG_PIPELINE_SELECT, NEW_PIPELINE_MODAL
from bot.workspace.forms import KEEP, NEW_PIPELINE_BLOCKS, RETIRE, pipeline_block

OPTION_TEXT = 75


def channel_select(initial: str | None, *, t: Translator, placeholder: str | None = None) -> dict:
    element: dict = {"type": "conversations_select", "action_id": "value", "placeholder": plain(placeholder or t("No alerts")),
                     "filter": {"include": ["public", "private"], "exclude_bot_users": True}}
    if initial and not initial.startswith("#"):
        element["initial_conversation"] = initial
    return element


def config_metadata(pipeline: Pipeline) -> str:
    """What the submission checks the pipeline against: which one, and the stages the form showed."""
    return json.dumps({"pipeline_id": pipeline.id, "stages": [s.id for s in pipeline.stages]}, separators=(",", ":"))


def config_modal(stages: Pipeline, *, won_channel: str | None, lost_channel: str | None, rates: Rates, t: Translator,
                 choices: tuple[Pipeline, ...] = ()) -> dict:
    """/opp config for one pipeline (`stages`): with several (`choices`, the active ones) a Pipeline select that redraws
    the modal for another, and "Retire this pipeline"; its name and description; per stage its alert channel, user group,
    win probability and max days; its won / lost channels; the workspace's exchange rates; a button that adds a pipeline."""
    pipeline = stages
    several = len(choices) > 1
    blocks: list[dict] = []
    if several:
        options = [{"text": plain(clip(p.name, OPTION_TEXT)), "value": str(p.id)} for p in choices[:100]]
        chosen = next((o for o, p in zip(options, choices, strict=False) if p.id == pipeline.id), options[0])
        select = {"type": "static_select", "action_id": CONFIG_PIPELINE_SELECT, "options": options, "initial_option": chosen}
        block = _input(CONFIG_PIPELINE_SELECT, t("Pipeline"), select, hint=t("Pick another pipeline to edit its settings instead."))
        block["dispatch_action"] = True
        blocks.append(block)
    blocks.append({"type": "actions", "block_id": "config_actions", "elements": [
        {"type": "button", "action_id": CONFIG_ADD_PIPELINE_BUTTON, "text": plain(t("Add a pipeline")), "value": "add"}]})
    blocks.append(_input(pipeline_block(pipeline.id, "name"), t("Pipeline name"),
                         _text_input("value", max_length=PIPELINE_NAME_MAX, initial=pipeline.name)))
    blocks.append(_input(pipeline_block(pipeline.id, "description"), t("Description"),
                         _text_input("value", max_length=PIPELINE_DESCRIPTION_MAX, initial=pipeline.description, multiline=True),
                         optional=True))
    for number, stage in enumerate(pipeline.stages, start=1):
        prefix = f"{number}. {clip(stage.name, 30)}"
        blocks.append(_input(f"stage:{stage.id}:channel", t("{stage} · alert channel", stage=prefix),
                             channel_select(stage.alert_channel_id or stage.alert_channel, t=t), optional=True))
        blocks.append(_input(f"stage:{stage.id}:group", t("{stage} · user group to mention", stage=prefix),
                             _text_input("value", max_length=20, initial=stage.alert_usergroup, placeholder="S0123ABCD"), optional=True))
        blocks.append(_input(f"stage:{stage.id}:probability", t("{stage} · win probability (%)", stage=prefix),
                             _text_input("value", max_length=5, initial=str(stage.probability))))
        blocks.append(_input(f"stage:{stage.id}:max_days", t("{stage} · stalled after (days)", stage=prefix),
                             _text_input("value", max_length=5, initial=str(stage.max_days))))
    blocks.append(_input(pipeline_block(pipeline.id, "won_channel"), t("Announce won deals in"), channel_select(won_channel, t=t), optional=True))
    blocks.append(_input(pipeline_block(pipeline.id, "lost_channel"), t("Announce lost deals in"), channel_select(lost_channel, t=t), optional=True))
    if several:
        keep = {"text": plain(t("Keep this pipeline")), "value": KEEP}
        retire = {"text": plain(t("Retire this pipeline")),
                  "description": plain(t("Its deals and history stay readable; it leaves forms and digests.")), "value": RETIRE}
        blocks.append(_input(pipeline_block(pipeline.id, "retire"), t("Retire"),
                             {"type": "radio_buttons", "action_id": "value", "options": [keep, retire], "initial_option": keep}, optional=True))
    blocks.append(_input("exchange_rates", t("Exchange rates into {base}", base=rates.base),
                         _text_input("value", max_length=1000, multiline=True, initial="\n".join(f"{r.currency} {r.rate:f}" for r in rates.rates),
                                     placeholder="EUR 7.82"),
                         optional=True, hint=rates_hint(rates, t=t)))
    return {"type": "modal", "callback_id": CONFIG_MODAL, "title": plain(t("Pipeline settings"), VIEW_TITLE), "submit": plain(t("Save"), VIEW_TITLE),
            "close": plain(t("Cancel"), VIEW_TITLE), "private_metadata": config_metadata(pipeline), "blocks": blocks[:VIEW_BLOCKS]}


def new_pipeline_modal(*, t: Translator) -> dict:
    """"Add a pipeline": its name, description, stages (one `Name, probability, max days` a line) and announcement channels."""
    name, description, stages, won, lost = NEW_PIPELINE_BLOCKS
    blocks = [
        _input(name, t("Pipeline name"), _text_input("value", max_length=PIPELINE_NAME_MAX, placeholder=t("Renewals"))),
        _input(description, t("Description"), _text_input("value", max_length=PIPELINE_DESCRIPTION_MAX, multiline=True), optional=True),
        _input(stages, t("Stages, one a line"), _text_input("value", max_length=3000, multiline=True,
                                                              placeholder=t("Renewal due, 40, 30\nQuote sent, 70, 14"))
               , hint=t("“Name, probability, max days”, in funnel order (at most {n}); leave the numbers out for 10 %, 20 %, … and 30 days. "
                        "Won and Lost are outcomes, not stages.", n=MAX_STAGES)),
        _input(won, t("Announce won deals in"), channel_select(None, t=t, placeholder=t("Nowhere")), optional=True),
        _input(lost, t("Announce lost deals in"), channel_select(None, t=t, placeholder=t("Nowhere")), optional=True),
    ]
    return {"type": "modal", "callback_id": NEW_PIPELINE_MODAL, "title": plain(t("Add a pipeline"), VIEW_TITLE),
            "submit": plain(t("Add"), VIEW_TITLE), "close": plain(t("Back"), VIEW_TITLE), "blocks": blocks}


def added_modal(pipeline: Pipeline, *, reactivated: bool, t: Translator) -> dict:
    """What the "Add a pipeline" modal turns into once saved."""
    if reactivated:
        text = t.plural("The retired pipeline “{name}” is back, with {n} open stage. Run `/opp config {name}` to edit its alerts.",
                        "The retired pipeline “{name}” is back, with {n} open stages. Run `/opp config {name}` to edit its alerts.",
                        len(pipeline.stages), name=escape(pipeline.name))
    else:
        text = t.plural("Pipeline “{name}” added, with {n} stage. Run `/opp config {name}` to set its alerts; a sales team uses it once "
                        "its `[[teams]]` in the configuration file say `pipeline = \"{name}\"`.",
                        "Pipeline “{name}” added, with {n} stages. Run `/opp config {name}` to set its alerts; a sales team uses it once "
                        "its `[[teams]]` in the configuration file say `pipeline = \"{name}\"`.",
                        len(pipeline.stages), name=escape(pipeline.name))
    return {"type": "modal", "title": plain(t("Pipeline added"), VIEW_TITLE), "close": plain(t("Close"), VIEW_TITLE),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}]}


def rates_hint(rates: Rates, *, t: Translator) -> str:
    """Under the rates box: what a line means, and when each rate was set (a changed rate is dated today)."""
    explained = t("One a line: a currency and what one unit is worth in {base}. Totals convert with these; a currency without a rate is shown apart.",
                  base=rates.base)
    if not rates.rates:
        return explained
    dates = t(", ").join(t("{currency} on {day}", currency=r.currency, day=r.set_on.isoformat()) for r in rates.rates)
    return clip(t("{explained} Set: {dates}.", explained=explained, dates=dates), 2000)
