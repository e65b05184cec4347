"""Stage-change alerts: bring the solutions or engineering team in when a deal enters their stage,
with a "Take it" button; and won / lost announcements.

Alerts are outbox rows written with the stage change and sent by the dispatcher after commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.alerts.views import outcome_message, stage_alert_message
from bot.deals.service import OUTCOME_ALERT, STAGE_ALERT, Pipeline, to_view
from bot.domain.values import (
    LOST,
    WON,
    Actor,
    Forbidden,
    NotFound,
    OpportunityView,
)
from bot.outbox.dispatcher import (
    Dispatcher,
    RetryLater,
    Sent,
    Skip,
    Undeliverable,
    schedule,
)
from bot.slack.blocks import escape, mrkdwn
from bot.slack.gateway import SlackGateway, slack_error
from storage.models import Collaborator, Delivery

log = logging.getLogger(__name__)

ADMIN_NOTICE = "admin_notice"
WAIT_FOR_CHANNEL = timedelta(minutes=15)
CANNOT_JOIN = {"method_not_supported_for_channel_type", "channel_not_found", "is_archived", "missing_scope", "restricted_action"}


class ChannelUnresolved(Exception):
    """A #name that no channel in the workspace has."""


@dataclass(frozen=True)
class TakeResult:
    opportunity: OpportunityView
    change_id: int
    stage_id: int
    holder: str | None
    changed: bool
    message: str


class Alerts:
    def __init__(self, pipeline: Pipeline, slack: SlackGateway | None = None) -> None:
        self.pipeline = pipeline
        self.uow = pipeline.uow
        self.clock = pipeline.clock
        self.slack = slack or pipeline.slack

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(STAGE_ALERT, self.send_stage_alert)
        dispatcher.register(OUTCOME_ALERT, self.send_outcome_alert)
        dispatcher.register(ADMIN_NOTICE, self.send_admin_notice)

    # ----- channels ---------------------------------------------------------------------------

    def resolve_channels(self, team_id: str) -> list[str]:
        """Give every #name in the stage rules and outcomes its channel id; returns what could not be resolved."""
        self.pipeline.ensure_workspace(team_id)
        with self.uow() as uow:
            workspace = uow.workspaces.get_workspace(team_id)
            stages = [s for s in uow.workspaces.stages(team_id) if s.active]
            wanted = {s.alert_channel for s in stages if s.alert_channel and s.alert_channel.startswith("#") and not s.alert_channel_id}
            if workspace is not None:
                for name, resolved in ((workspace.won_channel, workspace.won_channel_id), (workspace.lost_channel, workspace.lost_channel_id)):
                    if name and name.startswith("#") and not resolved:
                        wanted.add(name)
        if not wanted:
            return []
        ids = self.slack.channel_ids_by_name()
        found = {name: ids[name[1:]] for name in wanted if name[1:] in ids}
        with self.uow(write=True) as uow:
            for stage in uow.workspaces.stages(team_id):
                if stage.alert_channel in found:
                    stage.alert_channel_id = found[stage.alert_channel]
                    uow.session.add(stage)
            workspace = uow.workspaces.get_workspace(team_id)
            if workspace is not None:
                if workspace.won_channel in found:
                    workspace.won_channel_id = found[workspace.won_channel]
                if workspace.lost_channel in found:
                    workspace.lost_channel_id = found[workspace.lost_channel]
                uow.session.add(workspace)
            uow.commit()
        return sorted(wanted - set(found))

    def _channel(self, configured: str | None, resolved: str | None) -> str:
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
                schedule(uow.session, team_id=team_id, kind=ADMIN_NOTICE, subject_id=0, dedupe_key=f"notice:not_in_channel:{channel}:{admin}",
                         due_at=now, now=now, payload={"admin": admin, "channel": channel, "reason": reason})
            if not (workspace and workspace.admins):
                log.error("the bot can't post alerts in %s (%s) and no [workspace] admins are configured to tell", channel, reason)
            try:
                uow.commit()
            except IntegrityError:
                pass  # another process recorded the same notice

    def send_admin_notice(self, delivery: Delivery, now: datetime) -> Sent:
        channel = delivery.payload["channel"]
        text = (f"oppbot can't post stage alerts in <#{channel}>: it is not a member and can't join it "
                f"({delivery.payload.get('reason')}). Please invite it there with `/invite @oppbot`; "
                "the waiting alerts are sent as soon as it can.")
        return Sent(*self.slack.dm(delivery.payload["admin"], text, [{"type": "section", "text": mrkdwn(f":warning: {text}")}]))

    # ----- sending ----------------------------------------------------------------------------

    def _load(self, delivery: Delivery):
        with self.uow() as uow:
            change = uow.alerts.stage_change(delivery.team_id, delivery.subject_id)
            if change is None:
                return None
            opp_row = uow.deals.opportunity_by_id(delivery.team_id, change.opportunity_id)
            workspace = uow.workspaces.get_workspace(delivery.team_id)
            card = uow.deals.first_posted_card(delivery.team_id, change.opportunity_id)
            holder = uow.alerts.active_collaborator_of_change(delivery.team_id, change.id)  # type: ignore[arg-type]
            return (change, to_view(opp_row) if opp_row else None, workspace, (card.channel_id, card.ts) if card else None,
                    holder.user_id if holder else None)

    def send_stage_alert(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        loaded = self._load(delivery)
        if loaded is None or loaded[1] is None:
            return Skip("stage change or opportunity is gone")
        change, opp, _, card, holder = loaded
        stages = self.pipeline.stage_model(delivery.team_id)
        stage = stages.by_id(change.to_stage_id)
        if stage is None or not stage.alert_channel:
            return Skip("the stage has no alert rule any more")
        try:
            channel = self._channel(stage.alert_channel, stage.alert_channel_id)
        except ChannelUnresolved:
            self.resolve_channels(delivery.team_id)
            stage = self.pipeline.stage_model(delivery.team_id).by_id(change.to_stage_id)
            if stage is None or not stage.alert_channel_id:
                raise Undeliverable(f"no channel named {stage.alert_channel if stage else '?'} in the workspace") from None
            channel = stage.alert_channel_id
        permalink = self.slack.permalink(*card) if card else None
        path = [e.to_stage_id for e in self.pipeline.history(opp) if e.to_status == "open"]
        text, message = stage_alert_message(opp, stages, change.id, change.changed_by, stage, path, permalink, holder=holder)
        return self._post(delivery, channel, text, message, now)

    def send_outcome_alert(self, delivery: Delivery, now: datetime) -> Sent | Skip | RetryLater:
        loaded = self._load(delivery)
        if loaded is None or loaded[1] is None or loaded[2] is None:
            return Skip("stage change or opportunity is gone")
        change, opp, workspace, card, _ = loaded
        if change.to_status == WON:
            configured, resolved = workspace.won_channel, workspace.won_channel_id
        elif change.to_status == LOST:
            configured, resolved = workspace.lost_channel, workspace.lost_channel_id
        else:
            return Skip("not an outcome")
        if not configured:
            return Skip("no outcome channel any more")
        try:
            channel = self._channel(configured, resolved)
        except ChannelUnresolved:
            if self.resolve_channels(delivery.team_id):
                raise Undeliverable(f"no channel named {configured} in the workspace") from None
            return RetryLater(now, "channel resolved")
        text, message = outcome_message(opp, change.to_status, change.changed_by, self.slack.permalink(*card) if card else None)
        return self._post(delivery, channel, text, message, now)

    # ----- Take it / Release ------------------------------------------------------------------

    @staticmethod
    def _alerted(uow, actor: Actor, change_id: int):
        """The stage change an alert is about, its deal, and who holds it now."""
        change = uow.alerts.stage_change(actor.team_id, change_id)
        if change is None:
            raise NotFound("That alert's stage change doesn't exist in this workspace.")
        opp_row = uow.deals.opportunity_by_id(actor.team_id, change.opportunity_id)
        assert opp_row is not None
        return change, to_view(opp_row), uow.alerts.active_collaborator_of_change(actor.team_id, change_id)

    def take(self, actor: Actor, change_id: int) -> TakeResult:
        now = self.clock.now()
        with self.uow(write=True) as uow:
            change, opp, holder = self._alerted(uow, actor, change_id)
            if holder is not None:
                message = "You already have it." if holder.user_id == actor.user_id else f"<@{holder.user_id}> has already taken this."
                return TakeResult(opp, change_id, change.to_stage_id, holder.user_id, False, message)
            uow.session.add(Collaborator(team_id=actor.team_id, opportunity_id=opp.id, stage_id=change.to_stage_id,
                                         stage_change_id=change_id, user_id=actor.user_id, taken_at=now))
            try:
                uow.commit()
            except IntegrityError:
                uow.session.rollback()
                holder = uow.alerts.active_collaborator_of_change(actor.team_id, change_id)
                who = holder.user_id if holder else None
                return TakeResult(opp, change_id, change.to_stage_id, who, False, f"<@{who}> has already taken this.")
        stages = self.pipeline.stage_model(actor.team_id)
        self.pipeline.refresh_cards(opp, stages)
        stage_name = stages.name_of(change.to_stage_id)
        try:
            self.pipeline.slack.dm(opp.owner_id, f"<@{actor.user_id}> took {opp.ref} {escape(opp.name)} for {stage_name}.")
        except SlackApiError as exc:
            log.warning("could not tell %s that %s was taken: %s", opp.owner_id, opp.ref, slack_error(exc))
        return TakeResult(opp, change_id, change.to_stage_id, actor.user_id, True, f"You took {opp.ref} for {stage_name}.")

    def release(self, actor: Actor, change_id: int) -> TakeResult:
        now = self.clock.now()
        with self.uow(write=True) as uow:
            change, opp, holder = self._alerted(uow, actor, change_id)
            if holder is None:
                return TakeResult(opp, change_id, change.to_stage_id, None, False, "Nobody has this one; it is free to take.")
            if holder.user_id != actor.user_id and not actor.is_admin:
                raise Forbidden(f"<@{holder.user_id}> has this; only they (or an admin) can release it.")
            holder.released_at = now
            uow.session.add(holder)
            uow.commit()
        self.pipeline.refresh_cards(opp, self.pipeline.stage_model(actor.team_id))
        return TakeResult(opp, change_id, change.to_stage_id, None, True, f"Released {opp.ref}; it is free to take again.")

    def alert_message_now(self, team_id: str, result: TakeResult) -> tuple[str, list[dict]]:
        """The alert as it should look after a Take it / Release."""
        stages = self.pipeline.stage_model(team_id)
        stage = stages.by_id(result.stage_id)
        with self.uow() as uow:
            change = uow.alerts.stage_change(team_id, result.change_id)
            card = uow.deals.first_posted_card(team_id, result.opportunity.id)
        assert change is not None and stage is not None
        path = [e.to_stage_id for e in self.pipeline.history(result.opportunity) if e.to_status == "open"]
        permalink = self.slack.permalink(card.channel_id, card.ts) if card else None
        return stage_alert_message(result.opportunity, stages, result.change_id, change.changed_by, stage, path, permalink, holder=result.holder)
