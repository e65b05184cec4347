"""The gate every request passes before any listener: oppbot serves the workspace its bot token belongs to, nobody else.

With one bot token oppbot answers exactly the workspace (or Enterprise Grid organisation) that
auth.test named at start-up (`Workspaces.installation`). A signed request from any other team, or
from a user of another organisation, is refused in the HTTP answer itself: no row is written, no Web
API call is made. A click (someone from an external organisation clicking a card in a Slack Connect
channel) is also answered, through its response_url, that oppbot serves its own workspace only. A payload that names no team (or, for a
command or an interaction, no user) is not a request oppbot can answer: 400.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk.webhook import WebhookClient

from bot.domain.languages import ENGLISH
from bot.domain.values import Installation
from bot.i18n import Translator, translator
from bot.slack import requests
from bot.slack.blocks import plain
from bot.slack.requests import Malformed

log = logging.getLogger(__name__)

# Requests Slack sends about the app itself, with no team: the later middleware answers them.
ABOUT_THE_APP = ("url_verification", "ssl_check")
INTERACTIVE = ("block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion")


def not_served(installation: Installation, *, t: Translator) -> str:
    return t("oppbot here serves the *{workspace}* workspace only, so it can't act on this for someone from another "
             "workspace or organisation. Nothing was changed.", workspace=installation.name)


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _json(status: int, body: dict) -> BoltResponse:
    return BoltResponse(status=status, body=json.dumps(body), headers={"content-type": "application/json; charset=utf-8"})


class WorkspaceGate(Middleware):
    def __init__(self, installation: Callable[[], Installation | None], executor: Executor, *, language: str = ENGLISH) -> None:
        self.installation = installation
        self.executor = executor  # tells an external user, after the answer, through the click's response_url
        # Someone from another organisation has no profile here: the notice is in the configuration file's language.
        self.t = translator(language)

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        kind = str(body.get("type") or ("command" if "command" in body else ""))
        if kind in ABOUT_THE_APP or body.get("ssl_check"):
            return next()
        team_id, enterprise_id = req.context.team_id, req.context.enterprise_id
        is_interactive = kind == "command" or kind in INTERACTIVE
        try:
            if not team_id:
                raise Malformed("no team")
            if is_interactive:
                requests.who(body)
        except Malformed:
            log.warning("a %s request without a team or a user: answered 400", kind or "untyped")
            return BoltResponse(status=400, body="this request names no team or no user")
        installation = self.installation()
        if installation is None:
            return BoltResponse(status=503, body="oppbot is starting")
        actor_team = _dict(body.get("user")).get("team_id") or req.context.actor_team_id
        actor_enterprise = req.context.actor_enterprise_id or enterprise_id
        if installation.admits(team_id, enterprise_id) and not (actor_team and not installation.admits(actor_team, actor_enterprise)):
            return next()
        log.warning("refused a %s request from %s of workspace %s: this token serves %s", kind or "untyped", req.context.user_id,
                    actor_team or team_id, installation.team_id)
        # A click on a card in a Slack Connect channel comes from the clicker's workspace (its team, or its
        # user's): the one answer that reaches only them is the click's response_url, a webhook of Slack's
        # (the request is signed) and no Web API call.
        response_url = requests.web_url(body.get("response_url"))
        if kind == "block_actions" and response_url:
            self.executor.submit(self._tell, response_url, not_served(installation, t=self.t))
        return self._refuse(kind, installation)

    def _refuse(self, kind: str, installation: Installation) -> BoltResponse:
        text = not_served(installation, t=self.t)
        if kind == "command":
            return _json(200, {"response_type": "ephemeral", "text": text})
        if kind == "view_submission":
            return _json(200, {"response_action": "update", "view": {
                "type": "modal", "title": plain("oppbot"), "close": plain(self.t("Close")),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}})
        if kind == "block_suggestion":
            return _json(200, {"options": []})
        return BoltResponse(status=200, body="")

    @staticmethod
    def _tell(response_url: str, text: str) -> None:
        try:
            WebhookClient(response_url, timeout=10).send(response_type="ephemeral", replace_original=False, text=text)
        except Exception as exc:  # nothing was changed, and there is no other way to reach them
            log.info("could not tell an external user that oppbot serves its own workspace only: %s", exc)
