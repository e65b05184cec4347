"""Stage-change alerts: bring the solutions or engineering team in when a deal enters their stage,
with a "Take it" button; and won / lost announcements.

Alerts are outbox rows written with the stage change and sent by the dispatcher after commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.alerts.views import outcome_message, stage_alert_message
from bot.deals.cards import CARD_POST
from bot.domain.clock import Clock
from bot.domain.values import (
    LOST,
    N_,
    OPEN,
    WON,
    Context,
    Forbidden,
    NotFound,
    OpportunityView,
    Pipeline,
)
from bot.i18n import ENGLISH, Translator, translator
from bot.outbox.dispatcher import Dispatcher, RetryLater, Sent, Skip, Wake, WakeUp
from bot.outbox.messages import schedule_message
from bot.slack.blocks import escape, mrkdwn
from bot.slack.gateway import SlackGateway, slack_error
from storage.db import UnitOfWork, UnitOfWorkFactory
from storage.deals import to_view
from storage.models import Delivery, Opportunity, StageChange

log = logging.getLogger(__name__)

STAGE_ALERT, OUTCOME_ALERT, ADMIN_NOTICE = "stage_alert", "outcome_alert", "admin_notice"
WAIT_FOR_CHANNEL = timedelta(minutes=15)
# An alert about a deal whose card is still queued waits this long for it, so that it can link to the card.
WAIT_FOR_CARD = timedelta(seconds=30)
# The admin notice's reason for a #name no channel of the workspace has (yet); its alerts wait for it.
NO_SUCH_CHANNEL = "no_such_channel"
NO_CHANNEL_NAMED = "no channel named"  # how a waiting alert's last_error starts
CANNOT_JOIN = {"method_not_supported_for_channel_type", "channel_not_found", "is_archived", "missing_scope", "restricted_action"}


class ChannelUnresolved(Exception):
    """A #name that no channel in the workspace has."""


def schedule_alerts(uow: UnitOfWork, opp: Opportunity, change: StageChange, stages: Pipeline, now: datetime) -> None:
    """Alerts are recorded with the stage change (an outbox row) and sent after commit; one per change. `stages`: the
    pipeline the change leads into, whose stage alerts and won / lost announcement channels apply."""
    assert change.id is not None
    if change.to_status == OPEN and (change.from_status != OPEN or change.from_stage_id != change.to_stage_id):
        stage = stages.by_id(change.to_stage_id)
        if stage is not None and stage.alert_channel:
            uow.outbox.schedule(team_id=opp.team_id, kind=STAGE_ALERT, subject_id=change.id, dedupe_key=f"alert:{change.id}", due_at=now, now=now)
    elif (change.to_status == WON and stages.won_channel) or (change.to_status == LOST and stages.lost_channel):
        uow.outbox.schedule(team_id=opp.team_id, kind=OUTCOME_ALERT, subject_id=change.id, dedupe_key=f"outcome:{change.id}", due_at=now, now=now)


@dataclass(frozen=True)
class TakeResult:
    """A Take it / Release click, with what redrawing the alert needs."""

    opportunity: OpportunityView
    change_id: int
    stage_id: int
    holder: str | None
    changed: bool
    message: str
    mover_id: str = ""
    path: tuple[int, ...] = ()
    card: tuple[str, str] | None = None  # where the deal's first card is (channel, ts), for the alert's Open link




class Alerts:
    """Take it / Release: one transaction each, which also records the card refreshes and the owner's DM."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, wake: Wake | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.wake = wake or WakeUp()

    @staticmethod
    def _alerted(uow: UnitOfWork, ctx: Context, change_id: int) -> tuple[StageChange, OpportunityView]:
        change = uow.alerts.stage_change(ctx.team_id, change_id)
        if change is None:
            raise NotFound(N_("That alert's stage change doesn't exist in this workspace."))
        opp = uow.deals.view(ctx.team_id, change.opportunity_id)
        assert opp is not None
        return change, opp

    @staticmethod
    def _result(uow: UnitOfWork, change: StageChange, opp: OpportunityView, holder: str | None, changed: bool, message: str) -> TakeResult:
        assert change.id is not None
        card = uow.deals.first_posted_card(opp.team_id, opp.id)
        return TakeResult(opp, change.id, change.to_stage_id, holder, changed, message, change.changed_by,
                          tuple(uow.alerts.visited_stage_ids(opp.team_id, opp.id)), (card.channel_id, card.ts) if card else None)

    def take(self, ctx: Context, change_id: int) -> TakeResult:
        from bot.deals.cards import schedule_card_refreshes

        now = self.clock.now()
        with self.uow(write=True) as uow:
            change, opp = self._alerted(uow, ctx, change_id)
            holder = uow.alerts.active_collaborator_of_change(ctx.team_id, change_id)
            if holder is None and not uow.alerts.take(ctx.team_id, change, ctx.user_id, now):
                holder = uow.alerts.active_collaborator_of_change(ctx.team_id, change_id)
            if holder is not None:
                t = translator(ctx.language)
                message = t("You already have it.") if holder.user_id == ctx.user_id else t("<@{user}> has already taken this.", user=holder.user_id)
                return self._result(uow, change, opp, holder.user_id, False, message)
            stage_name = ctx.pipelines.name_of(change.to_stage_id)
            schedule_card_refreshes(uow, ctx.team_id, opp.id, now)
            # the owner's DM is written when sent, in the owner's language
            schedule_message(uow, team_id=ctx.team_id, key=f"taken:{change_id}:{ctx.user_id}:{uuid.uuid4().hex}", user_id=opp.owner_id,
                             message=N_("<@{user}> took {ref} {name} for {stage}."),
                             values={"user": ctx.user_id, "ref": opp.ref, "name": escape(opp.name), "stage": stage_name}, now=now, subject_id=opp.id)
            t = translator(ctx.language)
            result = self._result(uow, change, opp, ctx.user_id, True, t("You took {ref} for {stage}.", ref=opp.ref, stage=stage_name))
            uow.commit()
        self.wake()
        return result

    def release(self, ctx: Context, change_id: int) -> TakeResult:
        from bot.deals.cards import schedule_card_refreshes

        now = self.clock.now()
        with self.uow(write=True) as uow:
            change, opp = self._alerted(uow, ctx, change_id)
            holder = uow.alerts.active_collaborator_of_change(ctx.team_id, change_id)
            if holder is None:
                t = translator(ctx.language)
                return self._result(uow, change, opp, None, False, t("Nobody has this one; it is free to take."))
            if holder.user_id != ctx.user_id and not ctx.actor.is_admin:
                raise Forbidden(N_("<@{user}> has this; only they (or an admin) can release it."), user=holder.user_id)
            uow.alerts.release(holder, now)
            schedule_card_refreshes(uow, ctx.team_id, opp.id, now)
            t = translator(ctx.language)
            result = self._result(uow, change, opp, None, True, t("Released {ref}; it is free to take again.", ref=opp.ref))
            uow.commit()
        self.wake()
        return result


class AlertSenders:
    """The outbox kinds of alerts: the stage alert, the won / lost announcement, the admins' "invite me" notice."""

    def __init__(self, uow: UnitOfWorkFactory, slack: SlackGateway, ensure_workspace: Callable[[str], None]) -> None:
        self.uow = uow
        self.slack = slack
        self.ensure_workspace = ensure_workspace

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(STAGE_ALERT, self.send_stage_alert)
        dispatcher.register(OUTCOME_ALERT, self.send_outcome_alert)
        dispatcher.register(ADMIN_NOTICE, self.send_admin_notice)

    # ----- channels ---------------------------------------------------------------------------

    def resolve_channels(self, team_id: str) -> list[str]:
        """Give every #name in the stage rules and outcomes its channel id; returns what could not be resolved."""
        return self._resolve(team_id)[1]

    def _resolve(self, team_id: str) -> tuple[dict[str, str], list[str]]:
        """The #names resolved now (name -> id) and those the workspace has no channel for."""
        self.ensure_workspace(team_id)
        with self.uow() as uow:
            stages = [s for s in uow.workspaces.stages(team_id) if s.active]
            wanted = {s.alert_channel for s in stages if s.alert_channel and s.alert_channel.startswith("#") and not s.alert_channel_id}
            for pipeline in uow.workspaces.pipeline_rows(team_id):
                if not pipeline.active:
                    continue
                for name, resolved in ((pipeline.won_channel, pipeline.won_channel_id), (pipeline.lost_channel, pipeline.lost_channel_id)):
                    if name and name.startswith("#") and not resolved:
                        wanted.add(name)
        if not wanted:
            return {}, []
        ids = self.slack.channel_ids_by_name()
        found = {name: ids[name[1:]] for name in wanted if name[1:] in ids}
        if found:
            with self.uow(write=True) as uow:
                uow.workspaces.resolve_channels(team_id, found)
                uow.commit()
        return found, sorted(wanted - set(found))

    def check_channels(self, team_id: str, now: datetime, *, from_file: bool = True) -> list[str]:
        """At start-up: resolve the #names; one the workspace has no channel for (yet) doesn't stop start-up. It is
        logged, its admins are told once (ever) by DM, and its alerts and announcements wait until it can be resolved:
        at a later start-up, or when one of them is due again. Returns the names still unresolved."""
        try:
            found, unresolved = self._resolve(team_id)
        except SlackApiError as exc:
            log.warning("could not list channels to resolve #names in alert rules (%s); alerts will retry", slack_error(exc))
            return []
        if found:
            self._wake_waiting(team_id, now)
        if not unresolved:
            return []
        names = ", ".join(unresolved)
        if from_file:
            log.warning("workspace %s has no channel named %s (or the bot can't see it): the alerts for it wait until it exists; "
                        "create it and invite the bot, or set another channel with /opp config", team_id, names)
        else:
            log.warning("the default stage model alerts %s, which this workspace doesn't have; set alert channels with /opp config", names)
        for name in unresolved:
            self._tell_admins_once(team_id, name, NO_SUCH_CHANNEL, now)
        return unresolved

    def _wake_waiting(self, team_id: str, now: datetime) -> None:
        """Alerts that were waiting for a #name to be resolved are due now."""
        with self.uow(write=True) as uow:
            uow.outbox.wake_waiting(team_id, (STAGE_ALERT, OUTCOME_ALERT), NO_CHANNEL_NAMED, now)
            uow.commit()

    def _uses_of(self, team_id: str, name: str, t: Translator) -> str:
        """What waits for channel `name`, for the admins' notice: the stages' alerts, the won / lost announcements."""
        with self.uow() as uow:
            pipelines = uow.workspaces.pipelines(team_id).active
        uses = [t("the alerts of stage {stage}", stage=stage.name) for pipeline in pipelines for stage in pipeline.stages if stage.alert_channel == name]
        several = len(pipelines) > 1
        for pipeline in pipelines:
            if pipeline.won_channel == name:
                uses.append(t("the won announcements of {pipeline}", pipeline=pipeline.name) if several else t("the won announcements"))
            if pipeline.lost_channel == name:
                uses.append(t("the lost announcements of {pipeline}", pipeline=pipeline.name) if several else t("the lost announcements"))
        return ", ".join(uses) or t("alerts")

    def _resolve_for(self, delivery: Delivery, name: str, now: datetime) -> RetryLater:
        """A due alert whose #name had no id when it was loaded: resolve the workspace's names. It goes now when its name
        has an id — resolved here, or meanwhile by another delivery (which then has nothing left to find) — and waits
        only when the workspace really has no such channel."""
        found, unresolved = self._resolve(delivery.team_id)
        if name in unresolved:
            return self._unresolved(delivery, name, now)
        if found:
            self._wake_waiting(delivery.team_id, now)  # the others that waited for it
        return RetryLater(now, "channel resolved")

    def _unresolved(self, delivery: Delivery, name: str, now: datetime) -> RetryLater:
        """A due alert whose #name still has no channel: it waits (its admins were told, once)."""
        self._tell_admins_once(delivery.team_id, name, NO_SUCH_CHANNEL, now)
        return RetryLater(now + WAIT_FOR_CHANNEL, f"{NO_CHANNEL_NAMED} {name} in the workspace yet; admins were told")

    @staticmethod
    def _channel(configured: str | None, resolved: str | None) -> str:
        if resolved:
            return resolved
        if configured and not configured.startswith("#"):
            return configured
        raise ChannelUnresolved(configured or "")

    def _post(self, delivery: Delivery, channel: str, text: str, message: list[dict], now: datetime) -> Sent | RetryLater:
        """Post, joining a public channel first when needed; a channel the bot can't join waits for an admin."""
        try:
            return Sent(*self.slack.post(channel, text, message))
        except SlackApiError as exc:
            if slack_error(exc) != "not_in_channel":
                raise
        try:
            self.slack.join(channel)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error not in CANNOT_JOIN:
                raise
            self._tell_admins_once(delivery.team_id, channel, error, now)
            return RetryLater(now + WAIT_FOR_CHANNEL, f"bot is not in {channel} and can't join it ({error}); admins were told")
        return Sent(*self.slack.post(channel, text, message))

    def _tell_admins_once(self, team_id: str, channel: str, reason: str, now: datetime) -> None:
        with self.uow(write=True) as uow:
            workspace = uow.workspaces.get_workspace(team_id)
            for admin in (workspace.admins if workspace else []):
                uow.outbox.schedule(team_id=team_id, kind=ADMIN_NOTICE, subject_id=0, dedupe_key=f"notice:not_in_channel:{channel}:{admin}",
                                    due_at=now, now=now, payload={"admin": admin, "channel": channel, "reason": reason})
            if not (workspace and workspace.admins) and reason != NO_SUCH_CHANNEL:  # that one is logged at start-up
                log.error("the bot can't post alerts in %s (%s) and no [workspace] admins are configured to tell", channel, reason)
            try:
                uow.commit()
            except IntegrityError:
                pass  # another process recorded the same notice

    def send_admin_notice(self, delivery: Delivery, now: datetime) -> Sent:
        channel, admin = delivery.payload["channel"], delivery.payload["admin"]
        with self.uow() as uow:
            t = translator(uow.workspaces.reader_language(delivery.team_id, admin))
        if delivery.payload.get("reason") == NO_SUCH_CHANNEL:
            text = t("oppbot can't post {what} in {channel}: this workspace has no channel by that name (or oppbot can't see it). "
                     "Create it and invite oppbot there with `/invite @oppbot`, or pick another channel in `/opp config`; "
                     "the waiting alerts are sent once it can.", what=self._uses_of(delivery.team_id, channel, t), channel=channel)
            return Sent(*self.slack.dm(admin, text, [{"type": "section", "text": mrkdwn(f":warning: {text}")}]))
        text = t("oppbot can't post stage alerts in <#{channel}>: it is not a member and can't join it ({reason}). "
                 "Please invite it there with `/invite @oppbot`; the waiting alerts are sent as soon as it can.",
                 channel=channel, reason=delivery.payload.get("reason"))
        return Sent(*self.slack.dm(admin, text, [{"type": "section", "text": mrkdwn(f":warning: {text}")}]))

    # ----- sending ----------------------------------------------------------------------------

    def _load(self, delivery: Delivery):
        with self.uow() as uow:
            change = uow.alerts.stage_change(delivery.team_id, delivery.subject_id)
            if change is None:
                return None
            assert change.id is not None
            opp_row = uow.deals.opportunity_by_id(delivery.team_id, change.opportunity_id)
            workspace = uow.workspaces.get_workspace(delivery.team_id)
            card = uow.deals.first_posted_card(delivery.team_id, change.opportunity_id)
            holder = uow.alerts.active_collaborator_of_change(delivery.team_id, change.id)
            path = uow.alerts.visited_stage_ids(delivery.team_id, change.opportunity_id)
            stages = uow.workspaces.pipelines(delivery.team_id)
            card_queued = card is None and uow.outbox.is_pending(delivery.team_id, CARD_POST, change.opportunity_id)
            return (change, to_view(opp_row) if opp_row else None, workspace, (card.channel_id, card.ts) if card else None,
                    holder.user_id if holder else None, path, stages, card_queued)

    @staticmethod
    def _wait_for_card(delivery: Delivery, card_queued: bool, now: datetime) -> RetryLater | None:
        """The deal's new card is still in the outbox: the alert waits a little for it, to link to it."""
        if card_queued and now - delivery.scheduled_for < WAIT_FOR_CARD:
            return RetryLater(now + timedelta(seconds=1), "waiting for the deal's card to link to")
        return None

    def send_stage_alert(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        loaded = self._load(delivery)
        if loaded is None or loaded[1] is None:
            return Skip("stage change or opportunity is gone")
        change, opp, workspace, card, holder, path, stages, card_queued = loaded
        if (waiting := self._wait_for_card(delivery, card_queued, now)) is not None:
            return waiting
        stage = stages.by_id(change.to_stage_id)
        if stage is None or not stage.alert_channel:
            return Skip("the stage has no alert rule any more")
        try:
            channel = self._channel(stage.alert_channel, stage.alert_channel_id)
        except ChannelUnresolved:
            return self._resolve_for(delivery, stage.alert_channel, now)
        permalink = self.slack.permalink(*card) if card else None
        text, message = stage_alert_message(opp, stages, change.id, change.changed_by, stage, path, permalink, holder=holder,
                                            t=translator(workspace.language if workspace else ENGLISH))
        return self._post(delivery, channel, text, message, now)

    def send_outcome_alert(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        loaded = self._load(delivery)
        if loaded is None or loaded[1] is None or loaded[2] is None:
            return Skip("stage change or opportunity is gone")
        change, opp, workspace, card, _, _, pipelines, card_queued = loaded
        if (waiting := self._wait_for_card(delivery, card_queued, now)) is not None:
            return waiting
        pipeline = pipelines.of_stage(change.to_stage_id)
        if change.to_status == WON:
            configured, resolved = pipeline.won_channel, pipeline.won_channel_id
        elif change.to_status == LOST:
            configured, resolved = pipeline.lost_channel, pipeline.lost_channel_id
        else:
            return Skip("not an outcome")
        if not configured:
            return Skip("no outcome channel any more")
        try:
            channel = self._channel(configured, resolved)
        except ChannelUnresolved:
            return self._resolve_for(delivery, configured, now)
        text, message = outcome_message(opp, change.to_status, change.changed_by, self.slack.permalink(*card) if card else None,
                                        change.lost_reason, t=translator(workspace.language))
        return self._post(delivery, channel, text, message, now)
