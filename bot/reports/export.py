"""CSV export of opportunities with their stage history, streamed in batches.

Made to open in Excel as it is: UTF-8 with a byte order mark (Excel reads a CSV without one in the
system's ANSI code page, which garbles Chinese; `bom:no` on `/opp export` leaves it out), the headers in
the reader's language, owners by name with their Slack id in a column of its own, and every time in
the workspace's time zone to the second ("2026-11-30 20:00:00"), the zone named once in each time
column's header ("created_at (Asia/Shanghai)"), the stage history's times likewise (who made each change
by Slack id).
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import IO
from zoneinfo import ZoneInfo

from bot.domain.money import Rates
from bot.domain.normalize import for_parsing
from bot.domain.stages import resolve_listed_stage, resolve_pipeline, resolve_stage
from bot.domain.timezones import zone
from bot.domain.values import LOST, N_, OPEN, STATUSES, TAG_CHOICES, Actor, Forbidden, Invalid, Pipeline, Pipelines
from bot.i18n import ENGLISH, Translator
from storage.db import UnitOfWorkFactory

# The columns, each with its header (a catalogue entry: the English header is the column's name).
HEADERS = {
    "id": N_("id"), "name": N_("name"), "customer": N_("customer"), "amount": N_("amount"), "currency": N_("currency"),
    "amount_in_workspace_currency": N_("amount_in_workspace_currency"), "status": N_("status"), "stage": N_("stage"),
    "owner": N_("owner"), "owner_id": N_("owner_id"), "created_at": N_("created_at"), "updated_at": N_("updated_at"),
    "stage_entered_at": N_("stage_entered_at"), "expected_close": N_("expected_close"), "closed_at": N_("closed_at"),
    "lost_reason": N_("lost_reason"), "industry": N_("industry"), "region": N_("region"), "company_size": N_("company_size"),
    "source": N_("source"), "found": N_("found"), "reach": N_("reach"), "visibility": N_("visibility"),
    "change_kind": N_("change_kind"), "next_step": N_("next_step"), "pipeline": N_("pipeline"), "history": N_("history"),
}
COLUMNS = list(HEADERS)
TIMED = ("created_at", "updated_at", "stage_entered_at", "closed_at", "history")  # their header names the time zone
STATUS_WORDS = {OPEN: N_("open"), "won": N_("won"), LOST: N_("lost")}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BOM = "\ufeff"
BATCH = 500
# The one list of `/opp export` filters (key:value); `bom:no` is a flag: plain UTF-8, no byte order mark.
# `pipeline:<name>|all` (the grammar reads it first): the team's pipeline unless named; `all` every pipeline.
EXPORT_FILTERS = ("pipeline", "status", "stage", "owner", "industry", "region", "since", "bom")
ALL_PIPELINES = ("all", "全部", "所有")  # `pipeline:all`
SPOOL_IN_MEMORY = 4 * 1024 * 1024  # bytes; a larger export goes on to disk


@dataclass(frozen=True)
class ExportFilter:
    status: str | None = None
    stage_id: int | None = None
    owner_ids: tuple[str, ...] | None = None  # None: everyone the reader may see (the whole workspace for an admin)
    industry: str | None = None
    region: str | None = None
    since: datetime | None = None
    bom: bool = True  # UTF-8 with a byte order mark, as Excel needs it to read UTF-8
    pipeline_id: int | None = None  # the deals now in this pipeline; None: every pipeline


def filter_payload(wanted: ExportFilter) -> dict:
    """The filter as an outbox row's payload (JSON)."""
    return {"status": wanted.status, "stage_id": wanted.stage_id, "owner_ids": list(wanted.owner_ids) if wanted.owner_ids is not None else None,
            "industry": wanted.industry, "region": wanted.region, "since": wanted.since.isoformat() if wanted.since else None,
            "bom": wanted.bom, "pipeline_id": wanted.pipeline_id}


def filter_of(payload: dict) -> ExportFilter:
    owners = payload.get("owner_ids")
    since = payload.get("since")
    return ExportFilter(status=payload.get("status"), stage_id=payload.get("stage_id"), owner_ids=tuple(owners) if owners is not None else None,
                        industry=payload.get("industry"), region=payload.get("region"), since=datetime.fromisoformat(since) if since else None,
                        bom=payload.get("bom", True), pipeline_id=payload.get("pipeline_id"))  # none recorded (older rows): every pipeline


def build_filter(actor: Actor, pairs: tuple[tuple[str, str], ...], stages: Pipeline | Pipelines, home: Pipeline | None = None) -> ExportFilter:
    """Turn `/opp export key:value …` into a filter, limited to what the actor may see: the deals of `home` (the
    reader's team's pipeline) unless `pipeline:<name>` names another or `pipeline:all` asks for every one; `stage:`
    is a stage of the chosen pipeline (with `all`, of the home pipeline first, else of another: `renewals:quote`)."""
    pipelines = stages if isinstance(stages, Pipelines) else Pipelines((stages,))
    home = home or (stages if isinstance(stages, Pipeline) else pipelines.default)
    named = dict(pairs).get("pipeline")
    chosen: Pipeline | None = home
    if named is not None:
        chosen = None if for_parsing(named).strip().casefold() in ALL_PIPELINES else resolve_pipeline(named, pipelines.all)
    values: dict = {"pipeline_id": chosen.id if chosen is not None else None}
    for key, value in pairs:
        if key == "pipeline":
            continue
        if key == "status":
            if value.lower() not in STATUSES:
                raise Invalid(N_("status: is open, won or lost."))
            values["status"] = value.lower()
        elif key == "stage":
            stage = value.replace("_", " ")
            values["stage_id"] = (resolve_stage(stage, chosen) if chosen is not None else resolve_listed_stage(stage, pipelines, home)).id
        elif key == "owner":
            values["owner_ids"] = (value,)
        elif key in ("industry", "region"):
            values[key] = value.replace("_", " ")
        elif key == "since":
            try:
                since = datetime.fromisoformat(value)
            except ValueError:
                raise Invalid(N_("since: is a date like 2026-01-01.")) from None
            values["since"] = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        elif key == "bom":
            if value.lower() not in ("yes", "no"):
                raise Invalid(N_("bom: is yes (for Excel, the default) or no (plain UTF-8)."))
            values["bom"] = value.lower() == "yes"
    visible = None if actor.is_admin else tuple(sorted({actor.user_id, *actor.managed_user_ids}))
    wanted = values.get("owner_ids")
    if visible is not None:
        if wanted and not set(wanted) <= set(visible):
            raise Forbidden(N_("You can export only your own opportunities and your team's."))
        values["owner_ids"] = wanted or visible
    return ExportFilter(**values)


@dataclass
class ExportFile:
    """A CSV written to a temporary file (spooled in memory while small) and how many opportunities it holds."""

    file: IO[bytes]
    rows: int

    def close(self) -> None:
        self.file.close()


def converted(amount: Decimal | None, currency: str, rates: Rates) -> str:
    """The amount in the workspace currency with its exchange rate, to the cent; empty without an amount or a rate."""
    rate = rates.rate_of(currency)
    if amount is None or rate is None:
        return ""
    return str(rates.total({currency: amount}).amount)


def headers(tz_name: str, t: Translator) -> list[str]:
    """The header row in t's language, the time zone named in each time column's header."""
    return [t("{column} ({zone})", column=t(HEADERS[c]), zone=tz_name) if c in TIMED else t(HEADERS[c]) for c in COLUMNS]


def _time(moment: datetime | None, tz: ZoneInfo) -> str:
    """A stored time (UTC) in the workspace's zone, to the second: "2026-11-30 20:00:00"; "" for none."""
    if moment is None:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(tz).strftime(TIME_FORMAT)


class _Names:
    """Slack users by name (the cached profile, Member.name), falling back to the id; each looked up once per export."""

    def __init__(self, team_id: str) -> None:
        self.team_id = team_id
        self.known: dict[str, str] = {}

    def learn(self, uow, user_ids: set[str]) -> None:
        for user_id in user_ids - self.known.keys():
            member = uow.workspaces.member(self.team_id, user_id) if user_id else None
            self.known[user_id] = (member.name if member is not None and member.name else user_id)

    def __getitem__(self, user_id: str) -> str:
        return self.known.get(user_id, user_id)


def write_csv(uow_factory: UnitOfWorkFactory, team_id: str, wanted: ExportFilter, stages: Pipeline | Pipelines, *, t: Translator) -> ExportFile:
    """Write the CSV a batch of opportunities at a time, so a large export never sits in memory whole;
    in t's language (the headers, statuses, tags and the history's words). Stages are named across every
    pipeline (a deal's history may have visits in another), and each deal's pipeline has its column."""
    pipelines = stages if isinstance(stages, Pipelines) else Pipelines((stages,))
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - it outlives this call: ExportFile.close closes it
    text = io.TextIOWrapper(file, encoding="utf-8", newline="")
    with uow_factory() as uow:
        workspace = uow.workspaces.view(team_id)
    rates = workspace.rates if workspace else Rates("USD")
    tz_name = workspace.timezone if workspace else "UTC"
    tz = zone(tz_name)
    english = t.language == ENGLISH
    if wanted.bom:
        text.write(BOM)
    writer = csv.writer(text)
    writer.writerow(headers(tz_name, t))
    names = _Names(team_id)

    def status(value: str) -> str:
        return value if english or value not in STATUS_WORDS else t(STATUS_WORDS[value])

    def tag(column: str, value: str | None) -> str:
        if not value:
            return ""
        label = TAG_CHOICES[column].get(value)
        return value if english or label is None else t(label)

    def step(c) -> str:
        source = pipelines.name_of(c.from_stage_id) if c.from_status else t("created")
        if c.from_status not in (None, OPEN):
            source = t("{stage} ({status})", stage=source, status=status(c.from_status))
        target = status(c.to_status) if c.to_status != OPEN else pipelines.name_of(c.to_stage_id)
        if c.to_status == LOST and c.lost_reason:
            target = t("{status} ({reason})", status=target, reason=c.lost_reason)
        # who made the change by Slack id: stable whatever the profile cache holds (the owner's name has its column)
        return t("{at} {source} -> {target} by {who}", at=_time(c.changed_at, tz), source=source, target=target, who=c.changed_by)

    rows = 0
    after_id = 0
    while True:
        with uow_factory() as uow:
            batch = uow.reports.export_batch(team_id, after_id=after_id, limit=BATCH, status=wanted.status, stage_id=wanted.stage_id,
                                             owner_ids=wanted.owner_ids, industry=wanted.industry, region=wanted.region, since=wanted.since,
                                             pipeline_id=wanted.pipeline_id)
            if not batch:
                break
            changes = uow.reports.history_of_many(team_id, [o.id for o in batch if o.id is not None])
            names.learn(uow, {o.owner_id for o in batch})
        for opp in batch:
            steps = "; ".join(step(c) for c in changes.get(opp.id or 0, []))
            writer.writerow([
                f"OPP-{opp.number}", opp.name, opp.customer, opp.amount if opp.amount is not None else "", opp.currency,
                converted(opp.amount, opp.currency, rates), status(opp.status),
                pipelines.name_of(opp.stage_id), names[opp.owner_id], opp.owner_id,
                _time(opp.created_at, tz), _time(opp.updated_at, tz), _time(opp.stage_entered_at, tz),
                opp.close_date.isoformat() if opp.close_date else "", _time(opp.closed_at, tz), opp.lost_reason or "",
                opp.industry or "", opp.region or "", opp.company_size or "", opp.source or "", tag("found", opp.found),
                tag("reach", opp.reach), tag("visibility", opp.visibility), tag("change_kind", opp.change_kind), opp.next_step or "",
                pipelines.of_stage(opp.stage_id).name, steps,
            ])
            rows += 1
        after_id = batch[-1].id or 0
    text.flush()
    text.detach()  # the file stays open for the upload; the wrapper is done with it
    file.seek(0)
    return ExportFile(file, rows)
