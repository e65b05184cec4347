"""Opportunity cards, the New opportunity and Lost modals, lists and details."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.deals.forms import (
    CUSTOMER_MAX,
    LOST_REASON_MAX,
    NAME_MAX,
    NEXT_STEP_MAX,
    NOTES_MAX,
    SOURCE_MAX,
    FormChoices,
    stage_block_id,
)
from bot.domain.stages import describe_move
from bot.domain.values import (
    CHANGE_KIND,
    FOUND,
    LOST,
    N_,
    REACH,
    TAG_CHOICES,
    VISIBILITY,
    WON,
    Card,
    FollowUpView,
    HistoryEntry,
    Invalid,
    OpportunityView,
    Pipeline,
    Pipelines,
)
from bot.i18n import ENGLISH, Translator, translator
from bot.slack.blocks import (
    FIELD_TEXT,
    HEADER_TEXT,
    MAX_OPTIONS,
    MESSAGE_BLOCKS,
    OPTION_TEXT,
    SECTION_TEXT,
    VIEW_BLOCKS,
    VIEW_TITLE,
    _input,
    _radio,
    _select,
    _text_input,
    clip,
    days_between,
    escape,
    mrkdwn,
    option,
    plain,
    slack_date,
)
from bot.slack.ids import (
    ADD_FOLLOW_UP_BUTTON,
    CARD_MORE,
    DETAILS_BUTTON,
    DETAILS_MODAL,
    LIST_PAGE_BUTTON,
    LOST_BUTTON,
    LOST_MODAL,
    MOVE_PIPELINE_BUTTON,
    MOVE_PIPELINE_MODAL,
    MOVE_PIPELINE_SELECT,
    NEEDS_OWNER_BUTTON,
    NEW_MODAL,
    NEW_PIPELINE_SELECT,
    STAGE_SELECT,
    WON_BUTTON,
)
from storage.analytics.values import STALLED_BY_NORM, StalledDeal

LIST_PAGE_SIZE = 25


# action_id / callback_id values shared with the handlers















EN = translator(ENGLISH)  # an English translator, for callers that have no reader yet

CARD_NOTES_BLOCK = "card_notes"


def status_label(opp: OpportunityView, pipelines: Pipelines, *, t: Translator) -> str:
    if opp.status == WON:
        return t("Won :trophy:")
    if opp.status == LOST:
        return t("Lost")
    return pipelines.name_of(opp.stage_id)


def stage_path(opp: OpportunityView, pipelines: Pipelines) -> str:
    """The open stages of the deal's pipeline in order, the deal's own marked: Prospect › *[Solution design]* › Technical
    evaluation, after the pipeline's name when the workspace has several. Won and Lost are outcomes, not steps after
    the last stage: the card's Status says them."""
    pipeline = pipelines.of_stage(opp.stage_id)
    parts = []
    for stage in pipeline.stages:
        if opp.is_open and stage.id == opp.stage_id:
            parts.append(f"*[{escape(stage.name)}]*")
        else:
            parts.append(escape(stage.name))
    path = " › ".join(parts)
    return f"_{escape(pipeline.name)}_ · {path}" if pipelines.several else path


def card_text(opp: OpportunityView, pipelines: Pipelines, *, t: Translator) -> str:
    """The notification / fallback text of a card."""
    return t("{ref} {name} ({customer}) · {status}", ref=opp.ref, name=escape(opp.name), customer=escape(opp.customer),
             status=status_label(opp, pipelines, t=t))


def _tags(opp: OpportunityView, t: Translator) -> list[str]:
    tags = []
    for key, labels in TAG_CHOICES.items():
        value = getattr(opp, key)
        if value:
            tags.append(t(labels[value]) if value in labels else value)
    return tags


def follow_up_line(follow_up: FollowUpView, now: datetime, *, t: Translator) -> str:
    line = t("{due} · {task} · {assignee}", due=slack_date(follow_up.due_at), task=escape(follow_up.text), assignee=f"<@{follow_up.assignee_id}>")
    return t(":alarm_clock: *Overdue* {line}", line=line) if follow_up.due_at < now else line


def opportunity_card(opp: OpportunityView, pipelines: Pipelines, now: datetime, next_follow_up: FollowUpView | None = None,
                     collaborators: Sequence[tuple[str, int]] = (), *, t: Translator) -> list[dict]:
    """The card; `collaborators` are (user_id, stage_id) of colleagues who took the deal's stage alerts."""
    owner = f"<@{opp.owner_id}>"
    fields = [
        t("*Customer*\n{customer}", customer=escape(opp.customer)),
        t("*Amount*\n{amount}", amount=t.amount(opp.amount, opp.currency)),
        t("*Owner*\n{owner} · _needs an owner_", owner=owner) if opp.needs_owner else t("*Owner*\n{owner}", owner=owner),
        t("*Expected close*\n{day}", day=t.date(opp.close_date) if opp.close_date else "—"),
    ]
    if opp.is_open:
        fields.append(t.plural("*Stage*\n{stage} · {n} day in stage", "*Stage*\n{stage} · {n} days in stage",
                               days_between(opp.stage_entered_at, now), stage=escape(pipelines.name_of(opp.stage_id))))
    else:
        closed = opp.closed_at or opp.updated_at
        fields.append(t("*Status*\n{status} on {day}", status=status_label(opp, pipelines, t=t), day=slack_date(closed, "{date_short}")))
    segment = " · ".join(escape(v) for v in (opp.industry, opp.region, opp.company_size) if v)
    if segment:
        fields.append(t("*Segment*\n{segment}", segment=segment))
    if opp.source:
        fields.append(t("*Source*\n{source}", source=escape(opp.source)))
    blocks: list[dict] = [
        {"type": "header", "text": plain(f"{opp.ref} · {opp.name}", HEADER_TEXT)},
        {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields[:10]]},
        {"type": "context", "elements": [mrkdwn(stage_path(opp, pipelines))]},
    ]
    if opp.status == LOST and opp.lost_reason:
        blocks.append({"type": "section", "text": mrkdwn(t("*Lost because:* {reason}", reason=escape(opp.lost_reason)))})
    if opp.next_step:
        blocks.append({"type": "section", "text": mrkdwn(t("*Next step:* {step}", step=escape(opp.next_step)))})
    if opp.notes:
        blocks.append({"type": "section", "block_id": CARD_NOTES_BLOCK,
                       "text": mrkdwn(t("*Notes:* {notes}", notes=escape(clip(opp.notes, 600))))})
    if next_follow_up is not None and opp.is_open:
        blocks.append({"type": "section", "text": mrkdwn(t("*Next follow-up:* {follow_up}", follow_up=follow_up_line(next_follow_up, now, t=t)))})
    if collaborators:
        people = t(", ").join(t("{user} ({stage})", user=f"<@{user}>", stage=escape(pipelines.name_of(stage_id))) for user, stage_id in collaborators[:20])
        blocks.append({"type": "context", "elements": [mrkdwn(t("Working with: {people}", people=people))]})
    if tags := _tags(opp, t):
        blocks.append({"type": "context", "elements": [mrkdwn(t("Tags: {tags}", tags=" · ".join(tags)))]})
    blocks.append({"type": "actions", "block_id": f"card:{opp.id}", "elements": card_controls(opp, pipelines, t=t)})
    return blocks


def card_controls(opp: OpportunityView, pipelines: Pipelines, *, t: Translator) -> list[dict]:
    """At most three controls in sight (the stage select, Won, Lost), the rest in a More menu (its options
    carry the action they stand for: `add_follow_up:7`, handled by handlers/deals.py)."""
    value = str(opp.id)
    stages = pipelines.of_stage(opp.stage_id)
    select: dict = {
        "type": "static_select",
        "action_id": STAGE_SELECT,
        "placeholder": plain(t("Move to stage…") if opp.is_open else t("Reopen in stage…")),
        "options": [option(f"{i}. {s.name}", f"{opp.id}:{s.id}") for i, s in enumerate(stages.stages[:MAX_OPTIONS], start=1)],
    }
    if opp.is_open:
        current = stages.index_of(opp.stage_id)
        if current is not None:
            select["initial_option"] = select["options"][current]
    elements = [select]
    if not opp.is_open:
        elements.append({"type": "button", "action_id": DETAILS_BUTTON, "text": plain(t("Details")), "value": value})
        return elements
    elements.append({"type": "button", "action_id": WON_BUTTON, "text": plain(t("Won")), "style": "primary", "value": value})
    elements.append({"type": "button", "action_id": LOST_BUTTON, "text": plain(t("Lost")), "style": "danger", "value": value})
    more = [option(t("Add follow-up"), f"{ADD_FOLLOW_UP_BUTTON}:{value}")]
    if not opp.needs_owner:
        more.append(option(t("Needs an owner"), f"{NEEDS_OWNER_BUTTON}:{value}"))
    if len(pipelines.active) > 1:
        more.append(option(t("Move to another pipeline…"), f"{MOVE_PIPELINE_BUTTON}:{value}"))
    more.append(option(t("Details"), f"{DETAILS_BUTTON}:{value}"))
    elements.append({"type": "overflow", "action_id": CARD_MORE, "options": more})
    return elements


def next_step_offer(opp: OpportunityView, text: str, *, t: Translator) -> list[dict]:
    """What was done, and an offer to plan the next step (for a deal that has none planned)."""
    return [{"type": "section", "text": mrkdwn(t("{done} What is the next step?", done=text))},
            {"type": "actions", "elements": [{"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain(t("Add follow-up")),
                                              "style": "primary", "value": str(opp.id)}]}]


def history_lines(entries: Sequence[HistoryEntry], pipelines: Pipelines, *, t: Translator) -> list[str]:
    return [
        f"{slack_date(e.changed_at)} · {escape(describe_move(pipelines, e.from_stage_id, e.from_status, e.to_stage_id, e.to_status, t=t))} · <@{e.changed_by}>"
        for e in entries
    ]


def details_blocks(card: Sequence[dict], opp: OpportunityView, pipelines: Pipelines, entries: Sequence[HistoryEntry], now: datetime, *, limit: int,
                   omitted: int = 0, t: Translator) -> list[dict]:
    """The card (as built by opportunity_card) without its controls, then the full notes and the stage history."""
    blocks = [b for b in card if b["type"] != "actions" and b.get("block_id") != CARD_NOTES_BLOCK]
    if opp.notes:
        blocks.append({"type": "section", "text": mrkdwn(t("*Notes:*\n{notes}", notes=escape(opp.notes)))})
    blocks.append({"type": "context", "elements": [mrkdwn(t("Created {created} by {creator} · updated {updated}", created=slack_date(opp.created_at),
                                                            creator=f"<@{opp.created_by}>", updated=slack_date(opp.updated_at)))]})
    blocks.append({"type": "divider"})
    blocks.append({"type": "section", "text": mrkdwn(t("*Stage history*"))})
    lines = history_lines(entries, pipelines, t=t)
    room = max(1, limit - len(blocks))
    chunks = _chunk_lines(lines, SECTION_TEXT)
    if len(chunks) > room or omitted:
        chunks = chunks[-room:]
        chunks[0] = clip(t("_(older changes omitted)_") + "\n" + chunks[0], SECTION_TEXT)
    blocks.extend({"type": "section", "text": mrkdwn(chunk)} for chunk in chunks)
    return blocks


def _chunk_lines(lines: Iterable[str], limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def details_modal(card: Sequence[dict], opp: OpportunityView, pipelines: Pipelines, entries: Sequence[HistoryEntry], now: datetime,
                  omitted: int = 0, *, t: Translator) -> dict:
    return {
        "type": "modal",
        "callback_id": DETAILS_MODAL,
        "title": plain(clip(opp.ref, VIEW_TITLE)),
        "close": plain(t("Close")),
        "blocks": details_blocks(card, opp, pipelines, entries, now, limit=VIEW_BLOCKS, omitted=omitted, t=t),
    }


def new_opportunity_modal(choices: FormChoices, *, owner_id: str, metadata: dict, name: str | None = None, notes: str | None = None,
                          t: Translator) -> dict:
    stage_choices = [(f"{i}. {s.name}", str(s.id)) for i, s in enumerate(choices.stages.stages, start=1)]
    choose = t("Choose…")
    several = bool(choices.pipelines)

    def select(pairs: Sequence[tuple[str, str]], initial: str | None = None) -> dict:
        return _select("value", pairs, initial=initial, placeholder=choose)

    def radio(labels: dict[str, str]) -> dict:
        return _radio("value", {value: t(label) for value, label in labels.items()})

    blocks = [
        _input("name", t("Opportunity name"), _text_input("value", max_length=NAME_MAX, initial=name, placeholder=t("e.g. Acme — 200 seats"))),
        _input("customer", t("Customer / account"), _text_input("value", max_length=CUSTOMER_MAX)),
        _input("amount", t("Amount"), _text_input("value", max_length=30, placeholder=t("e.g. 12,500.00")), optional=True),
        _input("currency", t("Currency"), select([(c, c) for c in choices.currencies], initial=choices.currencies[0])),
        _input("close_date", t("Expected close date"), {"type": "datepicker", "action_id": "value"}, optional=True),
        _input(stage_block_id(choices.stages, several=several), t("Stage"), select(stage_choices, initial=str(choices.stages.first.id))),
        _input("owner", t("Owner"), {"type": "users_select", "action_id": "value", "initial_user": owner_id}, optional=True,
               hint=t("Clear it to have the team's manager assign the deal, with suggestions.")),
        _input("industry", t("Industry"), select([(v, v) for v in choices.industries]), optional=True),
        _input("region", t("Region"), select([(v, v) for v in choices.regions]), optional=True),
        _input("company_size", t("Company size"), select([(v, v) for v in choices.company_sizes]), optional=True),
        _input("source", t("Source"), _text_input("value", max_length=SOURCE_MAX, placeholder=t("e.g. referral, trade show, inbound")), optional=True),
        _input("found", t("How it was found"), radio(FOUND), optional=True),
        _input("reach", t("Reach"), radio(REACH), optional=True, hint=t("Strategic: long-term, company-wide impact. Tactical: short-term, local.")),
        _input("visibility", t("Visibility"), radio(VISIBILITY), optional=True, hint=t("Latent: had to be dug out. Explicit: stated by the customer.")),
        _input("change_kind", t("Change that created it"), select([(t(label), value) for value, label in CHANGE_KIND.items()]), optional=True),
        _input("next_step", t("Next step"), _text_input("value", max_length=NEXT_STEP_MAX), optional=True),
        _input("notes", t("Notes"), _text_input("value", max_length=NOTES_MAX, initial=notes, multiline=True), optional=True),
    ]
    if several:
        blocks.insert(0, pipeline_input(choices.pipelines, choices.stages, NEW_PIPELINE_SELECT, t=t))
    return {
        "type": "modal",
        "callback_id": NEW_MODAL,
        "title": plain(t("New opportunity")),
        "submit": plain(t("Create")),
        "close": plain(t("Cancel")),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def pipeline_input(pipelines: Sequence[Pipeline], chosen: Pipeline, action_id: str, *, t: Translator) -> dict:
    """The Pipeline select of a form: choosing one redraws the form with that pipeline's stages (dispatch_action)."""
    element = _select(action_id, [(clip(p.name, OPTION_TEXT), str(p.id)) for p in pipelines], initial=str(chosen.id), placeholder=t("Choose…"))
    block = _input("pipeline", t("Pipeline"), element, hint=clip(chosen.description, 150) if chosen.description else None)
    block["dispatch_action"] = True
    return block


def move_pipeline_modal(opp: OpportunityView, pipelines: Pipelines, target: Pipeline, stage_id: int, metadata: dict, *, t: Translator) -> dict:
    """Move a deal to another pipeline: the pipeline (the deal's own left out), and a stage of it (`stage_id` first)."""
    current = pipelines.of_stage(opp.stage_id)
    choices = [p for p in pipelines.active if p.id != current.id]
    stages = [(clip(f"{i}. {s.name}", OPTION_TEXT), str(s.id)) for i, s in enumerate(target.stages[:MAX_OPTIONS], start=1)]
    return {
        "type": "modal",
        "callback_id": MOVE_PIPELINE_MODAL,
        "title": plain(clip(t("Move to a pipeline"), VIEW_TITLE)),
        "submit": plain(t("Move")),
        "close": plain(t("Cancel")),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(t("*{ref} · {name}* ({customer}) is in the {pipeline} pipeline, in {stage}.", ref=opp.ref,
                                                 name=escape(opp.name), customer=escape(opp.customer), pipeline=escape(current.name),
                                                 stage=escape(current.name_of(opp.stage_id))))},
            pipeline_input(choices, target, MOVE_PIPELINE_SELECT, t=t),
            _input(stage_block_id(target, several=True), t("Stage"), _select("value", stages, initial=str(stage_id), placeholder=t("Choose…"))),
        ],
    }


def lost_reason_modal(opp: OpportunityView, metadata: dict, *, t: Translator) -> dict:
    return {
        "type": "modal",
        "callback_id": LOST_MODAL,
        "title": plain(t("Mark as lost")),
        "submit": plain(t("Mark lost")),
        "close": plain(t("Cancel")),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(t("*{ref} · {name}* ({customer})", ref=opp.ref, name=escape(opp.name), customer=escape(opp.customer)))},
            _input("reason", t("Why was it lost?"), _text_input("value", max_length=LOST_REASON_MAX, multiline=True,
                                                                placeholder=t("e.g. price, chose a competitor, no budget"))),
        ],
    }


@dataclass(frozen=True)
class ListPage:
    owner_id: str
    items: Sequence[OpportunityView]
    total: int
    offset: int
    stage_filter: int | None = None
    follow_ups: dict[int, FollowUpView] = field(default_factory=dict)


def stalled_why(deal: StalledDeal, pipelines: Pipeline | Pipelines, *, t: Translator) -> str:
    """Why a deal is stalled, in the words of the rule that flagged it (storage.analytics.stalled decides):
    "21 days in Negotiation; stalled after 14" or
    "9 days in Prospect; the team's typical time there is 3 days (from 14 deals)"."""
    stage = escape(pipelines.name_of(deal.stage_id))
    if deal.rule == STALLED_BY_NORM and deal.typical_days is not None:
        typical = max(1, math.floor(deal.typical_days + 0.5))
        return t.plural("{n} day in {stage}; the team's typical time there is {typical} (from {visits} deals)",
                        "{n} days in {stage}; the team's typical time there is {typical} (from {visits} deals)", deal.days_in_stage,
                        stage=stage, typical=t.plural("{n} day", "{n} days", typical), visits=t.number(deal.typical_visits))
    return t.plural("{n} day in {stage}; stalled after {max_days}", "{n} days in {stage}; stalled after {max_days}", deal.days_in_stage,
                    stage=stage, max_days=t.number(deal.max_days))


def opportunity_line(opp: OpportunityView, now: datetime, follow_up: FollowUpView | None = None, *, t: Translator) -> str:
    marker = ":alarm_clock: " if follow_up is not None and follow_up.due_at < now else ""
    line = t("{marker}*{ref}* {name} — {customer} · {amount} · {days} d in stage", marker=marker, ref=opp.ref, name=escape(opp.name),
             customer=escape(opp.customer), amount=t.short_amount(opp.amount, opp.currency), days=days_between(opp.stage_entered_at, now))
    if follow_up is not None:
        line += "\n" + t("Next: {follow_up}", follow_up=follow_up_line(follow_up, now, t=t))
    return clip(line, SECTION_TEXT)


def overdue_first(items: Sequence[OpportunityView], follow_ups: dict[int, FollowUpView], now: datetime) -> list[OpportunityView]:
    """Within each stage, deals with an overdue follow-up come first; otherwise the order is kept."""
    return sorted(items, key=lambda o: (0 if (f := follow_ups.get(o.id)) is not None and f.due_at < now else 1))


def filter_name(stage_id: int, pipelines: Pipelines) -> str:
    """A stage as a list's filter names it: with its pipeline when the workspace has several (`Renewals › Negotiation`)."""
    if not pipelines.several:
        return pipelines.name_of(stage_id)
    return f"{pipelines.of_stage(stage_id).name} › {pipelines.name_of(stage_id)}"


def _list_title(page: ListPage, pipelines: Pipelines, viewer_id: str, t: Translator, *, first: int, last: int) -> str:
    """The list's title, or (no deals) the whole answer: whose list, which stage, which page, as one sentence each."""
    mine, owner = page.owner_id == viewer_id, f"<@{page.owner_id}>"
    stage = escape(filter_name(page.stage_filter, pipelines)) if page.stage_filter else None
    if not page.total:
        if mine:
            return (t("Your open opportunities in {stage}: none. Create one with `/opp new`.", stage=stage) if stage
                    else t("Your open opportunities: none. Create one with `/opp new`."))
        return (t("{owner}'s open opportunities in {stage}: none. Create one with `/opp new`.", owner=owner, stage=stage) if stage
                else t("{owner}'s open opportunities: none. Create one with `/opp new`.", owner=owner))
    span = dict(first=first, last=last, total=page.total)
    if mine:
        return (t("*Your open opportunities in {stage}* · {first}–{last} of {total}", stage=stage, **span) if stage
                else t("*Your open opportunities* · {first}–{last} of {total}", **span))
    return (t("*{owner}'s open opportunities in {stage}* · {first}–{last} of {total}", owner=owner, stage=stage, **span) if stage
            else t("*{owner}'s open opportunities* · {first}–{last} of {total}", owner=owner, **span))


def list_blocks(page: ListPage, pipelines: Pipelines, now: datetime, *, viewer_id: str, t: Translator) -> list[dict]:
    last = page.offset + len(page.items)
    title = _list_title(page, pipelines, viewer_id, t, first=page.offset + 1, last=last)
    if not page.total:
        return [{"type": "section", "text": mrkdwn(title)}]
    blocks: list[dict] = [{"type": "section", "text": mrkdwn(title)}]
    overdue = sum(1 for o in page.items if (f := page.follow_ups.get(o.id)) is not None and f.due_at < now)
    if overdue:
        blocks.append({"type": "context", "elements": [mrkdwn(t.plural(
            ":alarm_clock: {n} on this page with an overdue follow-up, shown first in each stage",
            ":alarm_clock: {n} on this page with an overdue follow-up, shown first in each stage", overdue))]})
    ordered = sorted(page.items, key=lambda o: _list_place(pipelines, o.stage_id))
    grouped: list[OpportunityView] = []
    for stage_id in dict.fromkeys(o.stage_id for o in ordered):
        grouped.extend(overdue_first([o for o in ordered if o.stage_id == stage_id], page.follow_ups, now))
    room = MESSAGE_BLOCKS - len(blocks) - (1 if last < page.total else 0)
    blocks.extend(_grouped_lines(grouped, pipelines, page.follow_ups, now, room=room, t=t))
    if last < page.total:
        state = json.dumps({"o": page.owner_id, "s": page.stage_filter, "n": last})
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": LIST_PAGE_BUTTON, "text": plain(t("Next page ({first}–{last})", first=last + 1,
                                                                               last=min(last + LIST_PAGE_SIZE, page.total))), "value": state}]})
    return blocks


def _grouped_lines(grouped: Sequence[OpportunityView], pipelines: Pipelines, follow_ups: dict[int, FollowUpView], now: datetime, *, room: int,
                   t: Translator) -> list[dict]:
    """The page's deals under a header per pipeline (when there are several) and a label per stage; when those labels
    would take the page over Slack's blocks a message, each label goes into the first deal line under it instead."""
    def line(opp: OpportunityView, label: str | None = None) -> dict:
        text = opportunity_line(opp, now, follow_ups.get(opp.id), t=t)
        return {"type": "section", "text": mrkdwn(clip(f"{label}\n{text}", SECTION_TEXT) if label else text),
                "accessory": {"type": "button", "action_id": DETAILS_BUTTON, "text": plain(t("Open")), "value": str(opp.id)}}

    def layout(*, headers: bool, stage_blocks: bool) -> list[dict]:
        blocks: list[dict] = []
        current_pipeline, current_stage = None, None
        for opp in grouped:
            pipeline = pipelines.of_stage(opp.stage_id)
            if headers and pipeline.id != current_pipeline:
                current_pipeline = pipeline.id
                blocks.append({"type": "header", "text": plain(pipeline.name, HEADER_TEXT)})
            label = None
            if opp.stage_id != current_stage:
                current_stage = opp.stage_id
                name = pipelines.name_of(opp.stage_id) if headers or not pipelines.several else filter_name(opp.stage_id, pipelines)
                label = f"*{escape(name)}*"
                if stage_blocks:
                    blocks.append({"type": "context", "elements": [mrkdwn(label)]})
                    label = None
            blocks.append(line(opp, label))
        return blocks

    several = pipelines.several
    for headers, stage_blocks in ((several, True), (several, False), (False, False)):
        blocks = layout(headers=headers, stage_blocks=stage_blocks)
        if len(blocks) <= room:
            break
    return blocks


def _list_place(pipelines: Pipelines, stage_id: int) -> tuple[int, int]:
    """Where a deal comes in `/opp list`: by pipeline (in the workspace's order), then by stage (retired ones last)."""
    pipeline = pipelines.of_stage(stage_id)
    index = pipeline.index_of(stage_id)
    return pipelines.all.index(pipeline) if pipeline in pipelines.all else 99, 99 if index is None else index


def read_page_button(value: str) -> tuple[str, int | None, int]:
    """What a Next page button of `list_blocks` carries: (owner, stage filter, offset); Invalid when it carries something else."""
    try:
        state = json.loads(value or "{}")
        owner, stage_id, offset = str(state["o"]), state.get("s"), int(state["n"])
    except (ValueError, KeyError, TypeError):
        raise Invalid(N_("That page button is not valid any more; run `/opp list` again.")) from None
    return owner, stage_id if isinstance(stage_id, int) else None, offset


def card_message(card: Card, pipelines: Pipelines, now: datetime, *, with_history: bool = False, t: Translator) -> tuple[str, list[dict]]:
    """A card as a message: its notification text and blocks; `with_history` adds the stage history above its controls."""
    opp = card.opportunity
    blocks = opportunity_card(opp, pipelines, now, card.next_follow_up, card.collaborators, t=t)
    if with_history:
        actions = blocks[-1]
        blocks = details_blocks(blocks, opp, pipelines, card.history, now, limit=MESSAGE_BLOCKS - 1, omitted=card.history_omitted, t=t) + [actions]
    return card_text(opp, pipelines, t=t), blocks


def card_details_modal(card: Card, pipelines: Pipelines, now: datetime, *, t: Translator) -> dict:
    opp = card.opportunity
    return details_modal(opportunity_card(opp, pipelines, now, card.next_follow_up, card.collaborators, t=t), opp, pipelines, card.history, now,
                         card.history_omitted, t=t)
