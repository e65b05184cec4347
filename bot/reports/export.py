"""CSV export of opportunities with their stage history, streamed in batches."""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import IO

from bot.domain.money import Rates
from bot.domain.stages import resolve_stage
from bot.domain.values import LOST, OPEN, STATUSES, Actor, Forbidden, Invalid, StageModel
from storage.db import UnitOfWorkFactory

COLUMNS = ["id", "name", "customer", "amount", "currency", "amount_in_workspace_currency", "status", "stage", "owner", "created_at", "updated_at", "stage_entered_at",
           "expected_close", "closed_at", "lost_reason", "industry", "region", "company_size", "source", "found", "reach", "visibility",
           "change_kind", "next_step", "history"]
BATCH = 500
# The one list of `/opp export` filters (key:value).
EXPORT_FILTERS = ("status", "stage", "owner", "industry", "region", "since")
SPOOL_IN_MEMORY = 4 * 1024 * 1024  # bytes; a larger export goes on to disk


@dataclass(frozen=True)
class ExportFilter:
    status: str | None = None
    stage_id: int | None = None
    owner_ids: tuple[str, ...] | None = None  # None: everyone the reader may see (the whole workspace for an admin)
    industry: str | None = None
    region: str | None = None
    since: datetime | None = None


def filter_payload(wanted: ExportFilter) -> dict:
    """The filter as an outbox row's payload (JSON)."""
    return {"status": wanted.status, "stage_id": wanted.stage_id, "owner_ids": list(wanted.owner_ids) if wanted.owner_ids is not None else None,
            "industry": wanted.industry, "region": wanted.region, "since": wanted.since.isoformat() if wanted.since else None}


def filter_of(payload: dict) -> ExportFilter:
    owners = payload.get("owner_ids")
    since = payload.get("since")
    return ExportFilter(status=payload.get("status"), stage_id=payload.get("stage_id"), owner_ids=tuple(owners) if owners is not None else None,
                        industry=payload.get("industry"), region=payload.get("region"), since=datetime.fromisoformat(since) if since else None)


def build_filter(actor: Actor, pairs: tuple[tuple[str, str], ...], stages: StageModel) -> ExportFilter:
    """Turn `/opp export key:value …` into a filter, limited to what the actor may see."""
    values: dict = {}
    for key, value in pairs:
        if key == "status":
            if value.lower() not in STATUSES:
                raise Invalid("status: is open, won or lost.")
            values["status"] = value.lower()
        elif key == "stage":
            values["stage_id"] = resolve_stage(value.replace("_", " "), stages).id
        elif key == "owner":
            values["owner_ids"] = (value,)
        elif key in ("industry", "region"):
            values[key] = value.replace("_", " ")
        elif key == "since":
            try:
                since = datetime.fromisoformat(value)
            except ValueError:
                raise Invalid("since: is a date like 2026-01-01.") from None
            values["since"] = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    visible = None if actor.is_admin else tuple(sorted({actor.user_id, *actor.managed_user_ids}))
    wanted = values.get("owner_ids")
    if visible is not None:
        if wanted and not set(wanted) <= set(visible):
            raise Forbidden("You can export only your own opportunities and your team's.")
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


def write_csv(uow_factory: UnitOfWorkFactory, team_id: str, wanted: ExportFilter, stages: StageModel) -> ExportFile:
    """Write the CSV a batch of opportunities at a time, so a large export never sits in memory whole."""
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - it outlives this call: ExportFile.close closes it
    text = io.TextIOWrapper(file, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    rows = 0
    after_id = 0
    with uow_factory() as uow:
        workspace = uow.workspaces.view(team_id)
    rates = workspace.rates if workspace else Rates("USD")
    while True:
        with uow_factory() as uow:
            batch = uow.reports.export_batch(team_id, after_id=after_id, limit=BATCH, status=wanted.status, stage_id=wanted.stage_id,
                                             owner_ids=wanted.owner_ids, industry=wanted.industry, region=wanted.region, since=wanted.since)
            if not batch:
                break
            changes = uow.reports.history_of_many(team_id, [o.id for o in batch if o.id is not None])
        for opp in batch:
            steps = "; ".join(
                f"{c.changed_at:%Y-%m-%dT%H:%MZ} {stages.name_of(c.from_stage_id) if c.from_status else 'created'}"
                f"{'' if c.from_status in (None, OPEN) else ' (' + c.from_status + ')'} -> "
                f"{c.to_status if c.to_status != OPEN else stages.name_of(c.to_stage_id)}"
                f"{' (' + c.lost_reason + ')' if c.to_status == LOST and c.lost_reason else ''} by {c.changed_by}"
                for c in changes.get(opp.id or 0, []))
            writer.writerow([
                f"OPP-{opp.number}", opp.name, opp.customer, opp.amount if opp.amount is not None else "", opp.currency,
                converted(opp.amount, opp.currency, rates), opp.status,
                stages.name_of(opp.stage_id), opp.owner_id, opp.created_at.isoformat(), opp.updated_at.isoformat(), opp.stage_entered_at.isoformat(),
                opp.close_date.isoformat() if opp.close_date else "", opp.closed_at.isoformat() if opp.closed_at else "", opp.lost_reason or "",
                opp.industry or "", opp.region or "", opp.company_size or "", opp.source or "", opp.found or "", opp.reach or "",
                opp.visibility or "", opp.change_kind or "", opp.next_step or "", steps,
            ])
            rows += 1
        after_id = batch[-1].id or 0
    text.flush()
    text.detach()  # the file stays open for the upload; the wrapper is done with it
    file.seek(0)
    return ExportFile(file, rows)
