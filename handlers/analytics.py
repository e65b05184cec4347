"""Teams, funnel, reports, CSV export and the digest's Full report button."""

from __future__ import annotations

import logging

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.assignment.views import suggestions_message
from bot.digests.views import digest_modal
from bot.domain.values import Actor, OppError, parse_id
from bot.reports.service import export_name
from bot.services import Services
from bot.slack.blocks import slack_date
from bot.slack.commands import Command
from bot.slack.gateway import slack_error
from bot.slack.ids import ASSIGN_BUTTON, DIGEST_FULL_BUTTON, NEEDS_OWNER_BUTTON
from bot.teams.views import team_blocks
from handlers.common import after_ack, ephemeral, notice_modal, open_view

log = logging.getLogger(__name__)
ANALYTICS_COMMANDS = ("team", "funnel", "report", "export", "suggest", "assign", "away")


def run_analytics_command(services: Services, actor: Actor, parsed: Command, respond: Respond) -> None:
    """Runs after the ack: these can take a moment on a large pipeline. OppError is answered by the caller."""
    if parsed.name == "team":
        teams = services.teams
        if parsed.action == "add":
            team = teams.add(actor, parsed.user_id or "", parsed.team)
            respond(**ephemeral(f"<@{parsed.user_id}> is now on {team.name}."))
        elif parsed.action == "remove":
            team = teams.remove(actor, parsed.user_id or "", parsed.team)
            respond(**ephemeral(f"<@{parsed.user_id}> is no longer on {team.name}."))
        else:
            team = teams.pick(actor, parsed.team, for_change=False)
            respond(response_type="ephemeral", text=f"Team {team.name}", blocks=team_blocks(team))
        return
    if parsed.name == "suggest":
        opp, suggestions = services.assignments.suggest(actor, parsed.ref or 0)
        text, message = suggestions_message(opp, suggestions, requested_by=actor.user_id, team_name="the team")
        respond(response_type="ephemeral", text=text, blocks=message)
        return
    if parsed.name == "assign":
        opp = services.pipeline.find(actor, number=parsed.ref or 0)
        after = services.assignments.assign(actor, opp.id, parsed.user_id or "")
        respond(**ephemeral(f"{after.ref} now belongs to <@{after.owner_id}>; I told them."))
        return
    if parsed.name == "away":
        who = parsed.user_id or actor.user_id
        until = services.assignments.set_away(actor, who, parsed.text)
        name = "You are" if who == actor.user_id else f"<@{who}> is"
        respond(**ephemeral(f"{name} away until {slack_date(until)}: no new deals are suggested or assigned until then." if until
                            else f"{name} back: new deals can be suggested and assigned again."))
        return
    if parsed.name == "funnel":
        result = services.reports.funnel(actor, user_id=parsed.user_id, team_name=parsed.team)
        respond(response_type="ephemeral", text=result.text, blocks=result.blocks + [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "The funnel chart is in your DM with oppbot."}]}])
        gateway = services.pipeline.slack
        try:
            gateway.upload(gateway.dm_channel(actor.user_id), result.png, "funnel.png", result.title.replace("<@", "@").replace(">", ""))
        except SlackApiError as exc:
            log.warning("funnel chart upload failed: %s", slack_error(exc))
            respond(**ephemeral(f"I couldn't send the chart ({slack_error(exc)}); the numbers above are complete."))
        return
    if parsed.name == "report":
        result = services.reports.report(actor, parsed.action or "", parsed.text)
        respond(response_type="ephemeral", text=result.text, blocks=result.blocks)
        return
    if parsed.name == "export":
        content = "".join(services.reports.export(actor, parsed.filters))
        rows = content.count("\n") - 1
        gateway = services.pipeline.slack
        name = export_name(services.pipeline.clock.now())
        try:
            gateway.upload(gateway.dm_channel(actor.user_id), content.encode("utf-8"), name, name, comment=f"{rows} opportunities")
        except SlackApiError as exc:
            respond(**ephemeral(f":warning: I couldn't upload the export ({slack_error(exc)}). Please try again."))
            return
        respond(**ephemeral(f"Exported {rows} opportunities with their stage history to `{name}` in your DM with oppbot."))


def register(app: App, services: Services) -> None:
    pipeline = services.pipeline

    @after_ack(app.action(ASSIGN_BUTTON))
    def assign_clicked(body: dict, respond: Respond, client: WebClient) -> None:
        raw_opp, _, user_id = str((body.get("actions") or [{}])[0].get("value") or "").partition(":")
        opp_id = parse_id(raw_opp)
        try:
            if opp_id is None or not user_id:
                raise OppError("That button doesn't name a deal and a rep.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            after = services.assignments.assign(actor, opp_id, user_id)
        except OppError as exc:
            respond(**ephemeral(f":warning: {exc}"))
            return
        container = body.get("container") or {}
        if container.get("channel_id") and container.get("message_ts") and not container.get("is_ephemeral"):
            done = f":white_check_mark: {after.ref} assigned to <@{user_id}> by <@{body['user']['id']}>."
            try:
                client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text=done,
                                   blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": done}}])
            except SlackApiError as exc:
                log.warning("could not update the suggestions message: %s", slack_error(exc))
        else:
            respond(**ephemeral(f"{after.ref} now belongs to <@{user_id}>; I told them."))

    @after_ack(app.action(NEEDS_OWNER_BUTTON))
    def needs_owner_clicked(body: dict, respond: Respond) -> None:
        opp_id = parse_id((body.get("actions") or [{}])[0].get("value"))
        try:
            if opp_id is None:
                raise OppError("That button doesn't name an opportunity.")
            actor = pipeline.actor(body["team"]["id"], body["user"]["id"])
            respond(**ephemeral(services.assignments.needs_owner(actor, opp_id)))
        except OppError as exc:
            respond(**ephemeral(f":warning: {exc}"))

    @after_ack(app.action(DIGEST_FULL_BUTTON))
    def full_report(body: dict, client: WebClient) -> None:
        team_id, user_id = body["team"]["id"], body["user"]["id"]
        sales_team_id = parse_id((body.get("actions") or [{}])[0].get("value"))
        try:
            actor = pipeline.actor(team_id, user_id)
            view = digest_modal(*services.digests.full_report(actor, sales_team_id), pipeline.stage_model(team_id))
        except OppError as exc:
            open_view(client, body["trigger_id"], notice_modal("oppbot", f":warning: {exc}"))
            return
        open_view(client, body["trigger_id"], view)
