"""HTTP mode: an ASGI app (POST /slack/events, GET /healthz) served by uvicorn; and Socket Mode."""

from __future__ import annotations

import logging

import uvicorn
from slack_bolt import BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import OppBot
from storage.db import database_answers

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000


def asgi_app(oppbot: OppBot) -> Starlette:
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("request too large", status_code=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("body is not UTF-8", status_code=400)
        # Bolt's annotations ask for dicts, but it reads any mapping through .items(): copying Starlette's
        # into dicts would only add work to the ack path
        bolt_request = BoltRequest(body=text, query=request.query_params, headers=request.headers)  # type: ignore[arg-type]
        # Bolt's sync dispatch blocks until ack(); run it off the event loop so requests overlap.
        bolt_response = await run_in_threadpool(oppbot.bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    def health() -> tuple[int, dict]:
        if not database_answers(oppbot.engine):
            return 503, {"database": "unavailable"}
        return 200, {"database": "ok", "failed_deliveries": oppbot.dispatcher.failed_count()}

    async def healthz(_: Request) -> Response:
        status, body = await run_in_threadpool(health)
        return JSONResponse(body, status_code=status)

    return Starlette(routes=[
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


def uvicorn_server(oppbot: OppBot, *, host: str = "0.0.0.0", port: int | None = None) -> uvicorn.Server:
    config = uvicorn.Config(
        asgi_app(oppbot), host=host, port=oppbot.settings.port if port is None else port,
        log_level=oppbot.settings.log_level.lower(), access_log=False, lifespan="off", timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def run_http(oppbot: OppBot) -> None:
    log.info("oppbot listening on port %s (HTTP mode: POST /slack/events, GET /healthz)", oppbot.settings.port)
    uvicorn_server(oppbot).run()


def run_socket_mode(oppbot: OppBot) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert oppbot.settings.slack_app_token is not None
    log.info("oppbot connecting to Slack in Socket Mode")
    SocketModeHandler(oppbot.bolt, oppbot.settings.slack_app_token).start()
