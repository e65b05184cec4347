"""Follow-ups: what to do about a deal, by when, by whom; their reminder DMs and stalled-deal nudges."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.deals.service import STALLED, Pipeline, follow_up_view, to_view
from bot.domain.stages import can_change
from bot.domain.values import (
    Actor,
    FollowUpView,
    Forbidden,
    Invalid,
    NotFound,
    OpportunityView,
)
from bot.domain.when import WhenError, next_local, parse_when
from bot.followups.views import reminder_message, stalled_message
from bot.outbox.dispatcher import (
    Dispatcher,
    RetryLater,
    Sent,
    Skip,
    cancel_pending,
    schedule,
)
from bot.slack.blocks import escape, slack_date
from bot.slack.gateway import SlackGateway
from storage.models import DONE, OPEN, PENDING, Delivery, FollowUp

log = logging.getLogger(__name__)

REMINDER, NUDGE = "reminder", "nudge"
NUDGE_AFTER = timedelta(hours=24)
LATE_AFTER = timedelta(minutes=5)
TEXT_MAX = 500


@dataclass(frozen=True)
class FollowUpResult:
    follow_up: FollowUpView
    opportunity: OpportunityView
    changed: bool
    message: str


def reminder_key(follow_up_id: int, due_at: datetime) -> str:
    return f"reminder:{follow_up_id}:{int(due_at.timestamp())}"


class FollowUps:
    def __init__(self, pipeline: Pipeline, delivery_slack: SlackGateway | None = None) -> None:
        self.pipeline = pipeline
        self.uow = pipeline.uow
        self.clock = pipeline.clock
        self.slack = delivery_slack or pipeline.slack

    # ----- changes ----------------------------------------------------------------------------

    def add(self, actor: Actor, opp_id: int, text: str, due_at: datetime, assignee_id: str | None = None) -> FollowUpResult:
        text = " ".join(text.split())
        if not text:
            raise Invalid("Say what to do, e.g. “call the buyer back”.")
        if len(text) > TEXT_MAX:
            raise Invalid(f"The task is too long: {len(text)} characters, at most {TEXT_MAX}.")
        now = self.clock.now()
        if due_at <= now:
            raise Invalid("That time is in the past; pick a later time.")
        opp = self.pipeline.find(actor, opp_id=opp_id)
        if not can_change(actor, opp):
            raise Forbidden(f"You can't add follow-ups to {opp.ref}: it belongs to <@{opp.owner_id}>.")
        if not opp.is_open:
            raise Invalid(f"{opp.ref} is {opp.status}; reopen it before planning follow-ups.")
        assignee = assignee_id or opp.owner_id
        if assignee != opp.owner_id and (problem := self.pipeline.check_owner(actor.team_id, assignee)):
            raise Invalid(problem.replace("own an opportunity", "take a follow-up"))
        with self.uow(write=True) as uow:
            row = FollowUp(team_id=actor.team_id, opportunity_id=opp.id, text=text, due_at=due_at, assignee_id=assignee,
                           status=PENDING, created_by=actor.user_id, created_at=now)
            uow.session.add(row)
            uow.session.flush()
            assert row.id is not None
            schedule(uow.session, team_id=actor.team_id, kind=REMINDER, subject_id=row.id, dedupe_key=reminder_key(row.id, due_at),
                     due_at=due_at, now=now, payload={"due": int(due_at.timestamp())})
            uow.commit()
            view = follow_up_view(row)
        self.pipeline.wake_dispatcher(due_at)
        self.pipeline.refresh_cards(opp, self.pipeline.stage_model(actor.team_id))
        who = "you" if assignee == actor.user_id else f"<@{assignee}>"
        return FollowUpResult(view, opp, True, f"Follow-up on {opp.ref} for {who}: “{escape(text)}”, due {slack_date(due_at)}.")

    def add_from_text(self, actor: Actor, number: int, text: str) -> FollowUpResult:
        """`/opp followup OPP-12 <when> <what>`, the moment read in the actor's Slack time zone."""
        opp = self.pipeline.find(actor, number=number)
        try:
            when = parse_when(text, self.clock.now(), self.pipeline.timezone_of(actor.team_id, actor.user_id))
        except WhenError as exc:
            raise Invalid(str(exc)) from None
        if not when.rest:
            raise Invalid("Say what to do after the time, e.g. /opp followup OPP-12 tomorrow 9am send the quote.")
        return self.add(actor, opp.id, when.rest, when.at)

    def _load_for_change(self, uow, actor: Actor, follow_up_id: int) -> tuple[FollowUp, OpportunityView]:
        row = uow.follow_ups.follow_up(actor.team_id, follow_up_id, for_update=True)
        if row is None:
            raise NotFound("That follow-up doesn't exist in this workspace.")
        opp_row = uow.deals.opportunity_by_id(actor.team_id, row.opportunity_id)
        assert opp_row is not None
        opp = to_view(opp_row)
        if actor.user_id != row.assignee_id and not can_change(actor, opp):
            raise Forbidden(f"This follow-up is <@{row.assignee_id}>'s; only they, the deal's owner, their manager or an admin can change it.")
        return row, opp

    def complete(self, actor: Actor, follow_up_id: int) -> FollowUpResult:
        now = self.clock.now()
        with self.uow(write=True) as uow:
            row, opp = self._load_for_change(uow, actor, follow_up_id)
            if row.status != PENDING:
                return FollowUpResult(follow_up_view(row), opp, False, f"Already {row.status}: “{escape(row.text)}”.")
            row.status, row.done_at, row.done_by = DONE, now, actor.user_id
            cancel_pending(uow.session, team_id=actor.team_id, kinds=(REMINDER, NUDGE), subject_id=row.id)  # type: ignore[arg-type]
            uow.session.add(row)
            uow.commit()
            view = follow_up_view(row)
        self.pipeline.refresh_cards(opp, self.pipeline.stage_model(actor.team_id))
        return FollowUpResult(view, opp, True, f":white_check_mark: Done: “{escape(view.text)}” ({opp.ref}).")

    def snooze_until(self, actor: Actor, follow_up_id: int, choice: str) -> datetime:
        now = self.clock.now()
        if choice == "1h":
            return now + timedelta(hours=1)
        tz = self.pipeline.timezone_of(actor.team_id, actor.user_id)
        if choice == "tomorrow":
            return next_local(now, tz, days=1)
        if choice == "3d":
            return now + timedelta(days=3)
        raise Invalid("Unknown snooze choice.")

    def snooze(self, actor: Actor, follow_up_id: int, choice: str) -> FollowUpResult:
        until = self.snooze_until(actor, follow_up_id, choice)
        now = self.clock.now()
        with self.uow(write=True) as uow:
            row, opp = self._load_for_change(uow, actor, follow_up_id)
            if row.status != PENDING:
                return FollowUpResult(follow_up_view(row), opp, False, f"Already {row.status}: “{escape(row.text)}”.")
            if row.due_at > now and abs((row.due_at - until).total_seconds()) < 60:
                # a double click on the same snooze: the first one already moved it here
                return FollowUpResult(follow_up_view(row), opp, False, f"Already snoozed until {slack_date(row.due_at)}.")
            cancel_pending(uow.session, team_id=actor.team_id, kinds=(REMINDER, NUDGE), subject_id=row.id)  # type: ignore[arg-type]
            row.due_at = until
            schedule(uow.session, team_id=actor.team_id, kind=REMINDER, subject_id=row.id, dedupe_key=reminder_key(row.id, until),  # type: ignore[arg-type]
                     due_at=until, now=now, payload={"due": int(until.timestamp())})
            uow.session.add(row)
            uow.commit()
            view = follow_up_view(row)
        self.pipeline.wake_dispatcher(until)
        self.pipeline.refresh_cards(opp, self.pipeline.stage_model(actor.team_id))
        return FollowUpResult(view, opp, True, f":zzz: Snoozed until {slack_date(until)}: “{escape(view.text)}” ({opp.ref}).")

    def has_pending(self, team_id: str, opp_id: int) -> bool:
        with self.uow() as uow:
            return bool(uow.follow_ups.next_follow_ups(team_id, [opp_id]))

    # ----- delivery ---------------------------------------------------------------------------

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(REMINDER, self.send_reminder)
        dispatcher.register(NUDGE, self.send_reminder)
        dispatcher.register(STALLED, self.send_stalled)

    def send_reminder(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        with self.uow() as uow:
            rows = uow.follow_ups.follow_up_and_opportunity(delivery.team_id, delivery.subject_id)
        if rows is None:
            return Skip("follow-up is gone")
        follow_up, opp = follow_up_view(rows[0]), to_view(rows[1])
        if follow_up.status != PENDING:
            return Skip(f"follow-up is {follow_up.status}")
        if int(follow_up.due_at.timestamp()) != delivery.payload.get("due"):
            return Skip("follow-up was rescheduled")
        nudge = delivery.kind == NUDGE
        late_since = delivery.scheduled_for if now - delivery.scheduled_for > LATE_AFTER and not nudge else None
        text, message = reminder_message(follow_up, opp, nudge=nudge, late_since=late_since)
        channel, ts = self.slack.dm(follow_up.assignee_id, text, message)
        if nudge:
            return Sent(channel, ts)
        due = int(follow_up.due_at.timestamp())
        return Sent(channel, ts, then=lambda session: schedule(
            session, team_id=delivery.team_id, kind=NUDGE, subject_id=follow_up.id, dedupe_key=f"nudge:{follow_up.id}:{due}",
            due_at=max(now, follow_up.due_at + NUDGE_AFTER), now=now, payload={"due": due}))

    def send_stalled(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        with self.uow() as uow:
            opp_row = uow.deals.opportunity_by_id(delivery.team_id, delivery.subject_id)
            if opp_row is None:
                return Skip("opportunity is gone")
            opp = to_view(opp_row)
        entered = int(delivery.payload.get("entered", 0))
        if opp.status != OPEN or int(opp.stage_entered_at.timestamp()) != entered:
            return Skip("the deal left that stage")
        stages = self.pipeline.stage_model(delivery.team_id)
        stage = stages.by_id(opp.stage_id)
        if stage is not None and now < opp.stage_entered_at + timedelta(days=stage.max_days):
            return RetryLater(opp.stage_entered_at + timedelta(days=stage.max_days), "the stage's max days grew")
        text, message = stalled_message(opp, stages, now)
        channel, ts = self.slack.dm(opp.owner_id, text, message)
        return Sent(channel, ts)
