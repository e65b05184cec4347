"""Block Kit builders: pure functions from plain values to Slack JSON, inside Slack's limits."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Sequence

from bot.domain import CHANGE_KIND, FOUND, LOST, REACH, TAG_CHOICES, VISIBILITY, WON, FollowUpView, HistoryEntry, OpportunityView, StageModel
from bot.forms import CUSTOMER_MAX, NAME_MAX, NEXT_STEP_MAX, NOTES_MAX, SOURCE_MAX, LOST_REASON_MAX, FormChoices
from bot.stages import describe_move

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
FIELD_TEXT = 2000
HEADER_TEXT = 150
BUTTON_TEXT = 75
OPTION_TEXT = 75
OPTION_VALUE = 150
MAX_OPTIONS = 100
VIEW_TITLE = 24
LIST_PAGE_SIZE = 25

# action_id / callback_id values shared with the handlers
STAGE_SELECT = "card_stage_select"
WON_BUTTON = "card_won"
LOST_BUTTON = "card_lost"
DETAILS_BUTTON = "card_details"
LIST_PAGE_BUTTON = "list_page"
HOME_NEW_BUTTON = "home_new_opportunity"
ADD_FOLLOW_UP_BUTTON = "add_follow_up"
DONE_BUTTON = "follow_up_done"
SNOOZE_SELECT = "follow_up_snooze"
NEW_MODAL = "new_opportunity"
FOLLOW_UP_MODAL = "new_follow_up"
TAKE_BUTTON = "alert_take"
NEEDS_OWNER_BUTTON = "needs_owner"
ASSIGN_BUTTON = "assign_to"
RELEASE_BUTTON = "alert_release"
CONFIG_MODAL = "workspace_config"
LOST_MODAL = "lost_reason"
DETAILS_MODAL = "opportunity_details"


def escape(text: str) -> str:
    """User text in mrkdwn: Slack needs &, < and > escaped, or a name could mention @channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int | None = None) -> dict:
    return {"type": "plain_text", "text": clip(text, limit) if limit else text, "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> dict:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def option(text: str, value: str) -> dict:
    return {"text": plain(text, OPTION_TEXT), "value": value[:OPTION_VALUE]}


def format_amount(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    shown = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"{currency} {shown}"


def slack_date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """Rendered by Slack in the reader's own time zone, with a UTC fallback."""
    return f"<!date^{int(moment.timestamp())}^{fmt}|{moment:%Y-%m-%d %H:%M} UTC>"


def days_between(start: datetime, now: datetime) -> int:
    return max(0, (now - start).days)


def status_label(opp: OpportunityView, stages: StageModel) -> str:
    if opp.status == WON:
        return "Won :trophy:"
    if opp.status == LOST:
        return "Lost"
    return stages.name_of(opp.stage_id)


def stage_path(opp: OpportunityView, stages: StageModel) -> str:
    """Prospect › *[Solution design]* › Technical evaluation › … › Won / Lost"""
    parts = []
    for stage in stages.stages:
        if opp.is_open and stage.id == opp.stage_id:
            parts.append(f"*[{escape(stage.name)}]*")
        else:
            parts.append(escape(stage.name))
    parts.append("*[Won]*" if opp.status == WON else "Won")
    parts.append("*[Lost]*" if opp.status == LOST else "Lost")
    return " › ".join(parts)


def card_text(opp: OpportunityView, stages: StageModel) -> str:
    """The notification / fallback text of a card."""
    return f"{opp.ref} {escape(opp.name)} ({escape(opp.customer)}) · {status_label(opp, stages)}"


def _tags(opp: OpportunityView) -> list[str]:
    tags = []
    for key, labels in TAG_CHOICES.items():
        value = getattr(opp, key)
        if value:
            tags.append(labels.get(value, value))
    return tags


def follow_up_line(follow_up: FollowUpView, now: datetime) -> str:
    overdue = follow_up.due_at < now
    marker = ":alarm_clock: *Overdue* " if overdue else ""
    return f"{marker}{slack_date(follow_up.due_at)} · {escape(follow_up.text)} · <@{follow_up.assignee_id}>"


def opportunity_card(opp: OpportunityView, stages: StageModel, now: datetime, next_follow_up: FollowUpView | None = None,
                     collaborators: Sequence[tuple[str, int]] = ()) -> list[dict]:
    """The card; `collaborators` are (user_id, stage_id) of colleagues who took the deal's stage alerts."""
    fields = [
        f"*Customer*\n{escape(opp.customer)}",
        f"*Amount*\n{format_amount(opp.amount, opp.currency)}",
        f"*Owner*\n<@{opp.owner_id}>" + (" · _needs an owner_" if opp.needs_owner else ""),
        f"*Expected close*\n{opp.close_date.isoformat() if opp.close_date else '—'}",
    ]
    if opp.is_open:
        fields.append(f"*Stage*\n{escape(stages.name_of(opp.stage_id))} · {days_between(opp.stage_entered_at, now)} days in stage")
    else:
        closed = opp.closed_at or opp.updated_at
        fields.append(f"*Status*\n{status_label(opp, stages)} on {slack_date(closed, '{date_short}')}")
    segment = " · ".join(escape(v) for v in (opp.industry, opp.region, opp.company_size) if v)
    if segment:
        fields.append(f"*Segment*\n{segment}")
    if opp.source:
        fields.append(f"*Source*\n{escape(opp.source)}")
    blocks: list[dict] = [
        {"type": "header", "text": plain(f"{opp.ref} · {opp.name}", HEADER_TEXT)},
        {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields[:10]]},
        {"type": "context", "elements": [mrkdwn(stage_path(opp, stages))]},
    ]
    if opp.status == LOST and opp.lost_reason:
        blocks.append({"type": "section", "text": mrkdwn(f"*Lost because:* {escape(opp.lost_reason)}")})
    if opp.next_step:
        blocks.append({"type": "section", "text": mrkdwn(f"*Next step:* {escape(opp.next_step)}")})
    if opp.notes:
        blocks.append({"type": "section", "text": mrkdwn(f"*Notes:* {escape(clip(opp.notes, 600))}")})
    if next_follow_up is not None and opp.is_open:
        blocks.append({"type": "section", "text": mrkdwn(f"*Next follow-up:* {follow_up_line(next_follow_up, now)}")})
    if collaborators:
        people = ", ".join(f"<@{user}> ({escape(stages.name_of(stage_id))})" for user, stage_id in collaborators[:20])
        blocks.append({"type": "context", "elements": [mrkdwn(f"Working with: {people}")]})
    if tags := _tags(opp):
        blocks.append({"type": "context", "elements": [mrkdwn("Tags: " + " · ".join(tags))]})
    blocks.append({"type": "actions", "block_id": f"card:{opp.id}", "elements": card_controls(opp, stages)})
    return blocks


def card_controls(opp: OpportunityView, stages: StageModel) -> list[dict]:
    value = str(opp.id)
    select: dict = {
        "type": "static_select",
        "action_id": STAGE_SELECT,
        "placeholder": plain("Move to stage…" if opp.is_open else "Reopen in stage…"),
        "options": [option(f"{i}. {s.name}", f"{opp.id}:{s.id}") for i, s in enumerate(stages.stages[:MAX_OPTIONS], start=1)],
    }
    if opp.is_open:
        current = stages.index_of(opp.stage_id)
        if current is not None:
            select["initial_option"] = select["options"][current]
    elements = [select]
    if opp.is_open:
        elements.append({"type": "button", "action_id": WON_BUTTON, "text": plain("Won"), "style": "primary", "value": value})
        elements.append({"type": "button", "action_id": LOST_BUTTON, "text": plain("Lost"), "style": "danger", "value": value})
        elements.append({"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain("Add follow-up"), "value": value})
        if not opp.needs_owner:
            elements.append({"type": "button", "action_id": NEEDS_OWNER_BUTTON, "text": plain("Needs an owner"), "value": value})
    elements.append({"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Details"), "value": value})
    return elements


def history_lines(entries: Sequence[HistoryEntry], stages: StageModel) -> list[str]:
    return [
        f"{slack_date(e.changed_at)} · {escape(describe_move(stages, e.from_stage_id, e.from_status, e.to_stage_id, e.to_status))} · <@{e.changed_by}>"
        for e in entries
    ]


def details_blocks(card: Sequence[dict], opp: OpportunityView, stages: StageModel, entries: Sequence[HistoryEntry], now: datetime, *, limit: int,
                   omitted: int = 0) -> list[dict]:
    """The card (as built by opportunity_card) without its controls, then the full notes and the stage history."""
    blocks = [b for b in card if b["type"] != "actions"]
    blocks = [b for b in blocks if not (b["type"] == "section" and b.get("text", {}).get("text", "").startswith("*Notes:*"))]
    if opp.notes:
        blocks.append({"type": "section", "text": mrkdwn(f"*Notes:*\n{escape(opp.notes)}")})
    blocks.append({"type": "context", "elements": [mrkdwn(f"Created {slack_date(opp.created_at)} by <@{opp.created_by}> · updated {slack_date(opp.updated_at)}")]})
    blocks.append({"type": "divider"})
    blocks.append({"type": "section", "text": mrkdwn("*Stage history*")})
    lines = history_lines(entries, stages)
    room = max(1, limit - len(blocks))
    chunks = _chunk_lines(lines, SECTION_TEXT)
    if len(chunks) > room or omitted:
        chunks = chunks[-room:]
        chunks[0] = clip("_(older changes omitted)_\n" + chunks[0], SECTION_TEXT)
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


def details_modal(card: Sequence[dict], opp: OpportunityView, stages: StageModel, entries: Sequence[HistoryEntry], now: datetime,
                  omitted: int = 0) -> dict:
    return {
        "type": "modal",
        "callback_id": DETAILS_MODAL,
        "title": plain(clip(opp.ref, VIEW_TITLE)),
        "close": plain("Close"),
        "blocks": details_blocks(card, opp, stages, entries, now, limit=VIEW_BLOCKS, omitted=omitted),
    }


def _input(block_id: str, label: str, element: dict, *, optional: bool = False, hint: str | None = None) -> dict:
    block = {"type": "input", "block_id": block_id, "label": plain(label), "element": element, "optional": optional}
    if hint:
        block["hint"] = plain(hint)
    return block


def _text_input(action_id: str, *, max_length: int, initial: str | None = None, multiline: bool = False, placeholder: str | None = None) -> dict:
    element: dict = {"type": "plain_text_input", "action_id": action_id, "max_length": max_length, "multiline": multiline}
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = plain(placeholder)
    return element


def _select(action_id: str, choices: Sequence[tuple[str, str]], *, initial: str | None = None, placeholder: str = "Choose…") -> dict:
    options = [option(label, value) for label, value in choices[:MAX_OPTIONS]]
    element: dict = {"type": "static_select", "action_id": action_id, "placeholder": plain(placeholder), "options": options}
    for opt in options:
        if opt["value"] == initial:
            element["initial_option"] = opt
    return element


def _radio(action_id: str, labels: dict[str, str]) -> dict:
    return {"type": "radio_buttons", "action_id": action_id, "options": [option(text, value) for value, text in labels.items()]}


def new_opportunity_modal(choices: FormChoices, *, owner_id: str, metadata: dict, name: str | None = None, notes: str | None = None) -> dict:
    stage_choices = [(f"{i}. {s.name}", str(s.id)) for i, s in enumerate(choices.stages.stages, start=1)]
    blocks = [
        _input("name", "Opportunity name", _text_input("value", max_length=NAME_MAX, initial=name, placeholder="e.g. Acme — 200 seats")),
        _input("customer", "Customer / account", _text_input("value", max_length=CUSTOMER_MAX)),
        _input("amount", "Amount", _text_input("value", max_length=30, placeholder="e.g. 12,500.00"), optional=True),
        _input("currency", "Currency", _select("value", [(c, c) for c in choices.currencies], initial=choices.currencies[0])),
        _input("close_date", "Expected close date", {"type": "datepicker", "action_id": "value"}, optional=True),
        _input("stage", "Stage", _select("value", stage_choices, initial=str(choices.stages.first.id))),
        _input("owner", "Owner", {"type": "users_select", "action_id": "value", "initial_user": owner_id}, optional=True,
               hint="Clear it to have the team's manager assign the deal, with suggestions."),
        _input("industry", "Industry", _select("value", [(v, v) for v in choices.industries]), optional=True),
        _input("region", "Region", _select("value", [(v, v) for v in choices.regions]), optional=True),
        _input("company_size", "Company size", _select("value", [(v, v) for v in choices.company_sizes]), optional=True),
        _input("source", "Source", _text_input("value", max_length=SOURCE_MAX, placeholder="e.g. referral, trade show, inbound"), optional=True),
        _input("found", "How it was found", _radio("value", FOUND), optional=True),
        _input("reach", "Reach", _radio("value", REACH), optional=True, hint="Strategic: long-term, company-wide impact. Tactical: short-term, local."),
        _input("visibility", "Visibility", _radio("value", VISIBILITY), optional=True, hint="Latent: had to be dug out. Explicit: stated by the customer."),
        _input("change_kind", "Change that created it", _select("value", [(label, value) for value, label in CHANGE_KIND.items()]), optional=True),
        _input("next_step", "Next step", _text_input("value", max_length=NEXT_STEP_MAX), optional=True),
        _input("notes", "Notes", _text_input("value", max_length=NOTES_MAX, initial=notes, multiline=True), optional=True),
    ]
    return {
        "type": "modal",
        "callback_id": NEW_MODAL,
        "title": plain("New opportunity"),
        "submit": plain("Create"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def lost_reason_modal(opp: OpportunityView, metadata: dict) -> dict:
    return {
        "type": "modal",
        "callback_id": LOST_MODAL,
        "title": plain("Mark as lost"),
        "submit": plain("Mark lost"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(f"*{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)})")},
            _input("reason", "Why was it lost?", _text_input("value", max_length=LOST_REASON_MAX, multiline=True,
                                                             placeholder="e.g. price, chose a competitor, no budget")),
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


def opportunity_line(opp: OpportunityView, now: datetime, follow_up: FollowUpView | None = None) -> str:
    marker = ":alarm_clock: " if follow_up is not None and follow_up.due_at < now else ""
    plan = f"\nNext: {follow_up_line(follow_up, now)}" if follow_up is not None else ""
    return clip(
        f"{marker}*{opp.ref}* {escape(opp.name)} — {escape(opp.customer)} · {format_amount(opp.amount, opp.currency)}"
        f" · {days_between(opp.stage_entered_at, now)} d in stage{plan}", SECTION_TEXT)


def overdue_first(items: Sequence[OpportunityView], follow_ups: dict[int, FollowUpView], now: datetime) -> list[OpportunityView]:
    """Within each stage, deals with an overdue follow-up come first; otherwise the order is kept."""
    return sorted(items, key=lambda o: (0 if (f := follow_ups.get(o.id)) is not None and f.due_at < now else 1))


def list_blocks(page: ListPage, stages: StageModel, now: datetime, *, viewer_id: str) -> list[dict]:
    who = "Your" if page.owner_id == viewer_id else f"<@{page.owner_id}>'s"
    scope = f" in {escape(stages.name_of(page.stage_filter))}" if page.stage_filter else ""
    if not page.total:
        return [{"type": "section", "text": mrkdwn(f"{who} open opportunities{scope}: none. Create one with `/opp new`.")}]
    last = page.offset + len(page.items)
    blocks: list[dict] = [{"type": "section", "text": mrkdwn(f"*{who} open opportunities{scope}* · {page.offset + 1}–{last} of {page.total}")}]
    overdue = sum(1 for o in page.items if (f := page.follow_ups.get(o.id)) is not None and f.due_at < now)
    if overdue:
        blocks.append({"type": "context", "elements": [mrkdwn(f":alarm_clock: {overdue} on this page with an overdue follow-up, shown first in each stage")]})
    current_stage = None
    ordered = sorted(page.items, key=lambda o: (stages.index_of(o.stage_id) if stages.index_of(o.stage_id) is not None else 99))
    grouped: list[OpportunityView] = []
    for stage_id in dict.fromkeys(o.stage_id for o in ordered):
        grouped.extend(overdue_first([o for o in ordered if o.stage_id == stage_id], page.follow_ups, now))
    for opp in grouped:
        if opp.stage_id != current_stage:
            current_stage = opp.stage_id
            blocks.append({"type": "context", "elements": [mrkdwn(f"*{escape(stages.name_of(opp.stage_id))}*")]})
        blocks.append({"type": "section", "text": mrkdwn(opportunity_line(opp, now, page.follow_ups.get(opp.id))),
                       "accessory": {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open"), "value": str(opp.id)}})
    if last < page.total:
        state = json.dumps({"o": page.owner_id, "s": page.stage_filter, "n": last})
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": LIST_PAGE_BUTTON, "text": plain(f"Next page ({last + 1}–{min(last + LIST_PAGE_SIZE, page.total)})"), "value": state}]})
    return blocks


@dataclass(frozen=True)
class StageSummary:
    stage_id: int
    count: int
    amounts: dict[str, Decimal]


HOME_ITEMS = 40


HOME_FOLLOW_UPS = 10


def stalled_lines(stalled, stages: StageModel, *, top: int, owners: bool) -> str:
    lines = []
    for deal in stalled.deals[:top]:
        who = f" (<@{deal.owner_id}>)" if owners else ""
        lines.append(f"• *OPP-{deal.number}* {escape(clip(deal.name, 60))}{who} · {deal.days_in_stage:.0f} d in {escape(stages.name_of(deal.stage_id))}")
    return "\n".join(lines) + _more(stalled.total, len(lines))


def home_view(owner_id: str, summaries: Sequence[StageSummary], items: Sequence[OpportunityView], total: int, stages: StageModel, now: datetime,
              *, due: Sequence[tuple[FollowUpView, OpportunityView]] = (), follow_ups: dict[int, FollowUpView] | None = None,
              my_stalled=None, team=None) -> dict:
    """The App Home: "my day" (follow-ups, stalled deals, my pipeline); for a manager also the team's funnel and stalled list.

    `team` is (conversion steps, stalled) of the deals of the reps the viewer manages, or None.
    """
    follow_ups = follow_ups or {}
    blocks: list[dict] = [
        {"type": "header", "text": plain("Your pipeline")},
        {"type": "actions", "elements": [{"type": "button", "action_id": HOME_NEW_BUTTON, "text": plain("New opportunity"), "style": "primary", "value": "new"}]},
    ]
    if due:
        overdue = sum(1 for f, _ in due if f.due_at < now)
        blocks.append({"type": "section", "text": mrkdwn(f"*Follow-ups: {overdue} overdue, {len(due) - overdue} due today*")})
        for follow_up, opp in list(due)[:HOME_FOLLOW_UPS]:
            blocks.append({"type": "section", "text": mrkdwn(clip(f"{follow_up_line(follow_up, now)}\n{opp.ref} · {escape(opp.name)}", SECTION_TEXT)),
                           "accessory": {"type": "button", "action_id": DONE_BUTTON, "text": plain("Done"), "value": str(follow_up.id)}})
        if len(due) > HOME_FOLLOW_UPS:
            blocks.append({"type": "context", "elements": [mrkdwn(f"…and {len(due) - HOME_FOLLOW_UPS} more")]})
    if my_stalled is not None and my_stalled.total:
        blocks.append({"type": "section", "text": mrkdwn(clip(f"*Your stalled deals ({my_stalled.total})*\n"
                                                              + stalled_lines(my_stalled, stages, top=5, owners=False), SECTION_TEXT))})
    if team is not None:
        conversion, team_stalled = team
        funnel = " · ".join(f"{escape(stages.name_of(s.stage_id))} {s.entered} → {percent(s.rate)}" for s in conversion) or "no deals yet"
        text = f"*Your team's funnel* (deals entering each stage → conversion to the next)\n{funnel}"
        if team_stalled.total:
            text += f"\n*Team's stalled deals ({team_stalled.total})*\n" + stalled_lines(team_stalled, stages, top=5, owners=True)
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT))})
    if not total:
        blocks.append({"type": "section", "text": mrkdwn("You have no open opportunities. Create one with the button above or `/opp new`.")})
        return {"type": "home", "blocks": blocks}
    by_stage = {s.stage_id: s for s in summaries}
    present = [stage for stage in stages.stages if stage.id in by_stage]
    # Every stage keeps its divider, summary and "…and N more" line; deals fill what is left.
    room = VIEW_BLOCKS - len(blocks) - 3 * len(present)
    shown: list[OpportunityView] = []
    for stage in present:
        shown.extend(overdue_first([o for o in items if o.stage_id == stage.id], follow_ups, now))
    shown = shown[:max(0, room)]
    for stage in present:
        summary = by_stage[stage.id]
        amounts = " · ".join(format_amount(v, c) for c, v in sorted(summary.amounts.items())) or "no amounts"
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": mrkdwn(f"*{escape(stage.name)}* · {summary.count} open · {amounts}")})
        in_stage = [o for o in shown if o.stage_id == stage.id]
        for opp in in_stage:
            blocks.append({"type": "section", "text": mrkdwn(opportunity_line(opp, now, follow_ups.get(opp.id))),
                           "accessory": {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open"), "value": str(opp.id)}})
        hidden = summary.count - len(in_stage)
        if hidden > 0:
            blocks.append({"type": "context", "elements": [mrkdwn(f"…and {hidden} more in {escape(stage.name)}: `/opp list {escape(clip(stage.name, 40))}`")]})
    return {"type": "home", "blocks": blocks}


def help_blocks(problem: str | None = None) -> list[dict]:
    from bot.commands import HELP_LINES

    blocks = []
    if problem:
        blocks.append({"type": "section", "text": mrkdwn(f":warning: {escape(problem)}")})
    lines = "\n".join(f"`{escape(usage)}` — {escape(what)}" for usage, what in HELP_LINES)
    blocks.append({"type": "section", "text": mrkdwn(f"*oppbot: your pipeline in Slack*\n{lines}")})
    return blocks


QUICK_CHOICES = {"tomorrow": "Tomorrow 9:00", "3d": "In 3 days", "monday": "Next Monday 9:00"}
SNOOZE_CHOICES = {"1h": "1 hour", "tomorrow": "Tomorrow 9:00", "3d": "3 days"}


def follow_up_modal(opp: OpportunityView, metadata: dict, *, assignee_id: str) -> dict:
    return {
        "type": "modal",
        "callback_id": FOLLOW_UP_MODAL,
        "title": plain("Add follow-up"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": mrkdwn(f"*{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)})")},
            _input("what", "What to do", _text_input("value", max_length=500, placeholder="e.g. call the buyer back about pricing")),
            _input("quick", "When", _radio("value", QUICK_CHOICES), optional=True, hint="Or pick a date and time below."),
            _input("date", "Date", {"type": "datepicker", "action_id": "value"}, optional=True),
            _input("time", "Time", {"type": "timepicker", "action_id": "value", "initial_time": "09:00"}, optional=True,
                   hint="In your Slack time zone."),
            _input("assignee", "Who", {"type": "users_select", "action_id": "value", "initial_user": assignee_id}),
        ],
    }


def add_follow_up_offer(opp: OpportunityView, text: str) -> list[dict]:
    """A confirmation that offers to plan the next step when the deal has none pending."""
    return [{"type": "section", "text": mrkdwn(text)},
            {"type": "actions", "elements": [{"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain("Add follow-up"),
                                              "style": "primary", "value": str(opp.id)}]},
            {"type": "context", "elements": [mrkdwn(f"{opp.ref} has no follow-up planned.")]}]


def reminder_message(follow_up: FollowUpView, opp: OpportunityView, *, nudge: bool, late_since: datetime | None) -> tuple[str, list[dict]]:
    lead = ":bell: *Still to do*" if nudge else ":bell: *Follow-up due*"
    late = f"\n_It was due at {slack_date(late_since)}; I was offline then._" if late_since else ""
    text = f"Follow-up due: {escape(follow_up.text)} — {opp.ref} {escape(opp.name)} ({escape(opp.customer)})"
    value = str(follow_up.id)
    return text, [
        {"type": "section", "text": mrkdwn(f"{lead}: {escape(follow_up.text)}\n*{opp.ref} · {escape(opp.name)}* — {escape(opp.customer)}"
                                           f"\nDue {slack_date(follow_up.due_at)}{late}")},
        {"type": "actions", "block_id": f"reminder:{follow_up.id}", "elements": [
            {"type": "button", "action_id": DONE_BUTTON, "text": plain("Done"), "style": "primary", "value": value},
            {"type": "static_select", "action_id": SNOOZE_SELECT, "placeholder": plain("Snooze…"),
             "options": [option(label, f"{follow_up.id}:{key}") for key, label in SNOOZE_CHOICES.items()]},
            {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open opportunity"), "value": str(opp.id)},
        ]},
    ]


def reminder_closed_message(follow_up: FollowUpView, opp: OpportunityView, outcome: str) -> tuple[str, list[dict]]:
    text = f"{outcome} — {escape(follow_up.text)} ({opp.ref})"
    return text, [
        {"type": "section", "text": mrkdwn(f"{outcome}\n*{opp.ref} · {escape(opp.name)}* — {escape(opp.customer)}")},
        {"type": "actions", "elements": [{"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open opportunity"), "value": str(opp.id)}]},
    ]


def stalled_message(opp: OpportunityView, stages: StageModel, now: datetime) -> tuple[str, list[dict]]:
    stage = stages.by_id(opp.stage_id)
    days = days_between(opp.stage_entered_at, now)
    norm = f" (the norm is at most {stage.max_days})" if stage else ""
    text = f"{opp.ref} {escape(opp.name)} has been in {escape(stages.name_of(opp.stage_id))} for {days} days"
    select = card_controls(opp, stages)[0]
    return text, [
        {"type": "section", "text": mrkdwn(f":hourglass: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}) has been in "
                                           f"*{escape(stages.name_of(opp.stage_id))}* for {days} days{norm}. Move it on, or plan the next step.")},
        {"type": "actions", "elements": [
            select,
            {"type": "button", "action_id": ADD_FOLLOW_UP_BUTTON, "text": plain("Add follow-up"), "style": "primary", "value": str(opp.id)},
            {"type": "button", "action_id": DETAILS_BUTTON, "text": plain("Open opportunity"), "value": str(opp.id)},
        ]},
    ]


def stage_alert_message(opp: OpportunityView, stages: StageModel, change_id: int, mover_id: str, stage, path: Sequence[int],
                        permalink: str | None, *, holder: str | None) -> tuple[str, list[dict]]:
    """The alert posted to a stage's channel; `holder` is who took it, if anyone."""
    mention = f"<!subteam^{stage.alert_usergroup}> " if stage.alert_usergroup else ""
    text = f"{opp.ref} {escape(opp.name)} ({escape(opp.customer)}) entered {escape(stage.name)}"
    route = " › ".join(escape(stages.name_of(s)) for s in list(dict.fromkeys(path))[-8:])
    fields = [
        f"*Customer*\n{escape(opp.customer)}",
        f"*Amount*\n{format_amount(opp.amount, opp.currency)}",
        f"*Owner*\n<@{opp.owner_id}>",
        f"*Expected close*\n{opp.close_date.isoformat() if opp.close_date else '—'}",
        f"*Stage*\n{escape(stage.name)}",
        f"*Path so far*\n{route or escape(stage.name)}",
    ]
    message: list[dict] = [
        {"type": "section", "text": mrkdwn(f"{mention}:rotating_light: <@{mover_id}> moved *{opp.ref} · {escape(opp.name)}* into *{escape(stage.name)}*.")},
        {"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields]},
    ]
    if opp.next_step:
        message.append({"type": "section", "text": mrkdwn(f"*Next step:* {escape(opp.next_step)}")})
    value = str(change_id)
    elements: list[dict]
    if holder:
        message.append({"type": "context", "elements": [mrkdwn(f":raised_hand: Taken by <@{holder}>")]})
        elements = [{"type": "button", "action_id": RELEASE_BUTTON, "text": plain("Release"), "value": value}]
    else:
        elements = [{"type": "button", "action_id": TAKE_BUTTON, "text": plain("Take it"), "style": "primary", "value": value}]
    if permalink:
        elements.append({"type": "button", "action_id": "alert_open", "text": plain("Open"), "url": permalink})
    message.append({"type": "actions", "block_id": f"alert:{change_id}", "elements": elements})
    return text, message


def outcome_message(opp: OpportunityView, status: str, mover_id: str, permalink: str | None) -> tuple[str, list[dict]]:
    if status == WON:
        headline = f":trophy: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}) is *won* — {format_amount(opp.amount, opp.currency)}. Owner <@{opp.owner_id}>."
    else:
        reason = f" Reason: {escape(opp.lost_reason)}" if opp.lost_reason else ""
        headline = f":small_red_triangle_down: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}) is *lost* — {format_amount(opp.amount, opp.currency)}. Owner <@{opp.owner_id}>.{reason}"
    message: list[dict] = [{"type": "section", "text": mrkdwn(headline)},
                           {"type": "context", "elements": [mrkdwn(f"Marked by <@{mover_id}>")]}]
    if permalink:
        message.append({"type": "actions", "elements": [{"type": "button", "action_id": "alert_open", "text": plain("Open"), "url": permalink}]})
    return f"{opp.ref} {escape(opp.name)} {status}", message


def config_modal(stages: StageModel, *, won_channel: str | None, lost_channel: str | None) -> dict:
    """/opp config: per stage its alert channel, user group, win probability and max days; won / lost channels."""

    def channel_select(initial: str | None) -> dict:
        element: dict = {"type": "conversations_select", "action_id": "value", "placeholder": plain("No alerts"),
                         "filter": {"include": ["public", "private"], "exclude_bot_users": True}}
        if initial and not initial.startswith("#"):
            element["initial_conversation"] = initial
        return element

    blocks: list[dict] = []
    for number, stage in enumerate(stages.stages, start=1):
        prefix = f"{number}. {clip(stage.name, 30)}"
        blocks.append(_input(f"stage:{stage.id}:channel", f"{prefix} · alert channel", channel_select(stage.alert_channel_id or stage.alert_channel), optional=True))
        blocks.append(_input(f"stage:{stage.id}:group", f"{prefix} · user group to mention",
                             _text_input("value", max_length=20, initial=stage.alert_usergroup, placeholder="S0123ABCD"), optional=True))
        blocks.append(_input(f"stage:{stage.id}:probability", f"{prefix} · win probability (%)", _text_input("value", max_length=5, initial=str(stage.probability))))
        blocks.append(_input(f"stage:{stage.id}:max_days", f"{prefix} · stalled after (days)", _text_input("value", max_length=5, initial=str(stage.max_days))))
    blocks.append(_input("won_channel", "Announce won deals in", channel_select(won_channel), optional=True))
    blocks.append(_input("lost_channel", "Announce lost deals in", channel_select(lost_channel), optional=True))
    return {"type": "modal", "callback_id": CONFIG_MODAL, "title": plain("Pipeline settings"), "submit": plain("Save"),
            "close": plain("Cancel"), "blocks": blocks[:VIEW_BLOCKS]}


# ----- manager digest ---------------------------------------------------------------------------

DIGEST_TOP = 5
DIGEST_FULL_TOP = 25
DIGEST_REPS = 10
DIGEST_FULL_BUTTON = "digest_full_report"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} d"


def _more(total: int, shown: int) -> str:
    return f"\n…and {total - shown} more" if total > shown else ""


def _deal(number: int, name: str, owner_id: str) -> str:
    return f"*OPP-{number}* {escape(clip(name, 60))} (<@{owner_id}>)"


def digest_message(data, stages: StageModel, *, full: bool = False) -> tuple[str, list[dict]]:
    """The manager digest: pipeline, changes, follow-ups, stalled deals, rates, reps, expected closes.

    Lists are cut to the top entries with "…and N more", so the message stays within Slack's limits
    whatever the team's size; `full` (the modal behind "Full report") shows longer lists.
    """
    top = DIGEST_FULL_TOP if full else DIGEST_TOP
    currency = data.currency
    team = data.team
    out: list[dict] = [
        {"type": "header", "text": plain(f"{team.name} · pipeline digest", HEADER_TEXT)},
        {"type": "context", "elements": [mrkdwn(f"Changes since {slack_date(data.since)} · as of {slack_date(data.now)} · amounts in {currency}")]},
    ]

    # pipeline by stage
    fields = []
    total_count, total_amount, total_weighted, other = 0, Decimal(0), Decimal(0), 0
    for row in data.pipeline:
        total_count += row.count
        total_amount += row.amount
        total_weighted += row.weighted_amount
        other += row.other_currency
        fields.append(f"*{escape(stages.name_of(row.stage_id))}*\n{row.count} · {format_amount(row.amount, currency)} · weighted {format_amount(row.weighted_amount, currency)}")
    summary = f"*Open pipeline:* {total_count} deals · {format_amount(total_amount, currency)} · weighted {format_amount(total_weighted, currency)}"
    if other:
        summary += f"\n_{other} deal(s) in other currencies are counted but not in the amounts._"
    out.append({"type": "section", "text": mrkdwn(summary)})
    for start in range(0, len(fields), 10):
        out.append({"type": "section", "fields": [mrkdwn(f, FIELD_TEXT) for f in fields[start:start + 10]]})

    # what changed
    changes = data.changes
    lines = []
    for label, changed in (("New", changes.new), ("Advanced", changes.advanced), ("Moved back", changes.moved_back),
                           ("Won", changes.won), ("Lost", changes.lost), ("Reopened", changes.reopened)):
        if not changed.total:
            continue
        items = []
        for deal in changed.deals[:top]:
            detail = ""
            if label in ("Advanced", "Moved back") and deal.from_stage_id is not None:
                detail = f" {escape(stages.name_of(deal.from_stage_id))} → {escape(stages.name_of(deal.to_stage_id))}"
            elif label == "Lost" and deal.lost_reason:
                detail = f" — {escape(clip(deal.lost_reason, 100))}"
            elif label == "Won":
                detail = f" — {format_amount(deal.amount, deal.currency)}"
            items.append(f"• {_deal(deal.number, deal.name, deal.owner_id)}{detail}")
        lines.append(f"*{label} ({changed.total})*\n" + "\n".join(items) + _more(changed.total, len(items)))
    out.append({"type": "divider"})
    out.append({"type": "section", "text": mrkdwn(clip("*What changed*\n" + ("\n".join(lines) if lines else "Nothing since the last digest."), SECTION_TEXT))})

    # follow-ups
    overdue = sorted(data.overdue, key=lambda o: -o.count)
    follow = [f"• <@{o.assignee_id}>: {o.count} overdue, oldest due {slack_date(o.oldest_due_at, '{date_short}')}" for o in overdue[:top]]
    text = "*Overdue follow-ups*\n" + ("\n".join(follow) + _more(len(overdue), len(follow)) if follow else "None. :tada:")
    without = data.without_follow_up
    if without.total:
        deals = "\n".join(f"• {_deal(d.number, d.name, d.owner_id)} · {escape(stages.name_of(d.stage_id))}" for d in without.deals[:top])
        text += f"\n*Open deals with no follow-up planned ({without.total})*\n{deals}{_more(without.total, min(top, len(without.deals)))}"
    out.append({"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT))})

    # stalled
    stalled = data.stalled
    if stalled.total:
        items = []
        for deal in stalled.deals[:top]:
            why = f"over the stage's {deal.max_days} days" if deal.reason == "max_days" else f"over 2× the team's median ({_days(deal.median_days)})"
            items.append(f"• {_deal(deal.number, deal.name, deal.owner_id)} · {deal.days_in_stage:.0f} d in {escape(stages.name_of(deal.stage_id))}, {why}")
        out.append({"type": "section", "text": mrkdwn(clip(f"*Stalled ({stalled.total})*\n" + "\n".join(items) + _more(stalled.total, len(items)), SECTION_TEXT))})
    else:
        out.append({"type": "section", "text": mrkdwn("*Stalled:* none.")})

    # rates
    rate = data.win_rate
    conversion = " · ".join(f"{escape(stages.name_of(s.stage_id))} → {escape(stages.name_of(s.next_stage_id)) if s.next_stage_id else 'Won'} {percent(s.rate)}"
                            for s in data.conversion)
    dwell = " · ".join(f"{escape(stages.name_of(d.stage_id))} {_days(d.avg_days)}" for d in data.dwell)
    out.append({"type": "divider"})
    out.append({"type": "section", "text": mrkdwn(clip(
        f"*Win rate, last 90 days:* {percent(rate.rate_by_count)} by count ({rate.won_count} won, {rate.lost_count} lost) · "
        f"{percent(rate.rate_by_amount)} by amount ({format_amount(rate.won_amount, currency)} won)\n"
        f"*Average cycle:* {_days(data.cycle.avg_days)} over {data.cycle.count} won deal(s)\n"
        f"*Stage-to-stage conversion:* {conversion or '—'}\n*Average days in stage:* {dwell or '—'}", SECTION_TEXT))})

    # reps side by side
    reps = [r for r in data.reps.reps if r.owner_id]
    if reps:
        team_line = " · ".join(str(s.entered) for s in data.reps.team.stages)
        items = [f"_Deals entering each stage ({' · '.join(escape(clip(stages.name_of(s.stage_id), 14)) for s in data.reps.team.stages)}):_ team {team_line}"]
        limit = DIGEST_FULL_TOP if full else DIGEST_REPS
        for rep in reps[:limit]:
            counts = " · ".join(str(s.entered) for s in rep.stages)
            pointer = (f"; stalls in *{escape(stages.name_of(rep.stall_stage_id))}* ({rep.stall_ratio:.1f}× the team's time)"
                       if rep.stall_stage_id is not None and rep.stall_ratio and rep.stall_ratio > 1 else "")
            items.append(f"• <@{rep.owner_id}>: {counts}{pointer}")
        out.append({"type": "section", "text": mrkdwn(clip("*Reps side by side*\n" + "\n".join(items) + _more(len(reps), min(limit, len(reps))), SECTION_TEXT))})

    # expected closes
    this_month, next_month = data.closes_this_month, data.closes_next_month
    out.append({"type": "section", "fields": [
        mrkdwn(f"*Expected to close this month*\n{this_month.count} · {format_amount(this_month.amount, currency)} (weighted {format_amount(this_month.weighted_amount, currency)})"),
        mrkdwn(f"*Next month*\n{next_month.count} · {format_amount(next_month.amount, currency)} (weighted {format_amount(next_month.weighted_amount, currency)})"),
    ]})
    if not full:
        out.append({"type": "actions", "elements": [
            {"type": "button", "action_id": DIGEST_FULL_BUTTON, "text": plain("Full report"), "value": str(team.id)}]})
    text = f"{team.name} pipeline digest: {total_count} open deals, {format_amount(total_amount, currency)}"
    return text, out[:(VIEW_BLOCKS if full else MESSAGE_BLOCKS)]


def digest_modal(data, stages: StageModel) -> dict:
    _, content = digest_message(data, stages, full=True)
    return {"type": "modal", "title": plain(clip(f"{data.team.name} report", VIEW_TITLE)), "close": plain("Close"), "blocks": content}


def blocks_as_text(message: Sequence[dict]) -> str:
    """Blocks as plain terminal text (for previews): headers, sections, fields and context, in order."""
    import re as _re

    def unslack(text: str) -> str:
        text = _re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
        text = _re.sub(r"<!subteam\^([A-Z0-9]+)>", r"@\1", text)
        text = _re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("*", "")

    lines: list[str] = []
    for block in message:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [title, "=" * len(title)]
        elif kind == "section":
            if "text" in block:
                lines.append(unslack(block["text"]["text"]))
            for item in block.get("fields", []):
                lines.append("  " + unslack(item["text"]).replace("\n", ": ", 1))
        elif kind == "context":
            lines.append(" ".join(unslack(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def report_message(dimension: str, period_label: str, who: str, rows, currency: str) -> tuple[str, list[dict]]:
    title = f"Report by {dimension}, {period_label} ({who})"
    if not rows:
        return title, [{"type": "section", "text": mrkdwn(f"*{escape(title)}*\nNo deals were created in this period.")}]
    lines = []
    for row in rows[:40]:
        key = f"<@{row.key}>" if dimension == "rep" and re.fullmatch(r"[UW][A-Z0-9]+", row.key) else escape(row.key)
        lines.append(f"*{key}* · {row.count} deals · {format_amount(row.amount, currency)} · weighted open {format_amount(row.weighted_open_amount, currency)}"
                     f" · win rate {percent(row.win_rate)} ({row.won_count}/{row.won_count + row.lost_count}) · cycle {_days(row.avg_cycle_days)}")
    chunks = _chunk_lines(lines, SECTION_TEXT)
    message = [{"type": "section", "text": mrkdwn(f"*{escape(title)}*")}] + [{"type": "section", "text": mrkdwn(c)} for c in chunks[:45]]
    if len(rows) > 40:
        message.append({"type": "context", "elements": [mrkdwn(f"…and {len(rows) - 40} more groups; `/opp export` has every deal.")]})
    return title, message


def team_blocks(team) -> list[dict]:
    members = ", ".join(f"<@{m}>" for m in team.member_ids) or "nobody yet"
    where = f" · digest also in <#{team.channel}>" if team.channel and not team.channel.startswith("#") else (f" · digest also in {escape(team.channel)}" if team.channel else "")
    return [
        {"type": "section", "text": mrkdwn(f"*Team {escape(team.name)}*\nManager: <@{team.manager_id}>\nReps ({len(team.member_ids)}): {clip(members, 2500)}")},
        {"type": "context", "elements": [mrkdwn(f"Digest schedule `{escape(team.digest)}` ({escape(team.timezone or 'workspace time zone')}){where}. "
                                                "Managers change the team with `/opp team add @rep` and `/opp team remove @rep`.")]},
    ]


def suggestions_message(opp: OpportunityView, suggestions, *, requested_by: str, team_name: str) -> tuple[str, list[dict]]:
    """To the manager (or routing channel): a deal that needs an owner, the best reps with their reasons, and Assign buttons."""
    text = f"{opp.ref} {escape(opp.name)} needs an owner"
    out: list[dict] = [{"type": "section", "text": mrkdwn(
        f":busts_in_silhouette: *{opp.ref} · {escape(opp.name)}* ({escape(opp.customer)}, {format_amount(opp.amount, opp.currency)}) needs an owner"
        f" — asked by <@{requested_by}>.")}]
    if not suggestions:
        out.append({"type": "section", "text": mrkdwn(f"{escape(team_name)} has no available rep to suggest (nobody on the team, or everyone is away). "
                                                      f"Assign it with `/opp assign {opp.ref} @rep`.")})
        return text, out
    for rank_number, suggestion in enumerate(suggestions, start=1):
        out.append({"type": "section", "text": mrkdwn(clip(f"*{rank_number}. <@{suggestion.user_id}>* — {escape(suggestion.reasons)}", SECTION_TEXT)),
                    "accessory": {"type": "button", "action_id": ASSIGN_BUTTON, "text": plain("Assign"), "value": f"{opp.id}:{suggestion.user_id}"}})
    out.append({"type": "context", "elements": [mrkdwn(f"Ranked on similar deals won, speed and current load in {escape(team_name)}. "
                                                       f"Or `/opp assign {opp.ref} @rep`.")]})
    return text, out
