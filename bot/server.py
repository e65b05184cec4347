"""HTTP mode: an ASGI app (POST /slack/events, GET /healthz, GET /metrics) served by uvicorn; and Socket Mode
(GET /healthz and /metrics on OPPBOT_METRICS_PORT when it is set).

Either serves until SIGTERM or SIGINT (`StopSignals`), then stops taking requests and lets those in
flight finish within SHUTDOWN_GRACE, while `oppbot run` winds the delivery lanes down alongside.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import OppBot
from bot.logs import log_context
from bot.metrics import CONTENT_TYPE, outbox_backlog, request_kind
from bot.slack import inbound
from storage.db import database_answers

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Seconds the requests and deliveries in flight have, after SIGTERM, before the bot lets go of them: the
# whole shutdown stays well inside the 10 s `docker stop` waits before it kills.
SHUTDOWN_GRACE = 5
# /healthz answers 503 when the oldest pending delivery that is due has waited longer than this.
STALE_OUTBOX = 15 * 60  # seconds


def dispatch(oppbot: OppBot, request: BoltRequest) -> BoltResponse:
    """Hand a request to Bolt (which returns once it is acked), counted and timed by kind, its log
    lines labelled with the team, the user and the kind."""
    started = time.perf_counter()
    body = request.body if isinstance(request.body, dict) else {}
    kind = request_kind(body)

    def field(outer: str, inner: str) -> Any:
        value = body.get(outer)
        return value.get(inner) if isinstance(value, dict) else None

    team = body.get("team_id") or field("team", "id")
    user = body.get("user_id") or field("user", "id") or field("event", "user")
    try:
        with log_context(team=team if isinstance(team, str) else None, user=user if isinstance(user, str) else None, request_kind=kind):
            return oppbot.bolt.dispatch(request)
    finally:
        oppbot.metrics.requests.labels(kind).inc()
        oppbot.metrics.ack_seconds.labels(kind).observe(time.perf_counter() - started)


class Link:
    """Whether the Socket Mode link is up (None in HTTP mode: no link to watch)."""

    def __init__(self) -> None:
        self.is_up: Callable[[], bool] | None = None


def health(oppbot: OppBot, link: Link | None = None, *, stale_after: float = STALE_OUTBOX) -> tuple[int, dict]:
    """(status, report) of /healthz: 503 with `reasons` when the database doesn't answer, the Socket
    Mode link is down, or the oldest due delivery has waited longer than `stale_after` seconds."""
    reasons: list[str] = []
    report: dict[str, Any] = {}
    if database_answers(oppbot.engine):
        report["database"] = "ok"
        try:
            counts, oldest = outbox_backlog(oppbot.engine, oppbot.dispatcher.clock.now())
            report["outbox"] = {"oldest_due_seconds": round(oldest, 1),
                                "failed_deliveries": sum(n for (_, state), n in counts.items() if state == "failed")}
            if oldest > stale_after:
                reasons.append(f"the oldest due delivery has waited {int(oldest)} s (more than {int(stale_after)} s)")
        except Exception as exc:
            report["outbox"] = "unavailable"
            reasons.append(f"the outbox can't be read ({exc.__class__.__name__})")
    else:
        report["database"] = "unavailable"
        reasons.append("the database doesn't answer")
    last_ok = oppbot.metrics.last_slack_ok
    slack: dict[str, Any] = {"last_ok_call": None if last_ok is None else datetime.fromtimestamp(last_ok, timezone.utc).isoformat(timespec="seconds")}
    if link is not None and link.is_up is not None:
        slack["socket_mode"] = "up" if link.is_up() else "down"
        if slack["socket_mode"] == "down":
            reasons.append("the Socket Mode link is down")
    report["slack"] = slack
    report["status"] = "unavailable" if reasons else "ok"
    if reasons:
        report["reasons"] = reasons
        return 503, report
    return 200, report


def observability_routes(oppbot: OppBot, link: Link | None = None) -> list[Route]:
    """GET /healthz and GET /metrics (both read the database off the event loop)."""

    async def healthz(_: Request) -> Response:
        status, body = await run_in_threadpool(health, oppbot, link)
        return JSONResponse(body, status_code=status)

    async def metrics(_: Request) -> Response:
        return Response(await run_in_threadpool(oppbot.metrics.exposition), media_type=CONTENT_TYPE)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]


class StopSignals:
    """SIGTERM and SIGINT, or the server ending by itself, as one event the main thread waits for.

    A signal handler runs in the main thread wherever it happens to be, so it takes no lock (an Event
    could deadlock): it notes the signal and writes a byte to a socket pair that `wait` reads."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous: dict[int, Any] = {}  # what signal.signal returned: a handler, SIG_DFL, or None

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
        self._reader.close()
        self._writer.close()  # a late wake() then fails quietly (a closed socket, never a reused descriptor)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        self.wake()

    def wake(self) -> None:
        """End `wait`; from any thread, or the signal handler."""
        try:
            self._writer.send(b"\0")
        except OSError:  # full (wait returns anyway) or closed (nobody waits any more)
            pass

    def wait(self) -> None:
        self._reader.recv(1)


def asgi_app(oppbot: OppBot) -> Starlette:
    verifier = SignatureVerifier(oppbot.settings.slack_signing_secret)

    def answer(text: str, headers: Headers, query: QueryParams) -> Response:
        try:
            admitted = inbound.admit(text, headers, verifier)
        except inbound.Refused as refusal:
            # A 401 is anyone on the internet; a 400 was signed by Slack, so it is worth a look.
            log.log(logging.INFO if refusal.status == 401 else logging.WARNING, "answered %s: %s", refusal.status, refusal.reason)
            return PlainTextResponse(refusal.reason, status_code=refusal.status)
        # Bolt's annotations ask for dicts, but it reads any mapping through .items(): copying Starlette's
        # into dicts would only add work to the ack path
        bolt_request = BoltRequest(body=admitted.body, query=query, headers=admitted.headers)  # type: ignore[arg-type]
        return to_starlette_response(dispatch(oppbot, bolt_request))

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("request too large", status_code=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("body is not UTF-8", status_code=400)
        # Reading the body and Bolt's sync dispatch (which blocks until ack()) run off the event loop, so requests overlap.
        return await run_in_threadpool(answer, text, request.headers, request.query_params)

    return Starlette(routes=[Route("/slack/events", slack_events, methods=["POST"]), *observability_routes(oppbot)])


def uvicorn_server(oppbot: OppBot, *, host: str = "0.0.0.0", port: int | None = None, app: Starlette | None = None) -> uvicorn.Server:
    config = uvicorn.Config(
        asgi_app(oppbot) if app is None else app, host=host, port=oppbot.settings.port if port is None else port,
        log_level=oppbot.settings.log_level.lower(), access_log=False, lifespan="off", timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    return uvicorn.Server(config)


def run_http(oppbot: OppBot, stop: StopSignals, *, on_stop: Callable[[], object]) -> bool:
    """Serve HTTP until a stop signal (or until uvicorn ends by itself: it could not bind the port), then
    call `on_stop` and let uvicorn finish the requests in flight. Returns whether it finished in time."""
    server = uvicorn_server(oppbot)

    def serve() -> None:
        try:
            server.run()
        finally:
            stop.wake()

    log.info("oppbot listening on port %s (HTTP mode: POST /slack/events, GET /healthz, GET /metrics)", oppbot.settings.port)
    # In the main thread uvicorn takes SIGTERM for itself and, once stopped, raises it again: the process
    # died by the signal (status -15) before the delivery lanes let go of their rows. In a thread of its
    # own it leaves signals to StopSignals.
    thread = threading.Thread(target=serve, name="http", daemon=True)
    thread.start()
    stop.wait()
    on_stop()
    server.should_exit = True
    thread.join(SHUTDOWN_GRACE + 1)  # uvicorn gives the requests in flight SHUTDOWN_GRACE
    return not thread.is_alive()


def socket_mode_handler(oppbot: OppBot) -> Any:
    """Bolt's SocketModeHandler, each request counted and timed as in HTTP mode (`dispatch`)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_bolt.adapter.socket_mode.internals import build_headers, send_response

    class Handler(SocketModeHandler):
        def handle(self, client, req) -> None:
            start = time.time()
            response = dispatch(oppbot, BoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req)))
            send_response(client, req, response, start)

    assert oppbot.settings.slack_app_token is not None
    return Handler(oppbot.bolt, oppbot.settings.slack_app_token)


def run_socket_mode(oppbot: OppBot, stop: StopSignals, *, on_stop: Callable[[], object]) -> bool:
    """Serve over Socket Mode until a stop signal, then call `on_stop` and close the link. Returns whether
    it closed in time. A link that fails is retried by the client itself (every ping interval). With
    OPPBOT_METRICS_PORT set, GET /healthz and GET /metrics are served on that port meanwhile."""
    log.info("oppbot connecting to Slack in Socket Mode")
    handler = socket_mode_handler(oppbot)
    link = Link()
    link.is_up = handler.client.is_connected
    watch = None
    if oppbot.settings.metrics_port is not None:
        watch = uvicorn_server(oppbot, port=oppbot.settings.metrics_port, app=Starlette(routes=observability_routes(oppbot, link)))
        threading.Thread(target=watch.run, name="metrics", daemon=True).start()
        log.info("GET /healthz and GET /metrics on port %s", oppbot.settings.metrics_port)
    handler.connect()
    stop.wait()
    on_stop()
    if watch is not None:
        watch.should_exit = True
    # close() joins the client's threads, one of which may be reconnecting, and waits for the requests in
    # flight: bounded here, so that it can't hold the exit up.
    closing = threading.Thread(target=handler.close, name="socket-mode-close", daemon=True)
    closing.start()
    closing.join(SHUTDOWN_GRACE)
    return not closing.is_alive()
