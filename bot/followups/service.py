"""Follow-ups: what to do about a deal, by when, by whom; their reminder DMs and stalled-deal nudges."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.stages import can_change, can_view
from bot.domain.values import (
    N_,
    OPEN,
    WON,
    Context,
    FollowUpView,
    Forbidden,
    Invalid,
    NotFound,
    OpportunityView,
    Pipeline,
    no_such_deal,
)
from bot.domain.when import WhenError, next_local, parse_when
from bot.followups.views import reminder_message, stalled_message
from bot.i18n import Translator, translator
from bot.outbox.dispatcher import Dispatcher, RetryLater, Sent, Skip, Wake, WakeUp
from bot.slack.blocks import escape, slack_date
from bot.slack.gateway import SlackGateway
from storage.analytics.stalled import judge, stalled_since
from storage.db import UnitOfWork, UnitOfWorkFactory
from storage.deals import follow_up_view, to_view
from storage.models import DONE, PENDING, Delivery, FollowUp, Opportunity

log = logging.getLogger(__name__)

REMINDER, NUDGE, STALLED = "reminder", "nudge", "stalled"
NUDGE_AFTER = timedelta(hours=24)
LATE_AFTER = timedelta(minutes=5)
TEXT_MAX = 500
SNOOZE_CHOICES = ("1h", "tomorrow", "3d")
# a colleague check_person turned down, in the words of a follow-up (its message is the owner check's, bot/workspace/service.py)
PERSON_PROBLEMS = {"A bot can't own an opportunity; pick a person.": N_("A bot can't take a follow-up; pick a person.")}


@dataclass(frozen=True)
class FollowUpResult:
    follow_up: FollowUpView
    opportunity: OpportunityView
    changed: bool
    message: str


def reminder_key(follow_up_id: int, due_at: datetime) -> str:
    return f"reminder:{follow_up_id}:{int(due_at.timestamp())}"


def schedule_reminder(uow: UnitOfWork, row: FollowUp, now: datetime) -> None:
    assert row.id is not None
    uow.outbox.schedule(team_id=row.team_id, kind=REMINDER, subject_id=row.id, dedupe_key=reminder_key(row.id, row.due_at),
                        due_at=row.due_at, now=now, payload={"due": int(row.due_at.timestamp())})


def schedule_stalled_check(uow: UnitOfWork, opp: Opportunity, stages: Pipeline, now: datetime) -> None:
    """One nudge per stage entry, due when the deal outstays the stage's max days (the stalled rule's max_days
    part, `storage.analytics.stalled`: a whole day more than max_days)."""
    stage = stages.by_id(opp.stage_id)
    if stage is None or opp.status != OPEN or opp.id is None:
        return
    entered = int(opp.stage_entered_at.timestamp())
    uow.outbox.schedule(team_id=opp.team_id, kind=STALLED, subject_id=opp.id, dedupe_key=f"stalled:{opp.id}:{entered}",
                        due_at=stalled_since(opp.stage_entered_at, stage.max_days), now=now, payload={"entered": entered})




def already(row: FollowUp, t: Translator) -> str:
    """A click on a follow-up that is no longer pending."""
    if row.status == DONE:
        return t("Already done: “{task}”.", task=escape(row.text))
    return t("Already cancelled: “{task}”.", task=escape(row.text))


def when_refusal(exc: WhenError) -> Invalid:
    """A moment that can't be read, refused in the words bot/domain/when.py chose (its catalogue entry and values)."""
    return Invalid(exc.message, **exc.values)


class FollowUps:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, check_person: Callable[[str, str], str | None],
                 wake: Wake | None = None) -> None:
        self.uow = uow
        self.clock = clock
        # why a user can't take a follow-up (their Slack profile), or None
        self.check_person = check_person
        self.wake = wake or WakeUp()

    # ----- changes ----------------------------------------------------------------------------

    def add(self, ctx: Context, due_at: datetime, text: str, *, opp_id: int | None = None, number: int | None = None,
            assignee_id: str | None = None) -> FollowUpResult:
        """Check the deal and write the follow-up and its reminder in one transaction."""
        from bot.deals.cards import schedule_card_refreshes

        text = " ".join(text.split())
        if not text:
            raise Invalid(N_("Say what to do, e.g. “call the buyer back”."))
        if len(text) > TEXT_MAX:
            raise Invalid(N_("The task is too long: {length} characters, at most {most}."), length=len(text), most=TEXT_MAX)
        now = self.clock.now()
        if due_at <= now:
            raise Invalid(N_("That time is in the past; pick a later time."))
        # Whether a colleague can take the follow-up is their Slack profile: read before the transaction.
        problem = self.check_person(ctx.team_id, assignee_id) if assignee_id else None
        with self.uow(write=True) as uow:
            row = uow.deals.locked(ctx.team_id, opp_id=opp_id, number=number)
            if row is None:
                raise no_such_deal(number)
            opp = self._check_plannable(ctx, row)
            if not opp.is_open:
                if opp.status == WON:
                    raise Invalid(N_("{ref} is won; reopen it before planning follow-ups."), ref=opp.ref)
                raise Invalid(N_("{ref} is lost; reopen it before planning follow-ups."), ref=opp.ref)
            assignee = assignee_id or opp.owner_id
            if assignee != opp.owner_id and problem:
                raise Invalid(PERSON_PROBLEMS.get(problem, problem))
            follow_up = uow.follow_ups.add(ctx.team_id, opp.id, text, due_at, assignee, ctx.user_id, now)
            schedule_reminder(uow, follow_up, now)
            schedule_card_refreshes(uow, ctx.team_id, opp.id, now)
            uow.commit()
            view = follow_up_view(follow_up)
        self.wake()
        self.wake(due_at)
        t = translator(ctx.language)
        if assignee == ctx.user_id:
            said = t("Follow-up on {ref} for you: “{task}”, due {due}.", ref=opp.ref, task=escape(text), due=slack_date(due_at))
        else:
            said = t("Follow-up on {ref} for <@{user}>: “{task}”, due {due}.", ref=opp.ref, user=assignee, task=escape(text), due=slack_date(due_at))
        return FollowUpResult(view, opp, True, said)

    @staticmethod
    def _check_plannable(ctx: Context, row: Opportunity) -> OpportunityView:
        opp = to_view(row)
        if not can_view(ctx.actor, opp):
            raise Forbidden(N_("{ref} belongs to <@{owner}>; only its owner, their manager or an admin can see it."), ref=opp.ref, owner=opp.owner_id)
        if not can_change(ctx.actor, opp):
            raise Forbidden(N_("You can't add follow-ups to {ref}: it belongs to <@{owner}>."), ref=opp.ref, owner=opp.owner_id)
        return opp

    def plannable(self, ctx: Context, opp_id: int) -> OpportunityView:
        """The deal, when the actor may plan follow-ups on it (before the Add follow-up form opens)."""
        with self.uow() as uow:
            row = uow.deals.opportunity_by_id(ctx.team_id, opp_id)
            if row is None:
                raise no_such_deal()
            return self._check_plannable(ctx, row)

    def add_from_text(self, ctx: Context, number: int, text: str) -> FollowUpResult:
        """`/opp followup OPP-12 <when> <what>`, the moment read in the actor's Slack time zone."""
        try:
            when = parse_when(text, self.clock.now(), ctx.timezone)
        except WhenError as exc:
            raise when_refusal(exc) from None
        if not when.rest:
            raise Invalid(N_("Say what to do after the time, e.g. /opp followup OPP-12 tomorrow 9am send the quote."))
        return self.add(ctx, when.at, when.rest, number=number)

    @staticmethod
    def _load_for_change(uow: UnitOfWork, ctx: Context, follow_up_id: int) -> tuple[FollowUp, OpportunityView]:
        row = uow.follow_ups.follow_up(ctx.team_id, follow_up_id, for_update=True)
        if row is None:
            raise NotFound(N_("That follow-up doesn't exist in this workspace."))
        opp = uow.deals.view(ctx.team_id, row.opportunity_id)
        assert opp is not None
        if ctx.user_id != row.assignee_id and not can_change(ctx.actor, opp):
            raise Forbidden(N_("This follow-up is <@{user}>'s; only they, the deal's owner, their manager or an admin can change it."),
                            user=row.assignee_id)
        return row, opp

    def complete(self, ctx: Context, follow_up_id: int) -> FollowUpResult:
        from bot.deals.cards import schedule_card_refreshes

        now = self.clock.now()
        with self.uow(write=True) as uow:
            row, opp = self._load_for_change(uow, ctx, follow_up_id)
            if row.status != PENDING:
                return FollowUpResult(follow_up_view(row), opp, False, already(row, translator(ctx.language)))
            uow.follow_ups.complete(row, ctx.user_id, now)
            uow.outbox.cancel_pending(team_id=ctx.team_id, kinds=(REMINDER, NUDGE), subject_id=follow_up_id)
            schedule_card_refreshes(uow, ctx.team_id, opp.id, now)
            uow.commit()
            view = follow_up_view(row)
        self.wake()
        t = translator(ctx.language)
        return FollowUpResult(view, opp, True, t(":white_check_mark: Done: “{task}” ({ref}).", task=escape(view.text), ref=opp.ref))

    def snooze_until(self, ctx: Context, choice: str) -> datetime:
        now = self.clock.now()
        if choice == "1h":
            return now + timedelta(hours=1)
        if choice == "tomorrow":
            return next_local(now, ctx.timezone, days=1)
        if choice == "3d":
            return now + timedelta(days=3)
        raise Invalid(N_("Unknown snooze choice."))

    def snooze(self, ctx: Context, follow_up_id: int, choice: str) -> FollowUpResult:
        from bot.deals.cards import schedule_card_refreshes

        until = self.snooze_until(ctx, choice)
        now = self.clock.now()
        with self.uow(write=True) as uow:
            row, opp = self._load_for_change(uow, ctx, follow_up_id)
            if row.status != PENDING:
                return FollowUpResult(follow_up_view(row), opp, False, already(row, translator(ctx.language)))
            if row.due_at > now and abs((row.due_at - until).total_seconds()) < 60:
                # a double click on the same snooze: the first one already moved it here
                t = translator(ctx.language)
                return FollowUpResult(follow_up_view(row), opp, False, t("Already snoozed until {until}.", until=slack_date(row.due_at)))
            uow.outbox.cancel_pending(team_id=ctx.team_id, kinds=(REMINDER, NUDGE), subject_id=follow_up_id)
            uow.follow_ups.reschedule(row, until)
            schedule_reminder(uow, row, now)
            schedule_card_refreshes(uow, ctx.team_id, opp.id, now)
            uow.commit()
            view = follow_up_view(row)
        self.wake()
        self.wake(until)
        t = translator(ctx.language)
        return FollowUpResult(view, opp, True, t(":zzz: Snoozed until {until}: “{task}” ({ref}).", until=slack_date(until), task=escape(view.text), ref=opp.ref))

    def due_today(self, ctx: Context, uow: UnitOfWork, *, limit: int = 20) -> list[tuple[FollowUpView, OpportunityView]]:
        """The actor's pending follow-ups that are overdue or due before the end of their day (inside the caller's read)."""
        end_of_today = next_local(self.clock.now(), ctx.timezone, days=1, at=datetime.min.time())
        rows = uow.follow_ups.pending_follow_ups_of(ctx.team_id, ctx.user_id, due_before=end_of_today, limit=limit)
        opps = uow.deals.opportunities_by_id(ctx.team_id, sorted({r.opportunity_id for r in rows}))
        return [(follow_up_view(r), to_view(opps[r.opportunity_id])) for r in rows if r.opportunity_id in opps]


class FollowUpSenders:
    """The outbox kinds of follow-ups: the reminder DM, its nudge a day later, the stalled-deal DM."""

    def __init__(self, uow: UnitOfWorkFactory, slack: SlackGateway) -> None:
        self.uow = uow
        self.slack = slack

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(REMINDER, self.send_reminder)
        dispatcher.register(NUDGE, self.send_reminder)
        dispatcher.register(STALLED, self.send_stalled)

    def send_reminder(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        with self.uow() as uow:
            rows = uow.follow_ups.follow_up_and_opportunity(delivery.team_id, delivery.subject_id)
            language = uow.workspaces.reader_language(delivery.team_id, rows[0].assignee_id) if rows is not None else None
        if rows is None or language is None:
            return Skip("follow-up is gone")
        follow_up, opp = follow_up_view(rows[0]), to_view(rows[1])
        if follow_up.status != PENDING:
            return Skip(f"follow-up is {follow_up.status}")
        if int(follow_up.due_at.timestamp()) != delivery.payload.get("due"):
            return Skip("follow-up was rescheduled")
        nudge = delivery.kind == NUDGE
        late_since = delivery.scheduled_for if now - delivery.scheduled_for > LATE_AFTER and not nudge else None
        text, message = reminder_message(follow_up, opp, nudge=nudge, late_since=late_since, t=translator(language))
        channel, ts = self.slack.dm(follow_up.assignee_id, text, message)
        if nudge:
            return Sent(channel, ts)
        due = int(follow_up.due_at.timestamp())

        def schedule_nudge(uow: UnitOfWork) -> None:
            uow.outbox.schedule(team_id=delivery.team_id, kind=NUDGE, subject_id=follow_up.id, dedupe_key=f"nudge:{follow_up.id}:{due}",
                                due_at=max(now, follow_up.due_at + NUDGE_AFTER), now=now, payload={"due": due})

        return Sent(channel, ts, then=schedule_nudge)

    def send_stalled(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        with self.uow() as uow:
            opp = uow.deals.view(delivery.team_id, delivery.subject_id)
            stages = uow.workspaces.pipelines(delivery.team_id)
            language = uow.workspaces.reader_language(delivery.team_id, opp.owner_id) if opp is not None else None
        if opp is None or language is None:
            return Skip("opportunity is gone")
        entered = int(delivery.payload.get("entered", 0))
        if opp.status != OPEN or int(opp.stage_entered_at.timestamp()) != entered:
            return Skip("the deal left that stage")
        stage = stages.by_id(opp.stage_id)
        if stage is None:
            return Skip("the stage is gone")
        # the DM is the max_days rule's (it is planned per stage entry); the rule and its words are the digest's
        stalled = judge(opportunity_id=opp.id, number=opp.number, name=opp.name, owner_id=opp.owner_id, stage_id=opp.stage_id,
                        days_in_stage=(now - opp.stage_entered_at) / timedelta(days=1), max_days=stage.max_days)
        if stalled is None:
            return RetryLater(stalled_since(opp.stage_entered_at, stage.max_days), "the stage's max days grew")
        text, message = stalled_message(opp, stalled, stages, t=translator(language))
        channel, ts = self.slack.dm(opp.owner_id, text, message)
        return Sent(channel, ts)
