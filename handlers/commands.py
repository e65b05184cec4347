"""The /opp slash command."""

from __future__ import annotations

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.deals.views import list_blocks
from bot.domain.values import OppError
from bot.services import Services
from bot.slack import commands as opp_commands
from bot.slack.blocks import escape
from bot.slack.help import help_blocks
from handlers.alerts import open_settings
from handlers.analytics import ANALYTICS_COMMANDS, run_analytics_command
from handlers.common import after_ack, ephemeral, open_new_opportunity
from handlers.rendering import card_message, change_reply


def register(app: App, services: Services) -> None:
    pipeline, follow_ups, alerts = services.pipeline, services.follow_ups, services.alerts

    def answer(ack: Ack, command: dict, context: BoltContext) -> None:
        """Help and unreadable commands are answered in the ack itself; everything else after it."""
        try:
            parsed = opp_commands.parse(command.get("text") or "")
        except opp_commands.CommandError as exc:
            ack(response_type="ephemeral", text=f"{escape(str(exc))} Here is what /opp understands:", blocks=help_blocks(str(exc)))
            return
        if parsed.name == "help":
            ack(response_type="ephemeral", text="oppbot help", blocks=help_blocks())
            return
        context["opp_command"] = parsed
        ack()

    @after_ack(app.command("/opp"), ack=answer)
    def opp(command: dict, context: BoltContext, respond: Respond, client: WebClient) -> None:
        parsed: opp_commands.Command | None = context.get("opp_command")
        if parsed is None:
            return
        team_id, user_id = command["team_id"], command["user_id"]
        if parsed.name == "new":
            opened = open_new_opportunity(client, pipeline, team_id=team_id, user_id=user_id, trigger_id=command["trigger_id"],
                                          channel_id=command.get("channel_id"), name=parsed.text)
            if not opened:
                respond(**ephemeral("Slack didn't let me open the form in time. Please run `/opp new` again."))
            return
        if parsed.name == "config":
            refusal = open_settings(client, alerts, team_id=team_id, user_id=user_id, trigger_id=command["trigger_id"])
            if refusal:
                respond(**ephemeral(refusal))
            return
        try:
            actor = pipeline.actor(team_id, user_id)
            if parsed.name in ANALYTICS_COMMANDS:
                run_analytics_command(services, actor, parsed, respond)
                return
            if parsed.name == "list":
                page = pipeline.list_open(actor, owner_id=parsed.user_id, stage_query=parsed.stage)
                stages = pipeline.stage_model(team_id)
                respond(response_type="ephemeral", text=f"{page.total} open opportunities",
                        blocks=list_blocks(page, stages, pipeline.clock.now(), viewer_id=user_id))
                return
            assert parsed.ref is not None
            if parsed.name == "followup":
                added = follow_ups.add_from_text(actor, parsed.ref, parsed.text or "")
                respond(**ephemeral(added.message))
                return
            opp = pipeline.find(actor, number=parsed.ref)
            if parsed.name == "show":
                respond(response_type="ephemeral", **card_message(pipeline, opp, with_history=True))
                return
            if parsed.name == "stage":
                result = pipeline.move(actor, opp.id, stage_query=parsed.stage)
            elif parsed.name == "won":
                result = pipeline.win(actor, opp.id)
            else:
                assert parsed.text is not None
                result = pipeline.lose(actor, opp.id, parsed.text)
            respond(**change_reply(follow_ups, result))
        except OppError as exc:
            respond(**ephemeral(f":warning: {exc}"))
