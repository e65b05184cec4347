"""The /opp slash command: the ack parses the text with the registry, the subcommand's listener runs after it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.domain.values import Context, OppError
from bot.services import Services
from bot.slack import commands as registry
from bot.slack import requests
from bot.slack.blocks import escape
from bot.slack.help import help_blocks
from handlers.listener import Replier, after_ack, replier

log = logging.getLogger(__name__)

# A subcommand's listener: (services, the actor's context, the parsed command, the request, how to answer, the client).
CommandListener = Callable[[Services, Context, registry.Command, requests.CommandRequest, Replier, WebClient], None]
LISTENERS: dict[str, CommandListener] = {}


def handles(name: str) -> Callable[[CommandListener], CommandListener]:
    """Bind the listener of a registered subcommand."""
    if name not in registry.REGISTRY:
        raise KeyError(f"/opp {name} is not in the command registry")

    def bind(listener: CommandListener) -> CommandListener:
        LISTENERS[name] = listener
        return listener

    return bind


def register(app: App, services: Services) -> None:
    unbound = [name for name, entry in registry.REGISTRY.items() if not entry.in_ack and name not in LISTENERS]
    if unbound:
        raise RuntimeError(f"/opp subcommands without a listener: {', '.join(unbound)}")

    def answer(ack: Ack, body: dict, context: BoltContext) -> None:
        """Help and unreadable commands are answered in the ack itself; everything else after it."""
        try:
            parsed = registry.parse(requests.command(body).text)
        except requests.Malformed as exc:
            log.warning("/opp: a malformed command (%s)", exc)
            ack()
            return
        except registry.CommandError as exc:
            ack(response_type="ephemeral", text=f"{escape(str(exc))} Here is what /opp understands:", blocks=help_blocks(str(exc)))
            return
        if registry.REGISTRY[parsed.name].in_ack:
            ack(response_type="ephemeral", text="oppbot help", blocks=help_blocks())
            return
        context["opp_command"] = parsed
        ack()

    @after_ack(app.command("/opp"), ack=answer)
    def opp(body: dict, context: BoltContext, respond: Respond, client: WebClient) -> None:
        parsed: registry.Command | None = context.get("opp_command")
        if parsed is None:
            return
        request = requests.command(body)
        reply = replier(request, respond, client)
        try:
            ctx = services.workspaces.context(request.team_id, request.user_id)
            registry.permit(parsed.name, ctx.actor)
            LISTENERS[parsed.name](services, ctx, parsed, request, reply, client)
        except OppError as exc:
            reply.refuse(exc)
