"""The /opp slash command: the ack parses the text with the registry, the subcommand's listener runs after it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.domain.languages import CHINESE
from bot.domain.values import Context, OppError
from bot.i18n import Translator, translator
from bot.services import Services
from bot.slack import commands as registry
from bot.slack import requests
from bot.slack.blocks import escape
from bot.slack.help import help_blocks
from handlers.listener import READERS, Replier, after_ack, replier

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


def mistyped(exc: registry.CommandError, t: Translator) -> str:
    """A command oppbot can't read: one line, what was wrong, the nearest subcommand, and where the rest is."""
    problem = escape(exc.text(t))
    if exc.suggestion:
        return t(":warning: {problem} Did you mean `/opp {suggestion}`? `/opp help` lists every command.", problem=problem,
                 suggestion=escape(exc.suggestion))
    return t(":warning: {problem} `/opp help` lists every command.", problem=problem)


def register(app: App, services: Services) -> None:
    config_language = services.workspaces.config.language

    def reader_language(team_id: str, user_id: str) -> str:
        with services.workspaces.uow() as uow:
            return uow.workspaces.reader_language(team_id, user_id)

    READERS.configure(reader_language, config_language)

    def ack_translator(text: str) -> Translator:
        """The ack has no time for a read: Chinese for a command typed in Chinese, else the configured language."""
        return translator(CHINESE if any("\u4e00" <= c <= "\u9fff" for c in text) else config_language)

    unbound = [name for name, entry in registry.REGISTRY.items() if not entry.in_ack and name not in LISTENERS]
    if unbound:
        raise RuntimeError(f"/opp subcommands without a listener: {', '.join(unbound)}")

    def answer(ack: Ack, body: dict, context: BoltContext) -> None:
        """Help and unreadable commands are answered in the ack itself; everything else after it."""
        try:
            text = requests.command(body).text
            parsed = registry.parse(text)
        except requests.Malformed as exc:
            log.warning("/opp: a malformed command (%s)", exc)
            ack()
            return
        except registry.CommandError as exc:
            ack(response_type="ephemeral", text=mistyped(exc, ack_translator(text)))
            return
        if registry.REGISTRY[parsed.name].in_ack:
            t = ack_translator(text)
            ack(response_type="ephemeral", text=t("oppbot help"), blocks=help_blocks(t=t))
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
            reply.t = translator(ctx.language)
            registry.permit(parsed.name, ctx.actor)
            LISTENERS[parsed.name](services, ctx, parsed, request, reply, client)
        except OppError as exc:
            reply.refuse(exc)
