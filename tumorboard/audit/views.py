"""Browsing the audit log (QM and admin)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request

from tumorboard.audit.display import field_label, show
from tumorboard.audit.services import AuditFilter, list_events
from tumorboard.audit.tags import SUBJECT_LABELS, subject_label, tag_label
from tumorboard.auth.permissions import can_read_audit
from tumorboard.clock import BERLIN
from tumorboard.web.request_session import db
from tumorboard.web.security import requires

bp = Blueprint("audit", __name__)
PAGE_SIZE = 50


def _day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.route("/audit")
@requires(can_read_audit)
def log() -> tuple[str, int]:
    args = request.args
    since, until = _day(args.get("since")), _day(args.get("until"))
    bad_date = bool(args.get("since") and since is None) or bool(args.get("until") and until is None)
    f = AuditFilter(
        tag_prefix=(args.get("tag") or "").strip()[:120] or None,
        actor=(args.get("actor") or "").strip()[:120] or None,
        subject_type=(args.get("subject_type") or "").strip()[:60] or None,
        subject_id=(args.get("subject_id") or "").strip()[:60] or None,
        since=dt.datetime.combine(since, dt.time(), BERLIN) if since else None,
        until=dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), BERLIN) if until else None,
    )
    page = min(max(1, request.args.get("page", 1, type=int) or 1), 10**6)  # a huge page overflows the OFFSET
    events, total = list_events(db(), f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "audit/log.html",
        events=events,
        total=total,
        page=page,
        pages=pages,
        filters=args,
        bad_date=bad_date,
        tag_label=tag_label,
        subject_label=subject_label,
        show=show,
        field_label=field_label,
        subject_types=sorted(SUBJECT_LABELS.items(), key=lambda kv: kv[1]),
    ), 422 if bad_date else 200
