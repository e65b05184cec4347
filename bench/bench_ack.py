"""Ack latency of `oppbot run` (HTTP mode) against a bare Bolt app served the same way.

    .venv/bin/python bench/bench_ack.py                 # PostgreSQL database oppbot_bench_ack
    .venv/bin/python bench/bench_ack.py --db sqlite     # an SQLite file in a temporary directory

One command: it starts a FakeSlack in this process, seeds a few hundred deals through the
services (bot.services.build_services; their cards posted by the dispatcher), starts
`python -m bot.cli run` (the production entry point) and a bare Bolt app (same uvicorn +
starlette adapter, listeners that ack and make the same Web API calls) as subprocesses, then
sends the same stream of signed requests (`/opp help`, `/opp list`, `/opp show OPP-n`, card
stage-select clicks) to each from a pool of client threads at a fixed arrival rate. There are
two bare apps: Bolt as it comes (process_before_response=False, the listener and its ack on
Bolt's 5-thread pool, the request thread polling for the ack every 10 ms) and the same app
shaped like oppbot (ack in the request thread, Web API calls in a lazy listener).
Phases alternate bare/ack-first/oppbot/oppbot/ack-first/bare so a drift in machine load (other
people run tests on the same 2 cores) hits all of them. Prints p50/p99 per request kind and overall, the
oppbot/bare ratio (target: p99 within 1.5x) and the peak RSS of each server (target < 200 MB).

The code under test is the tree this file sits in (bench/..): copy the repo to /tmp, change it,
and run the copy's bench/bench_ack.py to measure a fix.

Other bench scripts import the helpers below (signing, request bodies, load generator,
server start-up, RSS sampling, databases).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
TEAM = "T0BENCH"
ADMIN = "U0ADMIN"
MANAGER = "U0MGR"
SALES_CHANNEL = "C0SALES"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FORBIDDEN_DATABASES = {"test", "postgres", "template0", "template1"}


def reps(n: int) -> list[str]:
    return [f"U0REP{i:04d}" for i in range(1, n + 1)]


def bench_config(members: list[str], *, digest: str = "30 8 * * 1-5", channel: str | None = None) -> str:
    """The workspace configuration: default stage model with alert channels given as ids, one team."""
    quoted = ", ".join(f'"{m}"' for m in members)
    return f"""
[workspace]
currency = "USD"
timezone = "UTC"
admins = ["{ADMIN}"]
industries = ["Healthcare", "Finance", "Manufacturing", "Retail", "Technology"]
regions = ["North", "South", "East", "West"]

[[stages]]
name = "Prospect"
probability = 10
max_days = 14

[[stages]]
name = "Solution design"
probability = 30
max_days = 21
alert_channel = "C0SOLUTIONS"

[[stages]]
name = "Technical evaluation"
probability = 50
max_days = 30
alert_channel = "C0ENGINEERING"

[[stages]]
name = "Negotiation"
probability = 80
max_days = 21

[[teams]]
name = "Bench"
manager = "{MANAGER}"
members = [{quoted}]
digest = "{digest}"
timezone = "UTC"
{f'channel = "{channel}"' if channel else ""}
"""


# ----- databases -------------------------------------------------------------------------------

def create_pg_database(name: str) -> str:
    """Drop and create `name` through an AUTOCOMMIT connection; returns its URL."""
    from sqlalchemy import create_engine, text

    if name in FORBIDDEN_DATABASES or not name.startswith("oppbot_bench_"):
        raise SystemExit(f"refusing to use database {name!r}")
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    if name in FORBIDDEN_DATABASES or not name.startswith("oppbot_bench_"):
        return
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


# ----- the fake Slack and the workspace ----------------------------------------------------------

def start_fake(fake_class=None, users: list[str] = (), **kwargs):
    from tests.fakeslack import FakeSlack

    fake = (fake_class or FakeSlack)(bot_token=BOT_TOKEN, team_id=TEAM, **kwargs).start()
    for user in (ADMIN, MANAGER, *users):
        fake.add_user(user, tz="UTC")
    for channel, name in ((SALES_CHANNEL, "sales"), ("C0SOLUTIONS", "solutions"), ("C0ENGINEERING", "engineering")):
        fake.add_channel(channel, name)
    return fake


def make_settings(database_url: str, fake, config_path: Path | None):
    from bot.settings import Settings

    return Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=fake.api_url,
                    database_url=database_url, config_path=config_path, port=0, log_level="WARNING")


@dataclass
class Deal:
    id: int
    number: int
    owner: str
    stage_index: int
    card_channel: str
    card_ts: str


@dataclass
class Seeded:
    deals: list[Deal]
    stage_ids: list[int]
    by_owner: dict[str, list[Deal]] = field(default_factory=dict)


def seed(database_url: str, fake, config_path: Path, owners: list[str], n_deals: int) -> Seeded:
    """Create the workspace and `n_deals` deals through the services (bot.services.build_services), cards in #sales.

    A new deal's card is an outbox row (card_post, then the card_note to the submitter); the
    dispatcher delivers them here, before any server starts, so every card is posted (and its
    channel and ts known for the stage-select clicks) as when the Pipeline posted it at creation.
    """
    from bot.deals.cards import CARD_KINDS
    from bot.domain.clock import SystemClock
    from bot.domain.values import OpportunityDraft
    from bot.services import build_services
    from bot.slack.gateway import SlackGateway, make_web_client
    from bot.workspace.config import load_config
    from storage.db import UnitOfWork, make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    # Not paced: the Pipeline posted the seed's cards without pacing (the app's delivery gateway would
    # take one a second in #sales, 300 s for 300 deals); the fake Slack sets no limit while seeding.
    gateway = SlackGateway(make_web_client(BOT_TOKEN, fake.api_url))
    services = build_services(engine, SystemClock(), load_config(config_path), gateway, gateway)
    services.workspaces.ensure_workspace(TEAM)
    stages = services.workspaces.pipelines(TEAM).default
    stage_ids = [s.id for s in stages.stages]
    industries = ["Healthcare", "Finance", "Manufacturing", "Retail", "Technology"]
    contexts = {owner: services.workspaces.context(TEAM, owner) for owner in owners}
    created = []
    for i in range(n_deals):
        owner = owners[i % len(owners)]
        draft = OpportunityDraft(name=f"Deal {i} rollout", customer=f"Customer {i % 97}", owner_id=owner, stage_id=stage_ids[0],
                                 currency="USD", amount=Decimal(1000 + 37 * i), industry=industries[i % 5], region="North",
                                 next_step="send the quote")
        opp, _ = services.deals.create(contexts[owner], draft, channel_id=SALES_CHANNEL)
        created.append(opp)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # the cards, then the notes their posting records (and retries after a 429)
        stats = services.dispatcher.run_once(kinds=CARD_KINDS, plan=False)
        if stats.failed:
            raise SystemExit(f"seeding: {stats.failed} card deliveries failed: {stats.errors[:3]}")
        due = services.dispatcher.next_due(kinds=CARD_KINDS)
        if due is None:
            break
        time.sleep(min(5.0, max(0.0, (due - services.clock.now()).total_seconds())))
    deals: list[Deal] = []
    with UnitOfWork(engine) as uow:
        for opp in created:
            card = uow.deals.first_posted_card(TEAM, opp.id)
            if card is None:
                raise SystemExit(f"the card of {opp.ref} was not posted: {uow.outbox.pending(TEAM)[:3]}")
            deals.append(Deal(opp.id, opp.number, opp.owner_id, 0, card.channel_id, card.ts))
        left = [d for kind in CARD_KINDS for d in uow.outbox.pending(TEAM, kind)]
    if left:
        raise SystemExit(f"{len(left)} card deliveries still pending after seeding, e.g. {left[0].kind} {left[0].last_error}")
    engine.dispose()
    seeded = Seeded(deals, stage_ids)
    for deal in deals:
        seeded.by_owner.setdefault(deal.owner, []).append(deal)
    return seeded


# ----- signed requests ---------------------------------------------------------------------------

_ids = itertools.count(1)
FORM = "application/x-www-form-urlencoded"


@dataclass
class Req:
    kind: str
    body: str
    content_type: str = FORM


def sign_headers(body: str, content_type: str = FORM, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


def slash(kind: str, text: str, user: str, fake_base: str, channel: str = SALES_CHANNEL) -> Req:
    n = next(_ids)
    form = {"token": "legacy", "team_id": TEAM, "team_domain": "bench", "channel_id": channel, "channel_name": "sales",
            "user_id": user, "user_name": user.lower(), "command": "/opp", "text": text, "api_app_id": "A0OPPBOT",
            "response_url": f"{fake_base}/response/cmd{n}", "trigger_id": f"trigger-cmd-{n}"}
    return Req(kind, urllib.parse.urlencode(form))


def stage_select(kind: str, deal: Deal, stage_id: int, user: str, fake_base: str) -> Req:
    n = next(_ids)
    action = {"action_id": "card_stage_select", "block_id": f"card:{deal.id}", "action_ts": "1", "type": "static_select",
              "selected_option": {"text": {"type": "plain_text", "text": "stage"}, "value": f"{deal.id}:{stage_id}"}}
    payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
               "trigger_id": f"trigger-act-{n}", "actions": [action],
               "container": {"type": "message", "message_ts": deal.card_ts, "channel_id": deal.card_channel, "is_ephemeral": False},
               "channel": {"id": deal.card_channel}, "message": {"ts": deal.card_ts, "text": "card"},
               "response_url": f"{fake_base}/response/act{n}"}
    return Req(kind, urllib.parse.urlencode({"payload": json.dumps(payload)}))


def view_submission(kind: str, callback_id: str, values: dict, user: str, private_metadata: str = "") -> Req:
    payload = {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
               "trigger_id": f"trigger-view-{next(_ids)}",
               "view": {"id": f"V{next(_ids)}", "type": "modal", "callback_id": callback_id, "private_metadata": private_metadata,
                        "state": {"values": values}}}
    return Req(kind, urllib.parse.urlencode({"payload": json.dumps(payload)}))


# ----- load generator ----------------------------------------------------------------------------

@dataclass
class Result:
    kind: str
    status: int
    latency: float  # seconds from sending the request to reading the whole response
    lag: float  # how late the request left against its schedule (client saturation)
    port: int
    error: str | None = None


def run_load(requests: list[Req], ports: list[int], *, rate: float | None, concurrency: int, timeout: float = 30.0) -> list[Result]:
    """Send `requests` (in order; request i to ports[i % len(ports)]) from `concurrency` threads.

    With `rate`, request i is due at start + i/rate (open loop, bounded by `concurrency`);
    without, each thread sends its next request as soon as the previous one is answered.
    """
    results: list[Result | None] = [None] * len(requests)
    counter = itertools.count()
    start = time.perf_counter() + 0.2

    def worker() -> None:
        connections: dict[int, http.client.HTTPConnection] = {}
        while True:
            i = next(counter)
            if i >= len(requests):
                break
            req, port = requests[i], ports[i % len(ports)]
            due = start + (i / rate if rate else 0.0)
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent = time.perf_counter()
            status, error = 0, None
            try:
                connection = connections.get(port)
                if connection is None:
                    connection = connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                connection.request("POST", "/slack/events", body=req.body.encode(), headers=sign_headers(req.body, req.content_type))
                response = connection.getresponse()
                data = response.read()
                status = response.status
                if status >= 400:
                    error = data[:200].decode("utf-8", "replace")
            except Exception as exc:  # every failure is a counted error
                error = f"{exc.__class__.__name__}: {exc}"
                stale = connections.pop(port, None)
                if stale is not None:
                    stale.close()
            done = time.perf_counter()
            results[i] = Result(req.kind, status, done - sent, max(0.0, sent - due), port, error)
        for connection in connections.values():
            connection.close()

    threads = [threading.Thread(target=worker, name=f"client-{n}", daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


# ----- servers -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start in {timeout}s:\n{log_path.read_text()[-3000:]}")


def oppbot_env(database_url: str, fake, config_path: Path | None, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "OPPBOT_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake.api_url, DATABASE_URL=database_url,
               PORT=str(port), LOG_LEVEL="INFO", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    if config_path is not None:
        env["OPPBOT_CONFIG"] = str(config_path)
    env.update(extra)
    return env


def start_process(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(args, env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process._bench_log = log  # type: ignore[attr-defined]
    return process


def start_oppbot(database_url: str, fake, config_path: Path | None, port: int, log_path: Path, **extra: str) -> subprocess.Popen:
    """`oppbot run` exactly as deployed: `python -m bot.cli run` with the environment it reads."""
    process = start_process([sys.executable, "-m", "bot.cli", "run"], oppbot_env(database_url, fake, config_path, port, **extra), log_path)
    wait_healthy(port, process, log_path)
    return process


def start_bare(fake, port: int, log_path: Path, *, ack_first: bool = False) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    process = start_process([sys.executable, str(Path(__file__).resolve()), "--serve-bare", "--port", str(port), "--api-url", fake.api_url,
                             *(["--ack-first"] if ack_first else [])], env, log_path)
    wait_healthy(port, process, log_path)
    return process


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    log = getattr(process, "_bench_log", None)
    if log is not None:
        log.close()


class RssSampler:
    """Samples the resident set size of some processes every `interval` seconds; keeps the peak."""

    def __init__(self, pids: dict[str, int], interval: float = 0.05) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self.last: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    @staticmethod
    def rss(pid: int) -> int:
        try:
            import psutil

            return psutil.Process(pid).memory_info().rss
        except ImportError:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except Exception:  # the process is gone
            return 0
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                value = self.rss(pid)
                self.last[name] = value
                self.peak[name] = max(self.peak[name], value)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (all its threads)."""
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except ImportError:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(fake, quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Wait until the fake has seen no new call for `quiet` seconds (background work is done)."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(fake._calls)
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


# ----- the bare Bolt app -------------------------------------------------------------------------

def serve_bare(port: int, api_url: str, ack_first: bool = False) -> None:
    """A minimal Bolt app, served like bot/server.py: ack, then the same Web API calls, no database.

    By default Bolt's out-of-the-box shape (process_before_response=False: the listener, ack
    included, runs on Bolt's pool). With ack_first, the shape oppbot uses: the ack in the request
    thread, the Web API calls in a lazy listener on a 16-thread pool.
    """
    from concurrent.futures import ThreadPoolExecutor

    import uvicorn
    from slack_bolt import App, BoltRequest
    from slack_bolt.adapter.starlette.handler import to_starlette_response
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from bot.slack.help import help_blocks

    client = WebClient(token=BOT_TOKEN, base_url=api_url, timeout=10)
    app = App(signing_secret=SIGNING_SECRET, client=client, token_verification_enabled=False, process_before_response=ack_first,
              raise_error_for_unhandled_request=False, **({"listener_executor": ThreadPoolExecutor(16)} if ack_first else {}))
    help_payload = help_blocks()
    line = {"type": "section", "text": {"type": "mrkdwn", "text": "*OPP-12 · Acme rollout* — Acme Corp · $12,500.00 · 4 days in stage"}}
    list_payload = [{"type": "header", "text": {"type": "plain_text", "text": "Your open opportunities"}}] + [line] * 25
    card_payload = [line] * 12 + [{"type": "actions", "elements": [{"type": "button", "action_id": "x", "text": {"type": "plain_text", "text": "Won"}, "value": "1"}]}]

    def opp_ack(ack, command):
        if (command.get("text") or "").startswith("help"):
            ack(response_type="ephemeral", text="oppbot help", blocks=help_payload)
        else:
            ack()

    def opp_work(command, respond):
        verb = (command.get("text") or "").split(" ", 1)[0]
        if verb == "help":
            return
        if verb == "list":
            respond(response_type="ephemeral", text="25 open opportunities", blocks=list_payload)
        else:
            respond(response_type="ephemeral", text="OPP-1", blocks=card_payload)

    def stage_ack(ack):
        ack()

    def stage_work(body, respond, client):
        container = body.get("container") or {}
        client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text="OPP-1 card", blocks=card_payload)
        respond(response_type="ephemeral", replace_original=False, text="OPP-1 moved from *Prospect* to *Solution design*.")
        client.chat_postMessage(channel="C0SOLUTIONS", text="OPP-1 entered Solution design", blocks=card_payload[:4])

    if ack_first:
        app.command("/opp")(ack=opp_ack, lazy=[opp_work])
        app.action("card_stage_select")(ack=stage_ack, lazy=[stage_work])
    else:
        @app.command("/opp")
        def opp(ack, command, respond):
            opp_ack(ack, command)
            opp_work(command, respond)

        @app.action("card_stage_select")
        def stage_selected(ack, body, respond, client):
            stage_ack(ack)
            stage_work(body, respond, client)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_request = BoltRequest(body=body.decode("utf-8"), query=request.query_params, headers=request.headers)  # type: ignore[arg-type]
        return to_starlette_response(await run_in_threadpool(app.dispatch, bolt_request))

    async def healthz(_: Request) -> Response:
        return JSONResponse({"database": "ok"})

    asgi = Starlette(routes=[Route("/slack/events", slack_events, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])])
    uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off",
                                  timeout_graceful_shutdown=10)).run()


# ----- the benchmark -----------------------------------------------------------------------------

KINDS = ("help", "list", "show", "stage")
SHORT = {"bare-ack-first": "ackf", "oppbot": "opp", "candidate": "cand"}


def build_stream(seeded: Seeded, fake_base: str, n: int, state: dict[int, int]) -> list[Req]:
    """help / list / show / stage-select in turn; clicks walk the deals round robin through the stages."""
    owners = sorted(seeded.by_owner)
    requests: list[Req] = []
    for i in range(n):
        kind = KINDS[i % 4]
        owner = owners[(i // 4) % len(owners)]
        if kind == "help":
            requests.append(slash(kind, "help", owner, fake_base))
        elif kind == "list":
            requests.append(slash(kind, "list", owner, fake_base))
        elif kind == "show":
            deal = seeded.by_owner[owner][(i // 4 // len(owners)) % len(seeded.by_owner[owner])]
            requests.append(slash(kind, f"show OPP-{deal.number}", owner, fake_base))
        else:
            requests.append(next_stage_click(seeded, state, kind, fake_base))
    return requests


def next_stage_click(seeded: Seeded, state: dict[int, int], kind: str, fake_base: str) -> Req:
    """The next card stage-select click: deals in turn, each moving on to its next stage (wrapping
    around). `state` holds each deal's stage index and, under -1, how many clicks came before."""
    click = state.get(-1, 0)
    state[-1] = click + 1
    deal = seeded.deals[click % len(seeded.deals)]
    index = (state.get(deal.id, 0) + 1) % len(seeded.stage_ids)
    state[deal.id] = index
    return stage_select(kind, deal, seeded.stage_ids[index], deal.owner, fake_base)


def summarize(results: list[Result]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for kind in (*KINDS, "all"):
        values = [r.latency for r in results if kind == "all" or r.kind == kind]
        out[kind] = (pct(values, 50), pct(values, 99))
    return out


def start_oppbot_from(tree: Path, database_url: str, fake, config_path: Path, port: int, log_path: Path, **extra: str) -> subprocess.Popen:
    """`python -m bot.cli run` with the code of another source tree (a scratch copy with a fix)."""
    env = oppbot_env(database_url, fake, config_path, port, **extra)
    env["PYTHONPATH"] = str(tree)
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, cwd=str(tree), stdout=open(log_path, "wb"),  # noqa: SIM115
                               stderr=subprocess.STDOUT, start_new_session=True)
    wait_healthy(port, process, log_path)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    parser.add_argument("--deals", type=int, default=300)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--rates", default="20,40,80", help="arrival rates to sweep, requests/s (open loop); 0 = closed loop")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of one phase; requests per phase = rate x seconds")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the phase pattern (bare, oppbot, oppbot, bare) this many times per rate")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads (bounds the requests in flight)")
    parser.add_argument("--warmup", type=int, default=80)
    parser.add_argument("--tick", help="OPPBOT_TICK_SECONDS for oppbot (default: the production default)")
    parser.add_argument("--candidate", type=Path, metavar="TREE",
                        help="also run `oppbot run` from this source tree (a scratch copy with a fix) and compare it in the same run")
    parser.add_argument("--py-spy", metavar="FILE", help="record the oppbot process with py-spy during its phases (speedscope JSON)")
    parser.add_argument("--py-spy-gil", action="store_true", help="with --py-spy: sample only the thread holding the GIL (CPU profile)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ack-first", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.port, args.api_url, args.ack_first)
        return 0

    started = time.monotonic()
    rates = [float(r) for r in args.rates.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="oppbot-bench-ack-"))
    owners = reps(args.reps)
    fake = start_fake(users=owners)
    processes: dict[str, subprocess.Popen] = {}
    spy: subprocess.Popen | None = None
    db_name = "oppbot_bench_ack"
    try:
        database_url = create_pg_database(db_name) if args.db == "pg" else f"sqlite:///{workdir / 'oppbot.db'}"
        config_path = workdir / "oppbot.toml"
        config_path.write_text(bench_config(owners))
        t = time.monotonic()
        seeded = seed(database_url, fake, config_path, owners, args.deals)
        print(f"code under test: {ROOT}" + (f"; candidate: {args.candidate}" if args.candidate else ""))
        print(f"seeded {len(seeded.deals)} deals for {len(owners)} reps through the services on {args.db} in {time.monotonic() - t:.1f}s")

        # The production tick (30 s) unless asked: alerts still go out at once, a commit wakes the delivery job.
        tick = {"OPPBOT_TICK_SECONDS": args.tick} if args.tick else {}
        ports = {"bare": free_port(), "bare-ack-first": free_port(), "oppbot": free_port()}
        processes["bare"] = start_bare(fake, ports["bare"], workdir / "bare.log")
        processes["bare-ack-first"] = start_bare(fake, ports["bare-ack-first"], workdir / "bare-ack-first.log", ack_first=True)
        processes["oppbot"] = start_oppbot(database_url, fake, config_path, ports["oppbot"], workdir / "oppbot.log", **tick)
        pattern = ["bare", "bare-ack-first", "oppbot", "oppbot", "bare-ack-first", "bare"]
        if args.candidate:
            if args.db == "sqlite":
                raise SystemExit("--candidate needs --db pg (two processes on one database)")
            ports["candidate"] = free_port()
            processes["candidate"] = start_oppbot_from(args.candidate.resolve(), database_url, fake, config_path, ports["candidate"],
                                                       workdir / "candidate.log", **tick)
            pattern = ["bare", "bare-ack-first", "oppbot", "candidate", "candidate", "oppbot", "bare-ack-first", "bare"]
        names = list(ports)
        state: dict[int, int] = {}
        results = {(rate, name): [] for rate in rates for name in names}
        cpu_ms = {(rate, name): 0.0 for rate in rates for name in names}
        with RssSampler({name: process.pid for name, process in processes.items()}) as rss:
            # warm up (first users.info, auth.test, connection pools, first-use imports)
            for name in names:
                run_load(build_stream(seeded, fake.base_url, args.warmup, state), [ports[name]], rate=None, concurrency=4)
            wait_quiet(fake)
            if args.py_spy:
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(processes["oppbot"].pid), "--rate", "200",
                                        "--format", "speedscope", "--output", args.py_spy, "--nonblocking",
                                        *(["--gil"] if args.py_spy_gil else [])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for rate in rates:
                n = int(rate * args.seconds) if rate else int(40 * args.seconds)
                for _round in range(args.rounds):
                    for name in pattern:
                        stream = build_stream(seeded, fake.base_url, n, state)
                        pid = processes[name].pid
                        t, cpu = time.monotonic(), cpu_seconds(pid)
                        phase_results = run_load(stream, [ports[name]], rate=rate or None, concurrency=args.concurrency)
                        elapsed = time.monotonic() - t
                        wait_quiet(fake)
                        cpu_ms[rate, name] += (cpu_seconds(pid) - cpu) * 1000
                        errors = [r for r in phase_results if r.error]
                        late = sum(1 for r in phase_results if r.lag > 0.05)
                        latencies = [r.latency for r in phase_results]
                        print(f"rate {rate:g}/s {name:<9}: {len(phase_results)} requests in {elapsed:5.1f}s ({len(phase_results) / elapsed:5.1f}/s), "
                              f"p50 {ms(pct(latencies, 50)).strip()} ms, p99 {ms(pct(latencies, 99)).strip()} ms, {len(errors)} errors, "
                              f"{late} left the client >50ms late; rss {rss.last[name] / 2**20:.0f} MB")
                        for error in errors[:3]:
                            print(f"    error: {error.kind} {error.status} {error.error}")
                        results[rate, name].extend(phase_results)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=30)
                spy = None
        print()
        verdicts = []
        for rate in rates:
            bare_stats = summarize(results[rate, "bare"])
            contenders = [name for name in names if name != "bare"]
            print(f"ack latency at {rate:g} requests/s ({args.concurrency} clients, {args.db}), ms; x = against the bare app "
                  "(ackf = the bare app acking in the request thread)")
            header = f"{'kind':<7}{'bare p50':>9}{'bare p99':>9}"
            for name in contenders:
                header += f"{SHORT[name] + ' p50':>10}{SHORT[name] + ' p99':>10}{'p50 x':>7}{'p99 x':>7}"
            print(header)
            stats = {name: summarize(results[rate, name]) for name in contenders}
            for kind in (*KINDS, "all"):
                b50, b99 = bare_stats[kind]
                line = f"{kind:<7}{ms(b50):>9}{ms(b99):>9}"
                for name in contenders:
                    o50, o99 = stats[name][kind]
                    line += f"{ms(o50):>10}{ms(o99):>10}{o50 / b50:7.2f}{o99 / b99:7.2f}"
                print(line)
            cpu_line = "  ".join(f"{name} {cpu_ms[rate, name] / max(1, len(results[rate, name])):.1f} ms" for name in names)
            print(f"server CPU per request (post-ack work and deliveries included): {cpu_line}")
            for name in contenders:
                if name == "bare-ack-first":
                    continue
                ratio = stats[name]["all"][1] / bare_stats["all"][1]
                verdicts.append(ratio <= 1.5)
                print(f"{name} p99 / bare p99 = {ratio:.2f} (target <= 1.5): {'PASS' if ratio <= 1.5 else 'FAIL'}; "
                      f"against the ack-first bare app: {stats[name]['all'][1] / stats['bare-ack-first']['all'][1]:.2f}")
            if args.candidate:
                print(f"candidate p99 / oppbot p99 = {stats['candidate']['all'][1] / stats['oppbot']['all'][1]:.2f}, "
                      f"p50 {stats['candidate']['all'][0] / stats['oppbot']['all'][0]:.2f}")
            print()
        errors = sum(1 for values in results.values() for r in values if r.error)
        for name in names:
            if not name.startswith("bare"):
                peak = rss.peak[name] / 2**20
                print(f"{name} peak RSS {peak:.0f} MB (target < 200 MB): {'PASS' if peak < 200 else 'FAIL'}")
        print(f"bare peak RSS {rss.peak['bare'] / 2**20:.0f} MB")
        print(f"HTTP errors: {errors}; fake Slack saw {len(fake._calls)} calls; total {time.monotonic() - started:.0f}s")
        return 0 if errors == 0 else 1
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        for process in processes.values():
            stop_process(process)
        fake.stop()
        if args.db == "pg":
            drop_pg_database(db_name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
