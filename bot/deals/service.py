"""Opportunities: create, find, move through stages, win, lose, list.

Each use case is one unit of work: the deal is read (locked when it changes), checked and written
in the same transaction, and so is everything the change sends on its own (alerts, the stalled
nudge, card refreshes, the new card): outbox rows that the dispatcher delivers after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.alerts.service import schedule_alerts
from bot.deals.cards import schedule_card_post, schedule_card_refreshes
from bot.deals.views import LIST_PAGE_SIZE, ListPage
from bot.domain.clock import Clock
from bot.domain.stages import (
    can_change_pipeline,
    can_view,
    check_change,
    map_stage,
    name_matches,
    resolve_listed_stage,
    resolve_stage,
    split_move,
    valid_stages_text,
)
from bot.domain.values import (
    LOST,
    N_,
    OPEN,
    WON,
    Card,
    Context,
    Forbidden,
    Invalid,
    OpportunityDraft,
    OpportunityView,
    Pipeline,
    StageInfo,
    no_such_deal,
)
from bot.followups.service import schedule_stalled_check
from bot.outbox.dispatcher import Wake, WakeUp
from bot.outbox.messages import schedule_message
from bot.slack.blocks import escape
from storage.db import UnitOfWork, UnitOfWorkFactory
from storage.deals import follow_up_view, to_view
from storage.models import Opportunity

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ChangeResult:
    card: Card
    changed: bool
    msgid: str  # a catalogue entry, with `values`: shown in the reader's language with text(t)
    has_pending_follow_up: bool = False
    values: dict[str, object] = field(default_factory=dict)

    def text(self, t: Callable[..., str]) -> str:
        return t(self.msgid, **self.values)

    @property
    def message(self) -> str:
        """The English, for logs and tests."""
        return self.msgid.format(**self.values)

    @property
    def opportunity(self) -> OpportunityView:
        return self.card.opportunity

    @property
    def offers_follow_up(self) -> bool:
        """An open deal that just changed and has nothing planned: the answer asks for the next step."""
        return self.changed and self.opportunity.is_open and not self.has_pending_follow_up


Route = Callable[..., str]


class Deals:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, route: Route, check_person: Callable[[str, str], str | None],
                 wake: Wake | None = None) -> None:
        self.uow = uow
        self.clock = clock
        # why a user can't own a deal (their Slack profile), or None
        self.check_person = check_person
        # sends a deal that needs an owner to its team, in the caller's transaction (assignment)
        self.route = route
        self.wake = wake or WakeUp()

    def create(self, ctx: Context, draft: OpportunityDraft, *, channel_id: str | None) -> tuple[OpportunityView, str | None]:
        """Store the deal, its first stage change, its alerts and its card in one transaction; a deal
        that needs an owner is routed to its team in it too. Returns the deal and what routing says."""
        pipeline = ctx.pipelines.of_stage(draft.stage_id)
        if pipeline.index_of(draft.stage_id) is None or not pipeline.active:
            raise Invalid(N_("That stage is not one of the workspace's stages."))
        now = self.clock.now()
        routed = None
        with self.uow(write=True) as uow:
            opp, change = uow.deals.add(ctx.team_id, draft, ctx.user_id, now)
            schedule_stalled_check(uow, opp, pipeline, now)
            schedule_alerts(uow, opp, change, pipeline, now)
            view = to_view(opp)
            schedule_card_post(uow, team_id=ctx.team_id, opportunity_id=view.id, channel_id=channel_id, submitter_id=ctx.user_id, now=now)
            if view.needs_owner:
                routed = self.route(uow, view, requested_by=ctx.user_id)
                schedule_message(uow, team_id=ctx.team_id, key=f"routed:{view.id}", user_id=ctx.user_id, text=routed, now=now, subject_id=view.id)
                view = uow.deals.view(ctx.team_id, view.id) or view
            uow.commit()
        log.info("%s created %s in %s", ctx.user_id, view.ref, ctx.team_id)
        self.wake()
        return view, routed

    def owner_problem(self, ctx: Context, owner_id: str) -> str | None:
        """Why this person can't own a new deal, or None. The submitter is a person of this workspace
        already: only someone else's profile needs a look."""
        return None if owner_id == ctx.user_id else self.check_person(ctx.team_id, owner_id)

    def find(self, ctx: Context, *, number: int | None = None, opp_id: int | None = None) -> OpportunityView:
        with self.uow() as uow:
            return self._visible(uow, ctx, number=number, opp_id=opp_id)

    def card(self, ctx: Context, *, number: int | None = None, opp_id: int | None = None, with_history: bool = False) -> Card:
        """A deal the actor may see, with what its card shows (and its history), in one read."""
        with self.uow() as uow:
            opp = self._visible(uow, ctx, number=number, opp_id=opp_id)
            return uow.deals.card(opp, with_history=with_history)

    @staticmethod
    def _visible(uow: UnitOfWork, ctx: Context, *, number: int | None = None, opp_id: int | None = None) -> OpportunityView:
        row = None
        if number is not None:
            row = uow.deals.opportunity_by_number(ctx.team_id, number)
        elif opp_id is not None:
            row = uow.deals.opportunity_by_id(ctx.team_id, opp_id)
        if row is None:
            raise no_such_deal(number)
        view = to_view(row)
        if not can_view(ctx.actor, view):
            raise Forbidden(N_("You can't see {ref}: it belongs to {owner}; only they, their manager or an admin can."),
                            ref=view.ref, owner=f"<@{view.owner_id}>")
        return view

    def check_changeable(self, ctx: Context, opp_id: int) -> OpportunityView:
        """The deal, when the actor may change it (e.g. before asking for a lost reason)."""
        opp = self.find(ctx, opp_id=opp_id)
        check_change(ctx.actor, opp)
        return opp

    def move(self, ctx: Context, *, opp_id: int | None = None, number: int | None = None, stage_id: int | None = None,
             stage_query: str | None = None) -> ChangeResult:
        """To a stage of the deal's own pipeline: typed (`stage_query`, resolved within that pipeline) or picked (`stage_id`)."""
        def target(pipeline: Pipeline, ref: str) -> int:
            if stage_query is not None:
                return self._typed_stage(ctx, stage_query, pipeline, ref).id
            if stage_id is None or pipeline.index_of(stage_id) is None:
                raise Invalid(N_("That stage is not one of the {pipeline} pipeline's stages."), pipeline=pipeline.name)
            return stage_id

        return self._transition(ctx, opp_id, number, target, OPEN)

    @staticmethod
    def _typed_stage(ctx: Context, query: str, pipeline: Pipeline, ref: str) -> StageInfo:
        """A stage typed for a deal, within the deal's pipeline; a stage only another pipeline has is named as such."""
        try:
            return resolve_stage(query, pipeline)
        except Invalid:
            elsewhere = [p for p in ctx.pipelines.active if p.id != pipeline.id and name_matches(query, [(s, s.name) for s in p.stages])]
            if not elsewhere or name_matches(query, [(s, s.name) for s in pipeline.stages]):
                raise
            raise Invalid(N_("“{query}” is a stage of the {other} pipeline, and this deal is in the {pipeline} pipeline: {stages}. "
                             "To move it to another pipeline: `/opp move {ref} <pipeline> [stage]`."), ref=ref, query=" ".join(query.split()),
                          other=elsewhere[0].name, pipeline=pipeline.name, stages=valid_stages_text(pipeline)) from None

    def win(self, ctx: Context, *, opp_id: int | None = None, number: int | None = None) -> ChangeResult:
        return self._transition(ctx, opp_id, number, None, WON)

    def lose(self, ctx: Context, reason: str, *, opp_id: int | None = None, number: int | None = None) -> ChangeResult:
        return self._transition(ctx, opp_id, number, None, LOST, reason=reason)

    @staticmethod
    def _record_change(uow: UnitOfWork, ctx: Context, opp: Opportunity, pipeline: Pipeline, to_stage_id: int, to_status: str, now: datetime, *,
                       reason: str | None = None) -> tuple[OpportunityView, Card]:
        """A stage change and what it causes, in the caller's transaction, committed: the stalled check and the alerts
        of `pipeline` (the one the change leads into), the card refreshes. Returns the deal and its card after it."""
        change = uow.deals.change_stage(opp, to_stage_id=to_stage_id, to_status=to_status, changed_by=ctx.user_id, now=now, lost_reason=reason)
        schedule_stalled_check(uow, opp, pipeline, now)
        schedule_alerts(uow, opp, change, pipeline, now)
        after = to_view(opp)
        schedule_card_refreshes(uow, ctx.team_id, after.id, now)
        card = uow.deals.card(after)
        uow.commit()
        return after, card

    def _transition(self, ctx: Context, opp_id: int | None, number: int | None, to_stage: Callable[[Pipeline, str], int] | None, to_status: str, *,
                    reason: str | None = None) -> ChangeResult:
        """`to_stage` picks the stage within the deal's pipeline; None keeps the deal's stage (a win or a loss)."""
        now = self.clock.now()
        with self.uow(write=True) as uow:
            opp = uow.deals.locked(ctx.team_id, opp_id=opp_id, number=number)
            if opp is None:
                raise no_such_deal(number)
            before = to_view(opp)
            check_change(ctx.actor, before)
            stages = ctx.pipelines.of_stage(opp.stage_id)
            target_stage = to_stage(stages, before.ref) if to_stage is not None else opp.stage_id
            if opp.status == to_status and opp.stage_id == target_stage:
                if to_status == LOST and reason and reason != opp.lost_reason:
                    uow.deals.set_lost_reason(opp, reason, now)
                    schedule_card_refreshes(uow, ctx.team_id, before.id, now)
                    after = to_view(opp)
                    card = uow.deals.card(after)
                    uow.commit()
                    self.wake()
                    return ChangeResult(card, True, N_("{ref} was already lost; its reason is updated."), values={"ref": after.ref})
                where: dict[str, object] = {}
                if to_status == WON:
                    already = N_("{ref} is already in Won; nothing changed.")
                elif to_status == LOST:
                    already = N_("{ref} is already in Lost; nothing changed.")
                else:
                    already, where = N_("{ref} is already in {stage}; nothing changed."), {"stage": escape(stages.name_of(target_stage))}
                return ChangeResult(uow.deals.card(before), False, already, values={"ref": before.ref, **where})
            after, card = self._record_change(uow, ctx, opp, stages, target_stage, to_status, now, reason=reason)
        self.wake()
        values: dict[str, object] = {"ref": after.ref}
        if to_status == WON:
            message = N_("{ref} marked *Won* :tada:")
        elif to_status == LOST:
            message = N_("{ref} marked *Lost*.")
        elif before.status != OPEN:
            message, values["stage"] = N_("{ref} reopened in *{stage}*."), escape(stages.name_of(target_stage))
        else:
            message = N_("{ref} moved from *{before}* to *{after}*.")
            values.update(before=escape(stages.name_of(before.stage_id)), after=escape(stages.name_of(target_stage)))
        result = ChangeResult(card, True, message, has_pending_follow_up=card.next_follow_up is not None, values=values)
        log.info("%s: %s -> %s by %s", ctx.team_id, after.ref, after.status if after.status != OPEN else stages.name_of(target_stage), ctx.user_id)
        return result

    def pipeline_move_form(self, ctx: Context, opp_id: int) -> tuple[OpportunityView, Pipeline, StageInfo]:
        """What the Move to another pipeline form starts with: the deal (when the actor may move it), the first other
        active pipeline and the stage the deal would land in there."""
        opp = self.find(ctx, opp_id=opp_id)
        self._check_pipeline_move(ctx, opp)
        current = ctx.pipelines.of_stage(opp.stage_id)
        others = [p for p in ctx.pipelines.active if p.id != current.id]
        if not others:
            raise Invalid(N_("This workspace has no other active pipeline to move {ref} to."), ref=opp.ref)
        return opp, others[0], map_stage(opp.stage_id, current, others[0])

    def landing_stage(self, ctx: Context, opp_id: int, pipeline_id: int | None) -> tuple[OpportunityView, Pipeline, StageInfo]:
        """The form redrawn for another pipeline: that pipeline and the stage the deal would land in there."""
        opp = self.find(ctx, opp_id=opp_id)
        current = ctx.pipelines.of_stage(opp.stage_id)
        target = next((p for p in ctx.pipelines.active if p.id == pipeline_id and p.id != current.id), None)
        if target is None:
            raise Invalid(N_("Pick one of the pipelines in the list."))
        return opp, target, map_stage(opp.stage_id, current, target)

    def _check_pipeline_move(self, ctx: Context, opp: OpportunityView, uow: UnitOfWork | None = None) -> None:
        if not can_change_pipeline(ctx.actor, opp):
            if uow is None:
                with self.uow() as reading:
                    managers = reading.teams.managers_of(opp.team_id, opp.owner_id)
            else:
                managers = uow.teams.managers_of(opp.team_id, opp.owner_id)
            if managers:
                raise Forbidden(N_("You can't move {ref} to another pipeline: only {owner}'s manager ({managers}) or an oppbot admin can."),
                                ref=opp.ref, owner=f"<@{opp.owner_id}>", managers=", ".join(f"<@{m}>" for m in managers))
            raise Forbidden(N_("You can't move {ref} to another pipeline: only {owner}'s manager or an oppbot admin can."),
                            ref=opp.ref, owner=f"<@{opp.owner_id}>")
        if not opp.is_open:
            raise Invalid(N_("{ref} is closed: reopen it first (pick a stage on its card, or `/opp stage {ref} <stage>`), then move it."),
                          ref=opp.ref)

    def change_pipeline(self, ctx: Context, *, opp_id: int | None = None, number: int | None = None, pipeline_id: int | None = None,
                        pipeline_query: str | None = None, stage_id: int | None = None, stage_query: str | None = None) -> ChangeResult:
        """Move an open deal to another active pipeline (its owner's manager or an admin): into the stage asked for
        (typed, or picked by id), else the one of the same name, else the one at the same place in the order. Recorded
        as a stage change with its card refreshes, stalled check and the new stage's alert, in one transaction.
        `pipeline_query` is what `/opp move` typed after the deal: the pipeline, and maybe the stage after it."""
        active = ctx.pipelines.active
        if len(active) < 2:
            raise Invalid(N_("This workspace has one pipeline only; there is no other pipeline to move a deal to."))
        if pipeline_query is not None:
            target, typed_stage = split_move(pipeline_query, active)
            stage_query = typed_stage if typed_stage is not None else stage_query
        else:
            found = ctx.pipelines.get(pipeline_id)
            if found is None or not found.active:
                raise Invalid(N_("That pipeline is not one of the workspace's active pipelines: {pipelines}."),
                              pipelines=", ".join(p.name for p in active))
            target = found
        now = self.clock.now()
        with self.uow(write=True) as uow:
            opp = uow.deals.locked(ctx.team_id, opp_id=opp_id, number=number)
            if opp is None:
                raise no_such_deal(number)
            before = to_view(opp)
            if not can_view(ctx.actor, before):
                raise Forbidden(N_("You can't see {ref}: it belongs to {owner}; only they, their manager or an admin can."),
                                ref=before.ref, owner=f"<@{before.owner_id}>")
            self._check_pipeline_move(ctx, before, uow)
            current = ctx.pipelines.of_stage(opp.stage_id)
            if target.id == current.id:
                raise Invalid(N_("{ref} is already in the {pipeline} pipeline; to change its stage, use `/opp stage {ref} <stage>`."),
                              ref=before.ref, pipeline=target.name)
            if stage_query:
                landing = resolve_stage(stage_query, target)
            elif stage_id is not None:
                picked = next((s for s in target.stages if s.id == stage_id), None)
                if picked is None:
                    raise Invalid(N_("That stage is not one of the {pipeline} pipeline's stages."), pipeline=target.name)
                landing = picked
            else:
                landing = map_stage(opp.stage_id, current, target)
            after, card = self._record_change(uow, ctx, opp, target, landing.id, OPEN, now)
        self.wake()
        log.info("%s: %s moved from pipeline %s to %s (%s) by %s", ctx.team_id, after.ref, current.id, target.id, landing.id, ctx.user_id)
        return ChangeResult(card, True, N_("{ref} moved to the {pipeline} pipeline, in {stage}."), has_pending_follow_up=card.next_follow_up is not None,
                            values={"ref": after.ref, "pipeline": escape(target.name), "stage": escape(landing.name)})

    def list_open(self, ctx: Context, *, owner_id: str | None = None, stage_query: str | None = None, stage_id: int | None = None,
                  offset: int = 0) -> ListPage:
        actor = ctx.actor
        owner_id = owner_id or actor.user_id
        if owner_id != actor.user_id and not (actor.is_admin or owner_id in actor.managed_user_ids):
            raise Forbidden(N_("You can't see {owner}'s opportunities: only they, their manager or an admin can."),
                            owner=f"<@{owner_id}>")
        if stage_query:
            stage_id = resolve_listed_stage(stage_query, ctx.pipelines, ctx.home_pipeline).id
        elif stage_id is not None and ctx.pipelines.by_id(stage_id) is None:
            stage_id = None
        offset = min(max(0, offset), 10**6)
        with self.uow() as uow:
            rows, total = uow.deals.open_opportunities(ctx.team_id, owner_id, stage_id=stage_id, offset=offset, limit=LIST_PAGE_SIZE)
            if not rows and total:
                # deals were closed since the page button was drawn: show the last page that exists
                offset = (total - 1) // LIST_PAGE_SIZE * LIST_PAGE_SIZE
                rows, total = uow.deals.open_opportunities(ctx.team_id, owner_id, stage_id=stage_id, offset=offset, limit=LIST_PAGE_SIZE)
            items = [to_view(r) for r in rows]
            follow_ups = {k: follow_up_view(v) for k, v in uow.follow_ups.next_follow_ups(ctx.team_id, [o.id for o in items]).items()}
        return ListPage(owner_id=owner_id, items=items, total=total, offset=offset, stage_filter=stage_id, follow_ups=follow_ups)
