"""Digest queries."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlmodel import Session

from storage.models import (
    Delivery,
)


class DigestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def last_digest_periods(self, team_id: str) -> dict[int, datetime]:
        """Each sales team's latest scheduled digest period, read from the dedupe keys, in one query.

        Keys are "digest:<team>:scheduled:<epoch seconds>", ten digits until the year 2286, so the
        greatest key is the latest period.
        """
        rows = self.session.execute(
            select(Delivery.subject_id, func.max(Delivery.dedupe_key))
            .where(Delivery.team_id == team_id, Delivery.kind == "digest", Delivery.dedupe_key.like("digest:%:scheduled:%"))
            .group_by(Delivery.subject_id)
        )
        return {subject: datetime.fromtimestamp(int(key.rsplit(":", 1)[1]), tz=timezone.utc) for subject, key in rows}
